"""PEP 517 backend that builds durable-rules 2.0.28 from the registry's sdist, on Python 3.11-3.13.

durable-rules 2.0.28 is its last release (2020) and ships as source only. Its C extension calls
PyEval_CallObject, which Python 3.13 removed: depending on the compiler, the build fails or the
module fails to import. PyObject_CallObject is the same call (a tuple of arguments, no keywords)
on every Python 3, so a preprocessor define is the whole fix. durable-rules' setup.py overwrites
CFLAGS but not CPPFLAGS, which setuptools adds to every compile: the define goes there.

The backend fails in one clear paragraph (no traceback) when a C compiler or the Python headers
are missing, when the code does not compile, or when the built module does not load: a later
Python that breaks durable-rules again stops the install, not a diagnosis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import NoReturn

REQUIREMENT = "durable-rules==2.0.28"
# The sha256 PyPI lists for durable_rules-2.0.28.tar.gz: the sdist this define was measured on.
SDIST_SHA256 = "053b26f5e48d312d4fa27995243f954671be6eece477f150c059c364eb4d7d61"
DEFINE = "-DPyEval_CallObject=PyObject_CallObject"
SUPPORTED = "Python 3.11, 3.12 and 3.13"

# Loads the built module and fires one rule, with the engine's background timers off (as the
# adapter in assistant/engine.py runs it).
SMOKE_TEST = """
from durable import engine

fired = []

class Host(engine.Host):
    def _run(self):
        return

    def get_action(self, name):
        return lambda context: fired.append(name)

host = Host()
host.set_rulesets({"smoke": {"r": {"all": [{"m": {"kind": "x"}}], "run": "r"}}})
host.assert_fact("smoke", {"kind": "x", "sid": "s", "id": "1"})
assert len(fired) == 1, fired
"""


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, object] | None = None,
    metadata_directory: str | None = None,
) -> str:
    require_compiler()
    with tempfile.TemporaryDirectory(prefix="durable-build-") as scratch:
        work = Path(scratch)
        source = _unpack(_download(work), work / "source")
        wheel = _compile(source, work / "dist")
        _check_loads(wheel, work / "smoke")
        target = Path(wheel_directory) / wheel.name
        shutil.move(wheel, target)
    return target.name


def build_sdist(sdist_directory: str, config_settings: dict[str, object] | None = None) -> str:
    _fail("this folder only builds wheels; the durable-rules sdist itself is on PyPI.")


def require_compiler() -> None:
    """Stop before downloading anything when the build cannot work, naming what to install."""
    if sys.platform == "win32":  # setuptools finds MSVC itself and says so when it is missing
        return
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    missing = []
    if shutil.which(compiler) is None:
        missing.append(f"a C compiler ({compiler!r} was not found)")
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    if not headers.is_file():
        missing.append(f"the Python headers ({headers} was not found)")
    if missing:
        _fail(
            f"durable-rules (the rules engine) is published as source only and needs "
            f"{' and '.join(missing)}. Install what your system needs, then run the same "
            "command again:\n"
            "  Debian/Ubuntu: sudo apt install gcc python3-dev\n"
            "  Fedora/RHEL:   sudo dnf install gcc python3-devel\n"
            "  macOS:         xcode-select --install"
        )


def _download(work: Path) -> Path:
    pinned = work / "requirement.txt"
    pinned.write_text(f"{REQUIREMENT} --hash=sha256:{SDIST_SHA256}\n", encoding="utf-8")
    dest = work / "download"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    # The sdist only: its metadata comes from the setuptools of this build environment.
    command += ["--no-binary", ":all:", "--no-build-isolation", "--require-hashes"]
    command += ["--requirement", str(pinned), "--dest", str(dest)]
    if subprocess.run(command, env=_child_env(), check=False).returncode != 0:
        _fail(f"could not download the {REQUIREMENT} sdist (pip's message above).")
    (sdist,) = dest.glob("*.tar.gz")
    return sdist


def _unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later; Debian 12 has 3.11.2
            archive.extractall(into, filter="data")
        else:  # the archive's hash was checked by pip already
            archive.extractall(into)
    (source,) = (path for path in into.iterdir() if (path / "setup.py").is_file())
    return source


def _compile(source: Path, dist: Path) -> Path:
    env = _child_env(CPPFLAGS=f"{os.environ.get('CPPFLAGS', '')} {DEFINE}".strip())
    build = (
        "import sys; from setuptools.build_meta import __legacy__ as backend; "
        "backend.build_wheel(sys.argv[1])"
    )
    done = subprocess.run([sys.executable, "-c", build, str(dist)], cwd=source, env=env)
    if done.returncode != 0:
        _fail(
            f"{REQUIREMENT} did not compile on Python {_python()} (compiler output above). "
            f"order-assistant supports {SUPPORTED}."
        )
    (wheel,) = dist.glob("*.whl")
    return wheel


def _check_loads(wheel: Path, into: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(into)
    env = _child_env(PYTHONPATH=str(into))
    done = subprocess.run(
        [sys.executable, "-c", SMOKE_TEST], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        _fail(
            f"{REQUIREMENT} compiled but does not run on Python {_python()} ({last}); "
            f"order-assistant supports {SUPPORTED}."
        )


def _child_env(**extra: str) -> dict[str, str]:
    """This environment for our own subprocesses, without the variables pip set for this hook.

    The pip that runs this backend tells its hook process where the backend lives through
    variables (PEP517_BACKEND_PATH, later _PYPROJECT_HOOKS_BACKEND_PATH[_JSON]); inherited by
    the pip we run, they would send its own build hooks looking for setuptools in this folder.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PEP517_", "_PYPROJECT_HOOKS_"))
    }
    return {**env, **extra}


def _python() -> str:
    return ".".join(map(str, sys.version_info[:3]))


def _fail(message: str) -> NoReturn:
    # pip shows a failed hook's output under "Building wheel for durable-rules": one clear
    # paragraph there reads better than a traceback from inside this backend.
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)
