"""Output formats: how each command's result reaches standard output.

One small interface, one class per format (pip-audit's `_format/interface.py` is the model): a
command builds its result, picks the format the user asked for with `select(json_output)` and
calls the one method for its result. Adding a format is one new class; the JSON documents (the
contract of PRODUCT.md §6) are built here and nowhere else. Triage streams its orders: its
formats are sinks (`triage()`) that `report.TriageWriter` feeds as results come, with the CSV
file (`CsvTriage`) as a second sink beside standard output.

Renderers are imported inside the methods: `--json` never loads rich, and the CLI starts fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from assistant.fixplan import FixResult, Plan, Reverified
    from assistant.models import Diagnosis, Mode, VerifyReport
    from assistant.playbook import Playbook
    from assistant.rulesets import RuleBook
    from assistant.sessions import AuditEntry, Session
    from assistant.triage import Summary, Triaged


class PlanOutcome(NamedTuple):
    """What `plan apply` did: the result document (also saved beside the plan) and the parts
    the text report lists."""

    document: dict[str, Any]
    results: Sequence[FixResult]
    reverified: Reverified | None
    applied: bool


class TriageSink(Protocol):
    """Where triage results go as they come; `finish` closes the output, also after Ctrl-C."""

    def start(self, mode: Mode) -> None: ...

    def order(self, result: Triaged) -> None: ...

    def finish(self, summary: Summary, bad_rows: Sequence[Mapping[str, Any]]) -> None: ...


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

    def triage(self) -> TriageSink: ...


def select(json_output: bool) -> OutputFormat:
    """The format the command line asked for: JSON with `--json`, else text for a terminal."""
    return JsonFormat() if json_output else TextFormat()


class JsonFormat:
    """One JSON document per command (schema_version 1 where the contract has it)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def emit(self, text: str) -> None:
        """Everything this format prints goes through here (one seam for tests)."""
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(text)

    def write(self, text: str) -> None:
        self.emit(text + "\n")

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

    def triage(self) -> TriageSink:
        return _JsonTriage(self)


class _JsonTriage:
    """`triage --json`: one document streamed, each order as `diagnose --json` prints it with its
    row number first, then the bad rows and the summary."""

    def __init__(self, out: JsonFormat) -> None:
        self._out = out
        self._first = True

    def start(self, mode: Mode) -> None:
        self._out.emit(f'{{\n"schema_version": 1,\n"mode": "{mode}",\n"orders": [\n')

    def order(self, result: Triaged) -> None:
        # pydantic's serializer is far faster than dumping a dict: the order's text is reused.
        separator = "" if self._first else ",\n"
        self._out.emit(f'{separator}{{"row": {result.order.row}, {result.json()[1:]}')
        self._first = False

    def finish(self, summary: Summary, bad_rows: Sequence[Mapping[str, Any]]) -> None:
        tail = {"bad_rows": list(bad_rows), "summary": summary.as_dict()}
        self._out.emit("\n],\n" + json.dumps(tail, indent=1)[1:-1].strip() + "\n}\n")


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

    def triage(self) -> TriageSink:
        return _TextTriage(self._make_console)

    def line(self, text: str) -> None:
        """A one-line verdict (`rules validate`, `playbooks validate`)."""
        self._make_console().print(text)


class _TextTriage:
    """Triage for a person: nothing per order (progress is on stderr), the summary at the end."""

    def __init__(self, console: Callable[[], Console]) -> None:
        self._make_console = console

    def start(self, mode: Mode) -> None:
        pass

    def order(self, result: Triaged) -> None:
        pass

    def finish(self, summary: Summary, bad_rows: Sequence[Mapping[str, Any]]) -> None:
        from assistant.report import render_triage_summary

        render_triage_summary(self._make_console(), summary)


class CsvTriage:
    """`triage --csv FILE`: one row per order and finding. A cell a spreadsheet would run as a
    formula is written as text (safetext.spreadsheet_cell)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._rows: Any = None
        self._cell: Callable[[str], str] = str
        self._csv_rows: Callable[[Triaged], Iterable[Sequence[str]]] = lambda _: ()

    def start(self, mode: Mode) -> None:
        import csv

        from assistant.outfiles import open_output
        from assistant.safetext import spreadsheet_cell
        from assistant.triage import CSV_COLUMNS, csv_rows

        # Bound once: order() runs per order of a backlog.
        self._cell, self._csv_rows = spreadsheet_cell, csv_rows

        # Never through a symbolic link, even one planted after the CLI's check.
        self._file = open_output(self.path, "the CSV report")
        self._rows = csv.writer(self._file)
        self._rows.writerow(CSV_COLUMNS)

    def order(self, result: Triaged) -> None:
        cell = self._cell
        self._rows.writerows([cell(c) for c in row] for row in self._csv_rows(result))

    def finish(self, summary: Summary, bad_rows: Sequence[Mapping[str, Any]]) -> None:
        if self._file is not None:
            self._file.close()


def _stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)
