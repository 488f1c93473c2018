"""Rendering for terminals (rich); `--json` needs none of this (models dump themselves).

User-supplied text (order ids, messages, SKU ids) is always wrapped in rich `Text`, never
interpolated into markup, so a message containing `[bold]` prints as itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from assistant.models import Diagnosis, VerifyReport
from assistant.rulesets import RuleBook

_STATUS_STYLE = {"confirmed": "bold red", "reported": "red", "suspected": "yellow"}
_OUTCOME_STYLE = {"pass": "green", "fail": "bold red", "error": "magenta", "skipped": "dim"}
_OWNER_LABEL = {"store": "store", "amazon": "Amazon", "vtex_support": "VTEX support"}


def render_diagnosis(console: Console, diagnosis: Diagnosis, rulebook: RuleBook) -> None:
    error_spec = rulebook.errors[diagnosis.error.code]
    header = Text()
    header.append(f"{diagnosis.error.title}", style="bold")
    header.append(f"  ({diagnosis.error.code})\n", style="dim")
    header.append("Order ", style="dim").append(diagnosis.order_id)
    header.append(f"  ·  {diagnosis.mode}\n", style="dim")
    header.append("Message ", style="dim").append(diagnosis.error.message)
    for name, value in diagnosis.error.params.items():
        header.append(f"\n{name} ", style="dim").append(value)
    if error_spec.summary:
        header.append(f"\n\n{error_spec.summary}")
    border = "yellow" if diagnosis.recognised else "red"
    console.print(Panel(header, title="order-assistant diagnose", border_style=border))

    if diagnosis.findings:
        console.print(_findings_table(diagnosis))
        _evidence(console, diagnosis)
    elif diagnosis.recognised and diagnosis.mode == "online":
        console.print(Text("No cause found: every check that ran passes.", style="green"))
    if diagnosis.checks:
        console.print(_checks_table(diagnosis))
    paths = list(_admin_paths(diagnosis, rulebook))
    if paths:
        console.print(Text("Where to look in the Admin", style="bold"))
        for path, link in paths:
            line = Text("  • ").append(path)
            if link:
                line.append(f"\n    {link}", style="dim")
            console.print(line)
    console.print(Text("Next steps", style="bold"))
    for number, step in enumerate(diagnosis.next_steps, start=1):
        console.print(Text(f"  {number}. ").append(step))


_VERDICT_STYLE = {"clean": "green", "action_needed": "red", "undecided": "yellow"}
_VERDICT_TITLE = {
    "clean": "Store side clean",
    "action_needed": "Action needed on the store side",
    "undecided": "Could not decide",
}


def render_verify(console: Console, report: VerifyReport, rulebook: RuleBook) -> None:
    render_diagnosis(console, report, rulebook)
    body = Text(report.reason)
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
        title = Text(finding.title).append(f"\n{finding.code}", style="dim")
        table.add_row(
            str(number),
            title,
            Text(finding.sku_id or "–"),
            Text(finding.status, style=_STATUS_STYLE[finding.status]),
            _OWNER_LABEL[finding.owner],
            finding.playbook,
        )
    return table


def _evidence(console: Console, diagnosis: Diagnosis) -> None:
    console.print(Text("Evidence", style="bold"))
    for number, finding in enumerate(diagnosis.findings, start=1):
        for line in finding.evidence:
            console.print(Text(f"  {number}. ", style="dim").append(line))


def _checks_table(diagnosis: Diagnosis) -> Table:
    table = Table(title="Checks", title_justify="left")
    table.add_column("check")
    table.add_column("SKU")
    table.add_column("outcome")
    table.add_column("detail")
    for check in diagnosis.checks:
        table.add_row(
            check.name,
            Text(check.sku_id or "–"),
            Text(check.outcome, style=_OUTCOME_STYLE[check.outcome]),
            Text(check.detail),
        )
    return table


def _admin_paths(diagnosis: Diagnosis, rulebook: RuleBook) -> Iterable[tuple[str, str | None]]:
    seen: set[str] = set()
    error_spec = rulebook.errors[diagnosis.error.code]
    candidates = [(error_spec.admin_path, error_spec.help)]
    candidates += [
        (rulebook.findings[f.code].admin_path, rulebook.findings[f.code].help)
        for f in diagnosis.findings
    ]
    for path, link in candidates:
        if path and path not in seen:
            seen.add(path)
            yield path, link


def render_rules_list(console: Console, rulebook: RuleBook) -> None:
    table = Table(title="Error types", title_justify="left")
    table.add_column("code", style="cyan")
    table.add_column("title")
    table.add_column("patterns", justify="right")
    table.add_column("rules", justify="right")
    table.add_column("file", style="dim")
    for error in rulebook.errors.values():
        table.add_row(
            Text(error.code),
            Text(error.title),
            str(len(error.patterns)),
            str(len(rulebook.rules_for(error.code))),
            Text(_short(error.source)),
        )
    console.print(table)


def render_rules_show(console: Console, rulebook: RuleBook, code: str) -> None:
    error = rulebook.errors[code]
    body = Text()
    body.append(error.title, style="bold").append(f"  ({error.code})\n", style="dim")
    if error.summary:
        body.append(error.summary + "\n")
    body.append("file ", style="dim").append(_short(error.source) + "\n")
    if error.help:
        body.append("help ", style="dim").append(error.help + "\n")
    if error.params:
        body.append("params ", style="dim").append(", ".join(error.params) + "\n")
    body.append("patterns (Python re, case-insensitive, on the normalised message)\n", style="bold")
    for pattern in error.patterns:
        body.append(f"  {pattern.pattern}\n")
    if error.checks:
        body.append("checks ", style="bold").append(", ".join(error.checks) + "\n")
    console.print(Panel(body, title=f"rules show {code}"))
    rules = rulebook.rules_for(code)
    if rules:
        table = Table(title="Rules", title_justify="left")
        for column in ("rule", "finding", "status", "pri", "per SKU", "owner", "playbook"):
            table.add_column(column)
        for rule in rules:
            finding = rulebook.findings[rule.finding]
            table.add_row(
                rule.name,
                rule.finding,
                rule.status,
                str(rule.pri),
                "yes" if rule.per_item else "no",
                _OWNER_LABEL[finding.owner],
                finding.playbook,
            )
        console.print(table)
    console.print(Text("Next steps", style="bold"))
    for number, step in enumerate(error.next_steps, start=1):
        console.print(Text(f"  {number}. ").append(step))


def _short(path: str) -> str:
    """Show ruleset files relative to their folder: absolute paths mean nothing to a reader."""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])
