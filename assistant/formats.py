"""Output formats: how each command's result reaches standard output.

One small interface, one class per format (pip-audit's `_format/interface.py` is the model): a
command builds its result, picks the format the user asked for with `select(json_output)` and
calls the one method for its result. Adding a format is one new class; the JSON documents (the
contract of PRODUCT.md §6) are built here and nowhere else. Triage streams its orders, so its
formats (JSON, CSV and the text summary) are `report.TriageWriter`.

Renderers are imported inside the methods: `--json` never loads rich, and the CLI starts fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from assistant.fixplan import FixResult, Plan, Reverified
    from assistant.models import Diagnosis, VerifyReport
    from assistant.playbook import Playbook
    from assistant.rulesets import RuleBook
    from assistant.sessions import AuditEntry, Session


@dataclass(frozen=True)
class PlanOutcome:
    """What `plan apply` did: the result document (also saved beside the plan) and the parts
    the text report lists."""

    document: dict[str, Any]
    results: Sequence[FixResult]
    reverified: Reverified | None
    applied: bool


class OutputFormat(Protocol):
    """The results a command prints on standard output, one method each."""

    def diagnosis(self, diagnosis: Diagnosis) -> None: ...

    def verify(self, report: VerifyReport) -> None: ...

    def rules(self, rulebook: RuleBook) -> None: ...

    def playbooks(self, playbooks: Mapping[str, Playbook]) -> None: ...

    def sessions(self, sessions: Sequence[Session]) -> None: ...

    def session(self, session: Session, audit: Sequence[AuditEntry]) -> None: ...

    def plan(self, plan: Plan) -> None: ...

    def plan_outcome(self, outcome: PlanOutcome) -> None: ...


def select(json_output: bool) -> OutputFormat:
    """The format the command line asked for: JSON with `--json`, else text for a terminal."""
    return JsonFormat() if json_output else TextFormat()


class JsonFormat:
    """One JSON document per command (schema_version 1 where the contract has it)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        """Every document goes through here (one seam for tests)."""
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(text + "\n")

    def _model(self, model: BaseModel) -> None:
        self.write(model.model_dump_json(indent=2))

    def _document(self, document: Mapping[str, Any]) -> None:
        self.write(json.dumps(document, indent=2))

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        self._model(diagnosis)

    def verify(self, report: VerifyReport) -> None:
        self._model(report)

    def rules(self, rulebook: RuleBook) -> None:
        self._document(rules_document(rulebook))

    def playbooks(self, playbooks: Mapping[str, Playbook]) -> None:
        self._document(playbooks_document(playbooks))

    def sessions(self, sessions: Sequence[Session]) -> None:
        from assistant.sessions import summarise

        self._document({"sessions": [summarise(s) for s in sessions]})

    def session(self, session: Session, audit: Sequence[AuditEntry]) -> None:
        self._document(
            {
                **session.model_dump(mode="json"),
                "audit": [entry.model_dump(mode="json") for entry in audit],
            }
        )

    def plan(self, plan: Plan) -> None:
        self._model(plan)

    def plan_outcome(self, outcome: PlanOutcome) -> None:
        self._document(outcome.document)


def rules_document(rulebook: RuleBook) -> dict[str, Any]:
    """`rules list --json`: each error type with its patterns and the rules that conclude it."""
    return {
        "errors": [
            {
                "code": error.code,
                "title": error.title,
                "patterns": [p.pattern for p in error.patterns],
                "rules": [r.name for r in rulebook.rules_for(error.code)],
            }
            for error in rulebook.errors.values()
        ]
    }


def playbooks_document(playbooks: Mapping[str, Playbook]) -> dict[str, Any]:
    """`playbooks list --json`: each playbook, by id."""
    return {
        "playbooks": [
            {
                "id": p.id,
                "title": p.title,
                "findings": list(p.findings),
                "fixes": p.fixes,
                "steps": len(p.steps),
            }
            for p in sorted(playbooks.values(), key=lambda p: p.id)
        ]
    }


class TextFormat:
    """Tables and panels (rich) for a person at a terminal; plain when piped."""

    def __init__(self, console: Callable[[], Console] | None = None) -> None:
        self._make_console = console or _stdout_console

    def diagnosis(self, diagnosis: Diagnosis) -> None:
        from assistant.report import render_diagnosis

        render_diagnosis(self._make_console(), diagnosis)

    def verify(self, report: VerifyReport) -> None:
        from assistant.report import render_verify

        render_verify(self._make_console(), report)

    def rules(self, rulebook: RuleBook) -> None:
        from assistant.report import render_rules_list

        render_rules_list(self._make_console(), rulebook)

    def rule(self, rulebook: RuleBook, code: str) -> None:
        """`rules show` (text only: it has no --json)."""
        from assistant.report import render_rules_show

        render_rules_show(self._make_console(), rulebook, code)

    def playbooks(self, playbooks: Mapping[str, Playbook]) -> None:
        from assistant.report import render_playbooks_list

        render_playbooks_list(self._make_console(), playbooks)

    def playbook(self, playbook: Playbook) -> None:
        """`playbooks show` (text only: it has no --json)."""
        from assistant.report import render_playbook_show

        render_playbook_show(self._make_console(), playbook)

    def sessions(self, sessions: Sequence[Session]) -> None:
        from assistant.guide_view import render_sessions_list

        render_sessions_list(self._make_console(), sessions)

    def session(self, session: Session, audit: Sequence[AuditEntry]) -> None:
        from assistant.guide_view import render_session

        render_session(self._make_console(), session, audit)

    def plan(self, plan: Plan) -> None:
        from assistant.plan_view import render_plan

        render_plan(self._make_console(), plan)

    def plan_outcome(self, outcome: PlanOutcome) -> None:
        from assistant.plan_view import render_reverified, render_writes

        console = self._make_console()
        render_writes(console, outcome.results, applied=outcome.applied)
        if outcome.reverified is not None:
            render_reverified(console, outcome.reverified)

    def line(self, text: str) -> None:
        """A one-line verdict (`rules validate`, `playbooks validate`)."""
        self._make_console().print(text)


def _stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)
