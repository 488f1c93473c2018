"""Guided sessions and the audit log, kept under the state directory.

    <state dir>/sessions/<id>.json   one file per guided session, rewritten after every step
    <state dir>/audit.jsonl          one line per API write or would-be write, appended
    <state dir>/cases/<id>-<to>.md   the case drafts of `escalate` steps

A session file is replaced atomically (written beside it, flushed to disk, then renamed over
it), so a process killed at any moment leaves either the previous step's file or the new one,
never half of one. Nothing secret is ever put in these files: the order context is the
operator's input, and every text that came from an API response is redacted by the client.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import AssistantError, UsageError
from assistant.models import OrderContext

SESSION_SCHEMA: Literal[1] = 1
STATE_DIR_VARIABLE = "ORDER_ASSISTANT_STATE_DIR"
_SESSION_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")

SessionStatus = Literal["running", "interrupted", "needs_input", "paused", "done"]
PlanStatus = Literal["pending", "active", "done", "ruled_out"]


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
        try:
            text = path.read_text(encoding="utf-8")
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
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(document)"
            raise SessionError(f"{path}: {where}: {first['msg']}") from None

    def sessions(self) -> list[Session]:
        """Every readable session, newest first; unreadable files are skipped."""
        found = []
        for path in self._session_files():
            try:
                found.append(Session.model_validate_json(path.read_text(encoding="utf-8")))
            except (OSError, ValidationError):
                continue
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    def _session_files(self) -> Iterator[Path]:
        if not self.sessions_dir.is_dir():
            return iter(())
        return (p for p in self.sessions_dir.iterdir() if _SESSION_ID.fullmatch(p.stem))

    # ---- audit log --------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        """Append one line and flush it to disk as soon as the outcome is known."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = entry.model_dump_json() + "\n"
        with self.audit_path.open("a", encoding="utf-8") as log:
            log.write(line)
            log.flush()
            os.fsync(log.fileno())

    def audit_entries(self, session_id: str | None = None) -> list[AuditEntry]:
        try:
            lines = self.audit_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entry = AuditEntry.model_validate(json.loads(line))
            except (ValueError, RecursionError, ValidationError):
                # A line cut short by a crash, or one nested too deeply to be an entry: the
                # others still count.
                continue
            if session_id is None or entry.session == session_id:
                entries.append(entry)
        return entries

    # ---- case drafts ------------------------------------------------------------------------

    def save_case(self, session_id: str, to: str, markdown: str) -> Path:
        path = self.cases_dir / f"{session_id}-{to}.md"
        self._write_atomic(path, markdown)
        return path

    # ---- files ------------------------------------------------------------------------------

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
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
