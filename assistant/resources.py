"""Where the built-in declarative files are, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_dir(kind: str) -> Path:
    """`rulesets` or `playbooks`: inside the package when installed from a wheel (hatch's
    force-include puts them under `_data/`), else at the top of the source checkout."""
    packaged = _PACKAGE_DIR / "_data" / kind
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / kind
