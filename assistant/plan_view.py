"""How a fix plan and its application look: `plan show`, `plan apply` and `triage --plan`.

Everything read from the plan file or VTEX is printed as text (rich markup escaped): ids and
evidence come from orders and API answers, not from us.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.fixplan import (
    OUTCOME_WORDS,
    REPROCESS_SCREEN,
    FixResult,
    Plan,
    Reverified,
)

MAX_IDS_SHOWN = 5


def _ids(values: Sequence[str]) -> str:
    shown = ", ".join(values[:MAX_IDS_SHOWN])
    more = len(values) - MAX_IDS_SHOWN
    return escape(f"{shown}, and {more} more" if more > 0 else shown)


def plan_headline(plan: Plan) -> str:
    return (
        f"{len(plan.fixes)} API write(s) unblocking {plan.unblocked_by_writes()} of "
        f"{len(plan.orders)} blocked order(s); {len(plan.manual)} manual step group(s), "
        f"{len(plan.escalations)} escalation(s)"
    )


def render_plan(console: Console, plan: Plan) -> None:
    console.print(
        f"[bold]Fix plan[/] for account {escape(plan.account)}, from {escape(plan.source)} "
        f"({escape(plan.created_at)}; state {plan.state_digest[:12]})"
    )
    console.print(escape(plan_headline(plan)))
    if plan.fixes:
        table = Table(title="Will be written (plan apply --apply)", title_justify="left")
        table.add_column("request", no_wrap=True)  # copied into runbooks: kept whole
        table.add_column("orders", justify="right")
        table.add_column("evidence")
        for fix in plan.fixes:
            table.add_row(
                escape(f"{fix.method} {fix.path}"),
                str(len(fix.orders)),
                escape(fix.evidence[0] if fix.evidence else ""),
            )
        console.print(table)
    else:
        console.print("Nothing to write: no confirmed store-side cause the API can fix.")
    if plan.manual:
        console.print("[bold]Stays manual[/] (Admin steps, by screen):")
        screen = None
        for group in plan.manual:  # sorted by screen
            if group.admin_screen != screen:
                screen = group.admin_screen
                console.print(f"  {escape(screen)}", soft_wrap=True)
            skus = f"; SKUs {_ids(group.sku_ids)}" if group.sku_ids else ""
            console.print(
                f"    {escape(group.finding)} ({group.status}): {len(group.orders)} order(s)"
                f"{skus}; playbook {escape(group.playbook)}",
                soft_wrap=True,
            )
    if plan.escalations:
        table = Table(title="Left to Amazon or VTEX support", title_justify="left")
        for column in ("to", "cause", "orders", "examples", "playbook"):
            table.add_column(column)
        for escalation in plan.escalations:
            table.add_row(
                escalation.owner,
                escape(escalation.finding),
                str(len(escalation.orders)),
                _ids(escalation.orders),
                escape(escalation.playbook),
            )
        console.print(table)
    if plan.not_blocked:
        console.print(
            f"{len(plan.not_blocked)} order(s) of the export were not blocked on the store side "
            "at triage and are not part of the plan."
        )


def render_writes(console: Console, results: Sequence[FixResult], *, applied: bool) -> None:
    table = Table(
        title="Writes" if applied else "Writes (dry-run: nothing sent)", title_justify="left"
    )
    table.add_column("request", no_wrap=True)
    table.add_column("orders", justify="right")
    table.add_column("outcome")
    table.add_column("detail")
    for result in results:
        table.add_row(
            escape(f"{result.fix.method} {result.fix.path}"),
            str(len(result.fix.orders)),
            OUTCOME_WORDS[result.outcome],
            escape(result.detail),
        )
    if results:
        console.print(table)


def writes_line(results: Sequence[FixResult]) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    parts = [f"{count} {OUTCOME_WORDS[outcome]}" for outcome, count in counts.items()]
    return f"writes: {len(results)} planned; " + (", ".join(parts) or "none")


def reverify_line(after: Reverified) -> str:
    return (
        f"re-verify: {len(after.clear)} clear (reprocess), {len(after.blocked)} still blocked, "
        f"{len(after.undecided)} undecided, {len(after.escalate)} for Amazon/VTEX support"
    )


def render_reverified(console: Console, after: Reverified) -> None:
    console.print(escape(reverify_line(after)))
    if after.clear:
        console.print(
            f"Reprocess in {REPROCESS_SCREEN}: {_ids(after.clear)}",
            soft_wrap=True,
        )
    for title, orders in (
        ("Still blocked", after.blocked),
        ("Could not be decided", after.undecided),
        ("For Amazon or VTEX support", after.escalate),
    ):
        if not orders:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("order")
        table.add_column("why")
        for order in orders[:20]:
            table.add_row(escape(order.order_id), escape(order.reason))
        if len(orders) > 20:
            table.add_row("...", f"{len(orders) - 20} more in the result file")
        console.print(table)


class PhaseProgress:
    """A rich progress bar per phase on a terminal; elsewhere one summary line per phase,
    printed by the caller."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextmanager
    def phase(self, title: str, total: int) -> Iterator[Callable[[], None]]:
        """Yields the function that marks one item of the phase done."""
        if not self.console.is_terminal:
            yield lambda: None
            return
        progress = Progress(
            TextColumn(escape(title)),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        task = progress.add_task(title, total=total)
        with progress:
            yield lambda: progress.advance(task)
