"""The code stays ruff-clean, formatted and mypy-strict: part of the one test command."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
    ],
    ids=lambda c: " ".join(c),
)
def test_tool_is_clean(command: tuple[str, ...]) -> None:
    if shutil.which(command[0]) is None and _run(command[0], "--version").returncode != 0:
        pytest.fail(f"{command[0]} is not installed: pip install -e '.[test]'")
    result = _run(*command)
    assert result.returncode == 0, result.stdout + result.stderr
