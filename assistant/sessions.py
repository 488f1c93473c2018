"""Guided sessions and the audit log, kept under the state directory.

    <state dir>/sessions/<id>.json   one file per guided session, rewritten after every step
    <state dir>/audit.jsonl          one line per API write or would-be write, appended
    <state dir>/cases/<id>-<to>.md   the case drafts of `escalate` steps

A session file is replaced atomically (written beside it, flushed to disk, then renamed over
it), so a process killed at any moment leaves either the previous step's file or the new one,
never half of one. One process at a time walks a session: `<id>.lock` beside it holds the pid
of the run that has it (see `SessionStore.lock`). The folders are 0700 and the files 0600 (they
hold order data), and no write goes through a symbolic link. A file that cannot be read is
reported (`SessionStore.warnings`) and skipped, so one bad file never hides the others.
Nothing secret is ever put in these files: the order context is the operator's input, and
every text that came from an API response is redacted by the client.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import AssistantError, UsageError
from assistant.models import OrderContext
from assistant.outfiles import PRIVATE_FILE, append_private, private_dir, write_atomic
from assistant.validation import first_problem

SESSION_SCHEMA: Literal[1] = 1
STATE_DIR_VARIABLE = "ORDER_ASSISTANT_STATE_DIR"
_SESSION_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")

SessionStatus = Literal["running", "interrupted", "needs_input", "paused", "done"]
# skipped: nothing was walked (no playbook of that name), so nothing is "done" for it.
PlanStatus = Literal["pending", "active", "done", "ruled_out", "skipped"]


class SessionError(AssistantError):
    """A session that cannot be found or read (exit 2)."""


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """ORDER_ASSISTANT_STATE_DIR, else the platform's user state directory."""
    env = os.environ if env is None else env
    configured = env.get(STATE_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("order-assistant", appauthor=False))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanEntry(_Model):
    """One playbook to walk, for one finding (and one SKU when the finding names one)."""

    playbook: str
    finding: str
    sku_id: str | None = None
    status: PlanStatus = "pending"
    outcome: str = ""  # how it ended: fixed, escalated, unchanged, ruled out, not fixed...


class StepRecord(_Model):
    """What happened at one step: the history that `sessions show` prints."""

    time: str
    playbook: str
    sku_id: str | None
    step: str
    kind: str
    outcome: str
    detail: str = ""


class CheckAnswer(_Model):
    """The operator's answer to a check that could not run: fed back into the rules."""

    check: str
    sku_id: str | None
    passes: bool


class Session(_Model):
    schema_version: Literal[1] = SESSION_SCHEMA
    id: str
    created_at: str
    updated_at: str
    status: SessionStatus = "running"
    order: OrderContext
    error_code: str
    mode: Literal["online", "offline"]
    plan: list[PlanEntry] = Field(default_factory=list)
    chosen: bool = False  # the plan came from --playbook, not from the diagnosis
    plan_index: int = 0
    step_id: str | None = None  # the step to run next in plan[plan_index]; None = its first
    answers: dict[str, str] = Field(default_factory=dict)
    check_answers: list[CheckAnswer] = Field(default_factory=list)
    history: list[StepRecord] = Field(default_factory=list)
    cases: list[str] = Field(default_factory=list)  # case draft files written
    # The diagnosis run again when the walk stopped: clean, action_needed or undecided, and why.
    verdict: str = ""
    verdict_reason: str = ""

    def answer_map(self) -> dict[tuple[str, str | None], bool]:
        return {(a.check, a.sku_id): a.passes for a in self.check_answers}

    def record_check_answer(self, check: str, sku_id: str | None, passes: bool) -> None:
        self.check_answers = [
            a for a in self.check_answers if (a.check, a.sku_id) != (check, sku_id)
        ] + [CheckAnswer(check=check, sku_id=sku_id, passes=passes)]


class AuditEntry(_Model):
    time: str
    session: str
    order: str
    playbook: str
    step: str
    method: str
    path: str
    outcome: str  # dry-run, written, failed, declined
    detail: str = ""


def new_session_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


class SessionStore:
    """Sessions, case drafts and the audit log under one state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sessions_dir = root / "sessions"
        self.cases_dir = root / "cases"
        self.audit_path = root / "audit.jsonl"
        # Files skipped while listing or reading (unreadable, not UTF-8, not a session or an
        # audit entry): the CLI reports them on stderr.
        self.warnings: list[str] = []

    # ---- sessions ---------------------------------------------------------------------------

    def save(self, session: Session) -> None:
        session.updated_at = now()
        self._write_atomic(
            self.sessions_dir / f"{session.id}.json", session.model_dump_json(indent=2) + "\n"
        )

    def load(self, session_id: str) -> Session:
        if not _SESSION_ID.fullmatch(session_id):
            raise UsageError(
                f"{session_id!r} is not a session id (like 20261127-142501-a1b2c3); "
                "see `order-assistant sessions list`"
            )
        path = self.sessions_dir / f"{session_id}.json"
        if path.is_symlink():  # it would be written through the link at the next step
            raise SessionError(f"{path}: is a symbolic link; a session file must be a plain file")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SessionError(
                f"{path}: cannot read the session: not UTF-8 text (byte {exc.start})"
            ) from None
        except FileNotFoundError:
            raise SessionError(
                f"no session {session_id} in {self.sessions_dir}; "
                "see `order-assistant sessions list`"
            ) from None
        except OSError as exc:
            raise SessionError(f"{path}: cannot read the session: {exc.strerror}") from None
        try:
            return Session.model_validate_json(text)
        except ValidationError as exc:
            where, problem = first_problem(exc)
            raise SessionError(f"{path}: {where}: {problem}") from None

    def sessions(self) -> list[Session]:
        """Every readable session, newest first; unreadable files are skipped."""
        found = []
        for path in self._session_files():
            if path.is_symlink():
                self.warnings.append(f"{path}: skipped: a symbolic link, not a session file")
                continue
            try:
                found.append(Session.model_validate_json(path.read_bytes().decode("utf-8")))
            except OSError as exc:
                self.warnings.append(f"{path}: skipped: cannot be read ({exc.strerror})")
            except UnicodeDecodeError:
                self.warnings.append(f"{path}: skipped: not UTF-8 text")
            except ValidationError as exc:
                where, _ = first_problem(exc)
                self.warnings.append(f"{path}: skipped: not a session ({where})")
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    def _session_files(self) -> Iterator[Path]:
        if not self.sessions_dir.is_dir():
            return iter(())
        return (
            p
            for p in self.sessions_dir.iterdir()
            if p.suffix == ".json" and _SESSION_ID.fullmatch(p.stem)
        )

    @contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        """Hold `<id>.lock` while this process walks the session, so two runs never write it
        (each would save its own history over the other's). The file holds our pid. A lock
        whose process is gone (killed, machine restarted) is taken over, and `warnings` says
        so; one whose process still runs makes this a SessionError (exit 2)."""
        private_dir(self.root)
        private_dir(self.sessions_dir)
        path = self.sessions_dir / f"{session_id}.lock"
        self._take_lock(path, session_id)
        try:
            yield
        finally:
            if _lock_owner(path) == os.getpid():
                path.unlink(missing_ok=True)

    def _take_lock(self, path: Path, session_id: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        for _ in range(2):  # the second try follows the removal of a stale lock
            try:
                descriptor = os.open(path, flags, PRIVATE_FILE)
            except FileExistsError:
                owner = _lock_owner(path)
                if owner is not None and owner != os.getpid() and _process_alive(owner):
                    raise SessionError(
                        f"session {session_id} is open in another run (process {owner}); "
                        f"wait for it to end. If no such run exists, delete {path}"
                    ) from None
                # Re-read just before removing: another run may have taken it over meanwhile.
                if _lock_owner(path) != owner:
                    continue
                path.unlink(missing_ok=True)
                self.warnings.append(
                    f"took over the lock of session {session_id} left by a run that ended "
                    f"without releasing it (process {owner if owner is not None else 'unknown'})"
                )
                continue
            except OSError as exc:
                raise SessionError(f"{path}: cannot lock the session ({exc.strerror})") from None
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid()}\n")
            return
        raise SessionError(f"session {session_id} is being opened by another run; try again")

    # ---- audit log --------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        """Append one line and flush it to disk as soon as the outcome is known."""
        private_dir(self.root)
        line = entry.model_dump_json() + "\n"
        with append_private(self.audit_path, "the audit log") as log:
            os.fchmod(log.fileno(), PRIVATE_FILE)  # a log made by an older version: 0644
            log.write(line)
            log.flush()
            os.fsync(log.fileno())

    def audit_entries(self, session_id: str | None = None) -> list[AuditEntry]:
        try:
            lines = self.audit_path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.warnings.append(f"{self.audit_path}: skipped: cannot be read ({exc.strerror})")
            return []
        entries = []
        skipped = []
        for number, line in enumerate(lines, start=1):
            try:
                entry = AuditEntry.model_validate(json.loads(line.decode("utf-8")))
            except (ValueError, RecursionError, ValidationError):
                # A line cut short by a crash, edited, not UTF-8 (a ValueError too), or nested
                # too deeply to be an entry: the others still count.
                if line.strip():
                    skipped.append(number)
                continue
            if session_id is None or entry.session == session_id:
                entries.append(entry)
        if skipped:
            shown = ", ".join(str(n) for n in skipped[:10]) + (", ..." if len(skipped) > 10 else "")
            self.warnings.append(
                f"{self.audit_path}: skipped {len(skipped)} unreadable line(s): {shown}"
            )
        return entries

    # ---- case drafts ------------------------------------------------------------------------

    def save_case(self, session_id: str, to: str, markdown: str) -> Path:
        path = self.cases_dir / f"{session_id}-{to}.md"
        self._write_atomic(path, markdown)
        return path

    # ---- files ------------------------------------------------------------------------------

    def _write_atomic(self, path: Path, text: str) -> None:
        private_dir(self.root)
        private_dir(path.parent)
        write_atomic(path, text)


def _lock_owner(path: Path) -> int | None:
    """The pid in a lock file; None if it is gone or holds no pid."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and len(text) < 10 else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def summarise(session: Session) -> dict[str, Any]:
    """The `sessions list` row."""
    current = (
        session.plan[session.plan_index].playbook if session.plan_index < len(session.plan) else ""
    )
    return {
        "id": session.id,
        "created_at": session.created_at,
        "status": session.status,
        "order_id": session.order.order_id,
        "error_code": session.error_code,
        "at": f"{current}.{session.step_id}" if current and session.step_id else current,
    }
