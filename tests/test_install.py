"""The durable-rules build (build_support/durable-rules) stops early and clearly if it cannot work.

A full build downloads and compiles durable-rules: every install does that (and so does the
wheel test in test_packaging.py); here only the checks that run before anything is fetched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

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
