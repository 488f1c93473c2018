"""The code stays ruff-clean, formatted and mypy-strict: part of the one test command."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

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


def _significant_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the lines that are code: no blank lines, no comments,
    no import statements (the same names imported in two modules are not a repetition)."""
    text = path.read_text(encoding="utf-8")
    imports = {
        number
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for number in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and number not in imports
    ]


def test_no_block_of_six_lines_is_repeated_in_the_package() -> None:
    # Issue 12: one home per piece of logic. This pins verbatim repeats; repeats of the same
    # shape (other names, strings, numbers) are found with the `duplicates` tool by hand.
    window = 6
    places: dict[tuple[str, ...], list[tuple[str, int, int]]] = {}
    for path in sorted((REPO / "assistant").rglob("*.py")):
        lines = _significant_lines(path)
        for start in range(len(lines) - window + 1):
            block = lines[start : start + window]
            name = str(path.relative_to(REPO))
            found = places.setdefault(tuple(text for _, text in block), [])
            if not any(f == name and first <= block[0][0] <= last for f, first, last in found):
                found.append((name, block[0][0], block[-1][0]))
    repeated = [found for found in places.values() if len(found) > 1]
    assert not repeated, "the same six lines in two places: " + "; ".join(
        " and ".join(f"{file}:{first}-{last}" for file, first, last in found) for found in repeated
    )
