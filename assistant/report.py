"""Rendering for terminals (rich); `--json` needs none of this (models dump themselves).

Text from data (order ids, messages, SKU ids, VTEX answers, ruleset and playbook wording) goes
through `safe_text`/`printable` (assistant/safetext.py): control characters are escaped and it is
never interpolated into markup, so a message containing `[bold]` or an ANSI sequence prints as
itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from assistant.models import Diagnosis, Mode, VerifyReport
from assistant.rulesets import RuleBook
from assistant.safetext import printable, safe_text

if TYPE_CHECKING:
    from assistant.triage import BadRow, Summary, Triaged

_STATUS_STYLE = {"confirmed": "bold red", "reported": "red", "suspected": "yellow"}
_OUTCOME_STYLE = {"pass": "green", "fail": "bold red", "error": "magenta", "skipped": "dim"}
_OWNER_LABEL = {"store": "store", "amazon": "Amazon", "vtex_support": "VTEX support"}


def render_diagnosis(console: Console, diagnosis: Diagnosis, command: str = "diagnose") -> None:
    header = Text()
    header.append(printable(diagnosis.error.title, None), style="bold")
    header.append(f"  ({printable(diagnosis.error.code, None)})\n", style="dim")
    header.append("Order ", style="dim").append(printable(diagnosis.order_id, None))
    header.append(f"  ·  {diagnosis.mode}\n", style="dim")
    header.append("Message ", style="dim").append(printable(diagnosis.error.message, None))
    for name, value in diagnosis.error.params.items():
        header.append(f"\n{printable(name, None)} ", style="dim").append(printable(value, None))
    if diagnosis.summary:
        header.append(f"\n\n{printable(diagnosis.summary, None)}")
    border = "yellow" if diagnosis.recognised else "red"
    console.print(Panel(header, title=f"order-assistant {command}", border_style=border))

    if diagnosis.findings:
        console.print(_findings_table(diagnosis))
        _evidence(console, diagnosis)
    elif diagnosis.recognised and diagnosis.mode == "online":
        console.print(Text("No cause found: every check that ran passes.", style="green"))
    if diagnosis.checks:
        console.print(_checks_table(diagnosis))
    if diagnosis.admin_links:
        console.print(Text("Where to look in the Admin", style="bold"))
        for link in diagnosis.admin_links:
            line = Text("  • ").append(printable(link.path, None))
            if link.help:
                line.append(f"\n    {printable(link.help, None)}", style="dim")
            console.print(line)
    console.print(Text("Next steps", style="bold"))
    for number, step in enumerate(diagnosis.next_steps, start=1):
        console.print(Text(f"  {number}. ").append(printable(step, None)))


_VERDICT_STYLE = {"clean": "green", "action_needed": "red", "undecided": "yellow"}
_VERDICT_TITLE = {
    "clean": "Store side clean",
    "action_needed": "Action needed on the store side",
    "undecided": "Could not decide",
}


def render_verify(console: Console, report: VerifyReport) -> None:
    render_diagnosis(console, report, command="verify")
    body = safe_text(report.reason)
    console.print(
        Panel(
            body, title=_VERDICT_TITLE[report.verdict], border_style=_VERDICT_STYLE[report.verdict]
        )
    )


def _findings_table(diagnosis: Diagnosis) -> Table:
    table = Table(title="Findings (root-cause candidates)", title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("finding", ratio=3)
    table.add_column("SKU", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("owner", no_wrap=True)
    table.add_column("playbook", style="cyan", no_wrap=True)
    for number, finding in enumerate(diagnosis.findings, start=1):
        title = safe_text(finding.title).append(f"\n{printable(finding.code, None)}", style="dim")
        table.add_row(
            str(number),
            title,
            safe_text(finding.sku_id or "–"),
            Text(finding.status, style=_STATUS_STYLE[finding.status]),
            _OWNER_LABEL[finding.owner],
            safe_text(finding.playbook),
        )
    return table


def _evidence(console: Console, diagnosis: Diagnosis) -> None:
    console.print(Text("Evidence", style="bold"))
    for number, finding in enumerate(diagnosis.findings, start=1):
        for line in finding.evidence:
            console.print(Text(f"  {number}. ", style="dim").append(printable(line, None)))


def _checks_table(diagnosis: Diagnosis) -> Table:
    table = Table(title="Checks", title_justify="left")
    table.add_column("check")
    table.add_column("SKU")
    table.add_column("outcome")
    table.add_column("detail")
    for check in diagnosis.checks:
        table.add_row(
            safe_text(check.name),
            safe_text(check.sku_id or "–"),
            Text(check.outcome, style=_OUTCOME_STYLE[check.outcome]),
            safe_text(check.detail),
        )
    return table


def render_rules_list(console: Console, rulebook: RuleBook) -> None:
    table = Table(title="Error types", title_justify="left")
    table.add_column("code", style="cyan")
    table.add_column("title")
    table.add_column("patterns", justify="right")
    table.add_column("rules", justify="right")
    table.add_column("file", style="dim")
    for error in rulebook.errors.values():
        table.add_row(
            safe_text(error.code),
            safe_text(error.title),
            str(len(error.patterns)),
            str(len(rulebook.rules_for(error.code))),
            safe_text(_short(error.source)),
        )
    console.print(table)


def render_rules_show(console: Console, rulebook: RuleBook, code: str) -> None:
    error = rulebook.errors[code]
    body = Text()
    body.append(printable(error.title, None), style="bold")
    body.append(f"  ({printable(error.code, None)})\n", style="dim")
    if error.summary:
        body.append(printable(error.summary, None) + "\n")
    body.append("file ", style="dim").append(printable(_short(error.source), None) + "\n")
    if error.help:
        body.append("help ", style="dim").append(printable(error.help, None) + "\n")
    if error.params:
        body.append("params ", style="dim").append(printable(", ".join(error.params), None) + "\n")
    body.append("patterns (Python re, case-insensitive, on the normalised message)\n", style="bold")
    for pattern in error.patterns:
        body.append(f"  {printable(pattern.pattern, None)}\n")
    if error.checks:
        body.append("checks ", style="bold").append(printable(", ".join(error.checks), None) + "\n")
    console.print(Panel(body, title=Text(f"rules show {printable(code, None)}")))
    rules = rulebook.rules_for(code)
    if rules:
        table = Table(title="Rules", title_justify="left")
        for column in ("rule", "finding", "status", "pri", "per SKU", "owner", "playbook"):
            table.add_column(column)
        for rule in rules:
            finding = rulebook.findings[rule.finding]
            table.add_row(
                safe_text(rule.name),
                safe_text(rule.finding),
                safe_text(rule.status),
                str(rule.pri),
                "yes" if rule.per_item else "no",
                _OWNER_LABEL[finding.owner],
                safe_text(finding.playbook),
            )
        console.print(table)
    console.print(Text("Next steps", style="bold"))
    for number, step in enumerate(error.next_steps, start=1):
        console.print(Text(f"  {number}. ").append(printable(step, None)))


def _short(path: str) -> str:
    """Show ruleset files relative to their folder: absolute paths mean nothing to a reader."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


# ---- triage --------------------------------------------------------------------------------

_MAX_BAD_ROWS_SHOWN = 50
_MAX_BAD_ROWS_KEPT = 1000


class TriageWriter:
    """Streams triage results to the output formats as they come (formats.py: JSON or the text
    summary on stdout, and the CSV file), bad rows and a progress counter to stderr; the
    formats close their output when the run ends, also when it was interrupted."""

    def __init__(
        self,
        stdout: TextIO,
        errors: Console,
        summary: Summary,
        *,
        json_output: bool,
        csv_path: Path | None,
        online: bool,
    ) -> None:
        from assistant.formats import CsvTriage, JsonFormat, TextFormat, TriageSink

        self.errors = errors
        self.summary = summary
        self.mode: Mode = "online" if online else "offline"
        self._sinks: list[TriageSink] = [] if csv_path is None else [CsvTriage(csv_path)]
        self._sinks.append(JsonFormat(stdout).triage() if json_output else TextFormat().triage())
        self._bad_rows: list[dict[str, Any]] = []
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TriageWriter:
        for sink in self._sinks:
            sink.start(self.mode)
        if self.errors.is_terminal:  # no progress bar in pipes, files and CI logs
            # The file is streamed, so the total is unknown: a pulsing bar, the count, the time.
            self._progress = Progress(
                SpinnerColumn(),
                BarColumn(),
                TextColumn("{task.completed} orders"),
                TimeElapsedColumn(),
                console=self.errors,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("triage", total=None)
        return self

    def write(self, result: Triaged | BadRow) -> None:
        from assistant.triage import BadRow

        if isinstance(result, BadRow):
            self._bad_row(result)
        else:
            for sink in self._sinks:
                sink.order(result)
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)

    def _bad_row(self, bad: BadRow) -> None:
        if self.summary.bad_rows <= _MAX_BAD_ROWS_SHOWN:
            warning = Text("warning: ", style="yellow").append(printable(str(bad), None))
            self.errors.print(warning, soft_wrap=True)
        if len(self._bad_rows) < _MAX_BAD_ROWS_KEPT:
            self._bad_rows.append(
                {
                    "row": bad.row,
                    "field": bad.field,
                    "problem": bad.problem,
                    "unreadable": bad.unreadable,
                }
            )

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        hidden = self.summary.bad_rows - _MAX_BAD_ROWS_SHOWN
        if hidden > 0:
            self.errors.print(f"warning: {hidden} more bad row(s) not shown", soft_wrap=True)
        for sink in self._sinks:
            sink.finish(self.summary, self._bad_rows)


def render_triage_summary(console: Console, summary: Summary) -> None:
    status = " (interrupted: partial)" if summary.interrupted else ""
    verdicts = summary.by_verdict
    line = (
        f"{summary.orders} orders triaged{status}: {verdicts['action_needed']} with a "
        f"confirmed store-side cause, {verdicts['undecided']} undecided, {verdicts['clean']} "
        f"clean on the store side; {summary.blocked_on_store} with any store-side finding; "
        f"{summary.bad_rows} bad row(s) skipped"
    )
    if summary.unreadable_rows:
        line += f" ({summary.unreadable_rows} unreadable)"
    console.print(Text(line, style="bold"))
    for title, counts in (
        ("Orders by error", summary.by_error),
        ("Orders by finding", summary.by_finding),
    ):
        if counts:
            table = Table(title=title, title_justify="left")
            table.add_column("code", style="cyan")
            table.add_column("orders", justify="right")
            table.add_column("share", justify="right")
            for code, count in counts.most_common():
                share = f"{100 * count / summary.orders:.1f}%" if summary.orders else "–"
                table.add_row(safe_text(code), str(count), share)
            console.print(table)
    top = summary.top_skus()
    if top:
        table = Table(title="Top SKUs to fix (store side)", title_justify="left")
        for column in ("SKU", "orders blocked", "units", "findings"):
            table.add_column(
                column, justify="right" if column in {"orders blocked", "units"} else "left"
            )
        for sku_id, load in top:
            table.add_row(
                safe_text(sku_id),
                str(load.orders),
                str(load.units),
                safe_text(", ".join(sorted(load.findings))),
            )
        console.print(table)


# ---- playbooks -------------------------------------------------------------------------------

if TYPE_CHECKING:
    from collections.abc import Mapping

    from assistant.playbook import Playbook, Step

_KIND_STYLE = {
    "instruct": "cyan",
    "check": "yellow",
    "verify": "yellow",
    "ask": "magenta",
    "action": "bold red",
    "escalate": "blue",
}


def render_playbooks_list(console: Console, playbooks: Mapping[str, Playbook]) -> None:
    table = Table(title="Playbooks", title_justify="left")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("title")
    table.add_column("findings")
    table.add_column("fixes")
    table.add_column("steps", justify="right")
    for playbook in sorted(playbooks.values(), key=lambda p: p.id):
        table.add_row(
            safe_text(playbook.id),
            safe_text(playbook.title),
            Text("\n".join(printable(f, None) for f in playbook.findings)),
            "yes" if playbook.fixes else "no",
            str(len(playbook.steps)),
        )
    console.print(table)


def _branches(step: Step, following: str) -> list[str]:
    """Where a step goes next, as `label → target` ("next step" when it falls through)."""

    def target(name: str | None) -> str:
        return following if name is None else name

    if step.kind in {"check", "verify"}:
        return [f"pass → {target(step.on_pass)}", f"fail → {target(step.on_fail)}"]
    if step.kind == "ask":
        return [f"{choice.value} → {target(choice.next)}" for choice in step.choices]
    return [f"then → {target(step.next)}"]


def render_playbook_show(console: Console, playbook: Playbook) -> None:
    """Every step with its kind, branches and Admin path; placeholders are shown unfilled."""
    from rich.padding import Padding

    body = Text()
    body.append(printable(playbook.title, None), style="bold")
    body.append(f"  ({printable(playbook.id, None)})\n", style="dim")
    body.append(printable(playbook.summary, None) + "\n")
    body.append("file ", style="dim").append(printable(_short(playbook.source), None) + "\n")
    body.append("findings ", style="dim").append(printable(", ".join(playbook.findings), None))
    body.append("\n")
    body.append("fixes ", style="dim").append(
        "yes: ends by reprocessing the order" if playbook.fixes else "no: nothing to reprocess"
    )
    console.print(Panel(body, title=Text(f"playbooks show {printable(playbook.id, None)}")))
    for number, step in enumerate(playbook.steps, start=1):
        following = playbook.steps[number].id if number < len(playbook.steps) else "end"
        head = Text(f"{number:>2}. ", style="bold")
        head.append(step.kind, style=_KIND_STYLE[step.kind])
        detail = step.check or step.action or step.to
        if detail:
            head.append(f" {printable(detail, None)}", style=_KIND_STYLE[step.kind])
        head.append(f"  {printable(step.id, None)}", style="dim").append("  ")
        head.append(printable(step.title, None), style="bold")
        console.print(head)
        lines: list[tuple[str, str]] = []
        if step.text:
            lines.append(("", step.text))
        if step.question:
            lines.append(("offline question: ", step.question))
        for choice in step.choices:
            lines.append((f"[{choice.value}] ", choice.label))
        if step.admin_path:
            lines.append(("Admin: ", step.admin_path))
        for index, admin_step in enumerate(step.admin_steps, start=1):
            lines.append((f"  {index}) ", admin_step))
        if step.help:
            lines.append(("help: ", step.help))
        if step.confirm:
            lines.append(("", "waits until you say it is done"))
        lines.append(("", " · ".join(_branches(step, following))))
        for label, value in lines:
            line = safe_text(label, style="dim").append(printable(value, None), style="")
            console.print(Padding(line, (0, 0, 0, 6), expand=False))
