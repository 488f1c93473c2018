"""The terminal side of `guide`: rich output on stderr, prompts, case drafts on stdout.

The walk goes to stderr so that stdout carries only the case drafts (Markdown): `guide ... >
case.md` keeps a clean draft. Every text from the order context or an API is printed as plain
text, never as rich markup.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.table import Table

from assistant.errors import UsageError
from assistant.fixes import WriteRequest
from assistant.guide import (
    CAUSE_REMAINS,
    FIXED,
    RULED_OUT,
    UNCHANGED,
    AnswerBook,
    AnswerKey,
    Choices,
    InputNeeded,
    ScriptedPrompter,
    parse_choice,
)
from assistant.playbook import Playbook
from assistant.safetext import printable
from assistant.sessions import AuditEntry, PlanEntry, Session, summarise

_KIND_LABEL = {
    "instruct": "do",
    "check": "check",
    "ask": "question",
    "action": "fix",
    "verify": "verify",
    "escalate": "escalate",
}
_STATUS_STYLE = {
    "done": "green",
    "ruled_out": "dim",
    "skipped": "red",
    "active": "yellow",
    "pending": "white",
}


def _plain(text: str) -> str:
    """Data for a markup string: control characters escaped (safetext), markup escaped."""
    return escape(printable(text, limit=None))


class TerminalView:
    def __init__(self, console: Console, out: TextIO | None = None) -> None:
        self.console = console
        self.out = out or sys.stdout
        self._playbooks: Mapping[str, Playbook] = {}

    def plan(self, session: Session, playbooks: Mapping[str, Playbook]) -> None:
        self._playbooks = playbooks
        self.console.print(
            f"[bold]Guided session {_plain(session.id)}[/] for order "
            f"{_plain(session.order.order_id)} ({_plain(session.error_code)}, {session.mode})"
        )
        if not session.plan:
            self.console.print("No cause to fix was found for this order.")
            return
        self._plan_table(session, playbooks)

    def _plan_table(self, session: Session, playbooks: Mapping[str, Playbook]) -> None:
        table = Table(show_edge=False, pad_edge=False, box=None)
        table.add_column("#", justify="right")
        table.add_column("playbook")
        table.add_column("for")
        table.add_column("status")
        for number, entry in enumerate(session.plan, start=1):
            title = playbooks[entry.playbook].title if entry.playbook in playbooks else ""
            target = entry.finding + (f", SKU {entry.sku_id}" if entry.sku_id else "")
            status = entry.status.replace("_", " ")
            if entry.outcome and entry.outcome != status:
                status += f": {entry.outcome}"
            style = _STATUS_STYLE.get(entry.status, "white")
            table.add_row(
                str(number),
                _plain(title or entry.playbook),
                _plain(target),
                f"[{style}]{_plain(status)}[/]",
            )
        self.console.print(table)

    def playbook(
        self, position: int, total: int, entry: PlanEntry, title: str, summary: str
    ) -> None:
        target = f" (SKU {entry.sku_id})" if entry.sku_id else ""
        self.console.rule(f"[bold]Playbook {position} of {total}: {_plain(title)}{_plain(target)}")
        self.console.print(_plain(summary))

    def progress(self, session: Session) -> None:
        """One line before each playbook after the first: what is done, what remains."""

        def name(entry: PlanEntry) -> str:
            sku = f" (SKU {entry.sku_id})" if entry.sku_id else ""
            return f"{entry.playbook}{sku}"

        done = [
            f"{name(e)}: {e.outcome}"
            for e in session.plan
            if e.status in ("done", "ruled_out", "skipped")
        ]
        # A resumed playbook: the steps answered before the interruption.
        done += [
            f"{name(e)}: {', '.join(steps)}"
            for e in session.plan
            if e.status == "active" and (steps := _answered(session, e))
        ]
        remaining = [name(e) for e in session.plan if e.status in ("pending", "active")]
        self.console.print(
            f"\n[dim]So far:[/] {_plain('; '.join(done) or 'nothing')}. "
            f"[dim]Still to do:[/] {_plain(', '.join(remaining) or 'nothing')}."
        )

    def step(self, number: int, total: int, kind: str, title: str, body: str) -> None:
        self.console.print(
            f"\n[bold cyan]Step {number}/{total}[/] [dim]{_KIND_LABEL[kind]}[/] "
            f"[bold]{_plain(title)}[/]"
        )
        if body:
            self.console.print(_plain(body))

    def admin(self, path: str | None, link: str | None, steps: Sequence[str]) -> None:
        if path:
            self.console.print(f"  Admin: [bold]{_plain(path)}[/]")
        for number, line in enumerate(steps, start=1):
            self.console.print(f"  {number}. {_plain(line)}")
        if link:
            self.console.print(f"  Help: {_plain(link)}")

    def result(self, ok: bool | None, text: str) -> None:
        mark = {True: "[green]ok[/]", False: "[red]fail[/]", None: "[yellow]note[/]"}[ok]
        self.console.print(f"  {mark} {_plain(text)}")

    def request(self, request: WriteRequest, dry_run: bool) -> None:
        label = "[yellow]dry-run, not sent:[/]" if dry_run else "[bold]request:[/]"
        self.console.print(f"  {label} {request.method} {_plain(request.path)}")
        if request.summary:
            self.console.print(f"    {_plain(request.summary)}")
        if request.body is not None and not dry_run:
            import json

            # ensure_ascii: every character of a value from the API shows as text or \uXXXX.
            for line in json.dumps(dict(request.body), indent=2, ensure_ascii=True).splitlines():
                self.console.print(f"    {escape(line)}", soft_wrap=True)
        if dry_run:
            self.console.print("  Run with --apply to send it, or do it by hand:")

    def case(self, markdown: str, path: str) -> None:
        self.out.write(markdown if markdown.endswith("\n") else markdown + "\n")
        self.out.flush()
        self.console.print(f"  [green]case draft saved:[/] {_plain(path)}")

    def summary(self, session: Session) -> None:
        self.console.rule("[bold]Where this order stands")
        self._plan_table(session, self._playbooks)
        outcomes = {entry.outcome for entry in session.plan}
        if session.verdict_reason:
            self.console.print(
                f"After the walk, the diagnosis again: {_plain(session.verdict_reason)}"
            )
        if session.mode == "offline" and session.check_answers:
            said = "; ".join(
                f"{a.check}{f' (SKU {a.sku_id})' if a.sku_id else ''}: "
                f"{'passes' if a.passes else 'fails'}"
                for a in session.check_answers
            )
            self.console.print(
                "[dim]Offline: what the API could not observe rests on your answers:[/] "
                f"{_plain(said)}."
            )
        if session.status == "paused":
            self.console.print(
                f"Paused at a manual step. When it is done: order-assistant guide --resume "
                f"{_plain(session.id)} (with --answers FILE when there is no terminal)"
            )
        elif outcomes & CAUSE_REMAINS or session.verdict == "action_needed":
            self.console.print(
                "[red]A store-side cause remains[/]: see the steps above; when it is fixed, "
                "reprocess the order."
            )
        elif outcomes & {FIXED, UNCHANGED}:
            self.console.print(
                "Reprocess the order in Marketplace > Connections > Orders > Actions > Reprocess "
                "(first confirm it is not canceled on Amazon)."
            )
        elif session.plan and outcomes == {RULED_OUT}:
            self.console.print(
                "Your answers ruled out every cause in the plan: run `order-assistant diagnose` "
                "with VTEX credentials for the online checks, or contact VTEX support."
            )


def _answered(session: Session, entry: PlanEntry) -> list[str]:
    """The steps of one plan entry already taken, as `step: outcome`, latest per step."""
    taken: dict[str, str] = {}
    for record in session.history:
        if (record.playbook, record.sku_id) == (entry.playbook, entry.sku_id):
            taken[record.step] = record.outcome
    return [f"{step} {outcome}" for step, outcome in taken.items()]


class TerminalPrompter:
    """Answers from --answers first, then rich prompts on the terminal."""

    def __init__(self, console: Console, book: AnswerBook) -> None:
        self.console = console
        self.book = book
        self._scripted = ScriptedPrompter(book)

    def choose(
        self, key: AnswerKey, question: str, choices: Choices, default: str | None = None
    ) -> str:
        # At a terminal the operator chooses, even where --yes could take the default.
        if self.book.lookup(key) is not None:
            return self._scripted.choose(key, question, choices)
        try:
            return self._ask(question, choices)
        except EOFError:
            raise InputNeeded(
                f"standard input closed while step {key} waited for an answer"
            ) from None

    def _ask(self, question: str, choices: Choices) -> str:
        if [v for v, _ in choices] == ["yes", "no"]:
            return "yes" if Confirm.ask(_plain(question), console=self.console) else "no"
        for number, (value, label) in enumerate(choices, start=1):
            self.console.print(f"  {number}. {_plain(label)} [dim]({value})[/]")
        numbers = [str(n) for n in range(1, len(choices) + 1)]
        while True:
            answer = Prompt.ask(_plain(question), console=self.console).strip()
            if answer in numbers:
                return choices[int(answer) - 1][0]
            try:
                return parse_choice(answer, choices, "answer")
            except UsageError:
                self.console.print(f"  answer with a number from 1 to {len(choices)}")

    def maybe_choose(self, key: AnswerKey, question: str, choices: Choices) -> str | None:
        return self.choose(key, question, choices)

    def confirm(self, key: AnswerKey, question: str) -> bool:
        if self.book.lookup(key) is not None or self.book.yes:
            return self._scripted.confirm(key, question)
        return self._yes_no(key, question)

    def done(self, key: AnswerKey, question: str) -> bool | None:
        if self.book.lookup(key) is not None:
            return self._scripted.done(key, question)
        return self._yes_no(key, question)

    def _yes_no(self, key: AnswerKey, question: str) -> bool:
        try:
            return Confirm.ask(_plain(question), console=self.console)
        except EOFError:
            raise InputNeeded(
                f"standard input closed while step {key} waited for an answer"
            ) from None


def render_sessions_list(console: Console, sessions: Sequence[Session]) -> None:
    if not sessions:
        console.print("No guided sessions yet.")
        return
    # The id (copied into --resume) and the order id (searched for) stay on one line at any
    # width from 80 columns; the id starts with the creation time, so that column is left to
    # --json. The error code and the step fold instead.
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("id", "status", "order"):
        table.add_column(column, no_wrap=True, min_width=len(column))
    for column in ("error", "at"):
        table.add_column(column, overflow="fold", ratio=1)
    for session in sessions:
        row = summarise(session)
        table.add_row(
            _plain(row["id"]),
            row["status"],
            _plain(row["order_id"]),
            _plain(row["error_code"]),
            _plain(row["at"]),
        )
    console.print(table)


def render_session(console: Console, session: Session, audit: Sequence[AuditEntry]) -> None:
    console.print(f"[bold]Session {_plain(session.id)}[/] ({session.status}, {session.mode})")
    console.print(f"Order {_plain(session.order.order_id)}: {_plain(session.order.error_message)}")
    console.print(f"Started {_plain(session.created_at)}, last saved {_plain(session.updated_at)}")
    view = TerminalView(console)
    view._plan_table(session, {})
    if session.verdict_reason:
        console.print(f"After the walk, the diagnosis again: {_plain(session.verdict_reason)}")
    console.print("\n[bold]Steps[/]")
    for record in session.history:
        sku = f" SKU {record.sku_id}" if record.sku_id else ""
        detail = f": {record.detail}" if record.detail else ""
        console.print(
            f"  {_plain(record.time)} {_plain(f'{record.playbook}.{record.step}{sku}')} "
            f"[dim]{_plain(record.kind)}[/] {_plain(record.outcome)}{_plain(detail)}"
        )
    if not session.history:
        console.print("  (no step taken yet)")
    console.print("\n[bold]Audit log[/] (writes and would-be writes)")
    for entry in audit:
        detail = f": {entry.detail}" if entry.detail else ""
        console.print(
            f"  {_plain(entry.time)} {_plain(entry.method)} {_plain(entry.path)} "
            f"{_plain(entry.outcome)}{_plain(detail)}"
        )
    if not audit:
        console.print("  (none)")
    for case in session.cases:
        console.print(f"Case draft: {_plain(case)}")
    if session.status in ("interrupted", "needs_input", "paused", "running"):
        console.print(f"Resume with: order-assistant guide --resume {_plain(session.id)}")
