"""Files the assistant writes for the operator (`triage --csv`, `--record`, the audit log,
case drafts, session files): refused when they would overwrite an input or go through a
symbolic link, and opened so that a link planted between the check and the write is not
followed either.

Why both: a path that names the input (`triage orders.csv --csv orders.csv`) would truncate the
export before a single row is read, and a link in a shared or state folder would let someone
else choose which file receives the write. The check runs before anything is written, so a
refused run leaves every file as it was.

`write_atomic` is the one way a whole file is replaced (sessions, case drafts, plans, their
progress, recordings): a reader or a crash never sees half of it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from assistant.errors import InputError

# 0600 for what we create: session files and the audit log hold order data; the mode is
# also kept for CSV and recordings, which go where the operator says (umask applies).
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def check_output(path: Path, inputs: Iterable[Path | None], what: str) -> None:
    """Raise InputError (exit 2) if `path` is a symbolic link or the same file as an input."""
    if path.is_symlink():
        raise InputError(
            str(path), f"is a symbolic link: {what} is never written through one; give a plain file"
        )
    for source in inputs:
        if source is not None and _same_file(path, source):
            raise InputError(str(path), f"is also an input of this run: {what} would overwrite it")


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.samefile(second)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return first.resolve() == second.resolve()


def open_output(path: Path, what: str, mode: int = 0o666) -> TextIO:
    """Open `path` for writing (created or truncated), refusing a symbolic link even if one
    appeared after `check_output`: O_NOFOLLOW makes the kernel refuse it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, mode)
    except OSError as exc:
        raise InputError(str(path), _problem(exc, what)) from None
    return os.fdopen(descriptor, "w", newline="", encoding="utf-8")


def append_private(path: Path, what: str) -> TextIO:
    """Open `path` for appending, created 0600, never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, PRIVATE_FILE)
    except OSError as exc:
        raise InputError(str(path), _problem(exc, what)) from None
    return os.fdopen(descriptor, "a", encoding="utf-8")


def private_dir(path: Path) -> None:
    """Create `path` (and its parents) 0700, or tighten an existing one to 0700 when it is
    ours; a symbolic link in its place is refused. Only folders the assistant owns by name
    (the state folder and its subfolders) come here, so tightening takes nothing from anyone."""
    if path.is_symlink():
        raise InputError(str(path), "is a symbolic link: the state folder must be a plain folder")
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        status = path.stat()
        if status.st_uid == os.getuid() and status.st_mode & 0o077:
            # mkdir's mode is cut by the umask, and an older folder may be 0755.
            path.chmod(PRIVATE_DIR)
    except OSError as exc:
        problem = f"cannot be used as the state folder ({exc.strerror})"
        raise InputError(str(path), problem) from None


def _problem(exc: OSError, what: str) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return f"is a symbolic link: {what} is never written through one; give a plain file"
    return f"cannot be written ({exc.strerror or exc})"


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash at any moment leaves the old file or the new
    one: written beside it (0600), flushed to disk, then renamed over it. A symbolic link at
    `path` is refused: the rename would replace the link, never write where it points."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise InputError(str(path), "is a symbolic link: the assistant never writes through one")
    # mkstemp creates the file 0600 with O_EXCL: it never follows a planted link.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
