"""The durable-rules build (build_support/durable-rules): stops early and clearly if it cannot
work, and builds under whichever pip runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

BACKEND = REPO / "build_support" / "durable-rules"


def _build_wheel(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # Calls the backend's hook as pip does (its own process, cwd = the folder).
    hook = "import sys, durable_build; print(durable_build.build_wheel(sys.argv[1]))"
    return subprocess.run(
        [sys.executable, "-c", hook, str(out)],
        cwd=BACKEND,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_c_compiler_stops_the_build_naming_the_packages(tmp_path: Path) -> None:
    result = _build_wheel(tmp_path, CC="no-such-cc -O2")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "needs a C compiler ('no-such-cc' was not found)" in result.stderr
    assert "sudo apt install gcc python3-dev" in result.stderr
    assert "sudo dnf install gcc python3-devel" in result.stderr
    assert list(tmp_path.iterdir()) == []  # stopped before downloading or building anything


def test_the_check_passes_with_the_compiler_this_python_was_built_with() -> None:
    # The same check, positive: the compiler and headers of this machine are found (this suite
    # could not run otherwise: durable-rules was compiled to install it).
    check = "import durable_build; durable_build.require_compiler(); print('ok')"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=BACKEND,
        env={k: v for k, v in os.environ.items() if k != "CC"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "ok\n", (compiler, result.stderr)


@pytest.mark.slow
def test_pip_builds_the_folder_into_a_durable_rules_wheel_for_this_python(tmp_path: Path) -> None:
    # Downloads the sdist (or takes it from pip's cache) and compiles it: about 15 s.
    # Newer pips tell a build hook where its backend lives through these variables; leaked into
    # the pip the backend runs, they broke its own build of the sdist (seen with pipx's pip).
    # Set here to a folder without setuptools, so that the test fails whatever pip runs it.
    decoy = str(tmp_path)
    leaked = {
        "_PYPROJECT_HOOKS_BACKEND_PATH": decoy,
        "_PYPROJECT_HOOKS_BACKEND_PATH_JSON": f'["{decoy}"]',
    }
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(out),
            str(BACKEND),
        ],
        env={**os.environ, **leaked},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("*.whl")
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert wheel.name.startswith(f"durable_rules-2.0.28-{tag}-{tag}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "durable/engine.py" in names
    assert any(name.startswith("durable_rules_engine.cpython-") for name in names)
