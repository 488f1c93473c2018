"""Bulk triage: a backlog of failed orders diagnosed in one pass, and what blocks how many.

Orders stream in (assistant.bulk) and results stream out, in input order, so memory stays
bounded whatever the file size. Online, one client serves the whole run: its cache makes each
distinct lookup one request (a SKU shared by 500 orders is fetched once; docks, warehouses,
affiliate and trade policy once per run), and `concurrency` orders are checked at a time with
one lookup each in flight, so at most `concurrency` requests are ever in flight. Offline, each
order shape is diagnosed once and the orders' ids are filled into it (assistant.offline).

Ctrl-C (online): the client is cancelled, so the lookups in flight end at once instead of at
their timeouts, and every order already checked is still yielded (in input order; those whose
check was cut short are left out) before the KeyboardInterrupt goes on. The run's deadline
needs nothing here: once it passes, each lookup fails at once and its check is an `error`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.bulk import BadRow, BulkOrder
from assistant.diagnose import judge
from assistant.errors import (
    EXIT_ACTION_NEEDED,
    EXIT_OK,
    EXIT_UNDECIDED,
    EXIT_USAGE,
    AssistantError,
)
from assistant.models import Diagnosis, Item
from assistant.offline import Template, Templates, materialise

if TYPE_CHECKING:
    from assistant.diagnose import Diagnoser
    from assistant.vtex import VtexClient

TOP_SKUS = 10
# Online, orders pending per worker (read, submitted, not yet yielded).
LOOKAHEAD = 32


class Triaged:
    """One order's result. An offline bulk run carries its shape's template instead of the
    models (assistant.offline): the JSON text, the CSV rows and the summary's counts come from
    the template, and `diagnosis` builds the models only when asked."""

    __slots__ = ("_diagnosis", "order", "template")

    def __init__(
        self,
        order: BulkOrder,
        diagnosis: Diagnosis | None = None,
        template: Template | None = None,
    ) -> None:
        if diagnosis is None and template is None:
            raise ValueError("a Triaged needs a diagnosis or a template")
        self.order = order
        self.template = template
        self._diagnosis = diagnosis

    @property
    def diagnosis(self) -> Diagnosis:
        if self._diagnosis is None:
            assert self.template is not None
            self._diagnosis = materialise(self.template, self.order.context)
        return self._diagnosis

    def json(self) -> str:
        """The diagnosis as `Diagnosis.model_dump_json()` writes it."""
        if self._diagnosis is None and self.template is not None:
            return self.template.json(self.order.context)
        return self.diagnosis.model_dump_json()


@dataclass
class SkuLoad:
    orders: int = 0
    units: int = 0
    findings: Counter[str] = field(default_factory=Counter)


@dataclass
class Summary:
    """Counts for the report, filled as results stream by (constant memory but for the SKU
    table, which grows with the distinct SKUs blocked on the store side)."""

    orders: int = 0
    bad_rows: int = 0
    unreadable_rows: int = 0  # of bad_rows, those that could not be split into cells
    blocked_on_store: int = 0  # orders with any store-side finding, whatever its status
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    by_finding: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    skus: dict[str, SkuLoad] = field(default_factory=dict)
    interrupted: bool = False

    def add(self, result: Triaged | BadRow) -> None:
        if isinstance(result, BadRow):
            self.bad_rows += 1
            self.unreadable_rows += result.unreadable
            return
        if result.template is not None:
            self._add_template(result.template, result.order.context.items)
            return
        diagnosis = result.diagnosis
        self.orders += 1
        self.by_error[diagnosis.error.code] += 1
        # One pass over the findings (this runs once per order of a million-row backlog).
        # Dicts, not sets: codes are counted in the findings' order, so codes with equal counts
        # list in the same order in every run (a set's order changes with the hash seed).
        codes: dict[str, None] = {}
        statuses: dict[str, None] = {}
        store_codes: dict[str, set[str]] = {}
        blocked = False
        for finding in diagnosis.findings:
            codes[finding.code] = None
            statuses[finding.status] = None
            if finding.owner == "store":
                blocked = True
                if finding.sku_id is not None:
                    store_codes.setdefault(finding.sku_id, set()).add(finding.code)
        self.by_finding.update(codes.keys())
        self.by_status.update(statuses.keys())
        self.blocked_on_store += blocked
        verdict, _ = judge(diagnosis)  # the same verdict `verify` gives one order
        self.by_verdict[verdict] += 1
        for item in result.order.context.items:
            found = store_codes.pop(item.sku_id, None)  # a SKU listed twice counts once
            if found is not None:
                load = self.skus.get(item.sku_id) or self.skus.setdefault(item.sku_id, SkuLoad())
                load.orders += 1
                load.units += item.quantity
                load.findings.update(found)

    def _add_template(self, template: Template, items: Sequence[Item]) -> None:
        """`add` for an order diagnosed by its shape: the same counts, read off the template."""
        self.orders += 1
        self.by_error[template.error_code] += 1
        by_finding, by_status = self.by_finding, self.by_status
        for code in template.finding_codes:  # Counter.update costs more for a few codes
            by_finding[code] += 1
        for status in template.statuses:
            by_status[status] += 1
        self.blocked_on_store += template.blocked_on_store
        self.by_verdict[template.verdict] += 1
        for index, codes in template.store_codes:  # once per SKU, at its first item
            item = items[index]
            load = self.skus.get(item.sku_id) or self.skus.setdefault(item.sku_id, SkuLoad())
            load.orders += 1
            load.units += item.quantity
            load.findings.update(codes)

    def top_skus(self, count: int = TOP_SKUS) -> list[tuple[str, SkuLoad]]:
        """The SKUs to fix first: most blocked orders, then most units."""
        return sorted(
            self.skus.items(), key=lambda pair: (-pair[1].orders, -pair[1].units, pair[0])
        )[:count]

    @property
    def undecided(self) -> int:
        return self.by_verdict["undecided"]

    def exit_code(self) -> int:
        """Bad rows first (the input needs fixing), then undecided orders, then orders with a
        confirmed store-side cause; 0 when every order's store side is clean."""
        if self.bad_rows:
            return EXIT_USAGE
        if self.by_verdict["undecided"]:
            return EXIT_UNDECIDED
        if self.by_verdict["action_needed"]:
            return EXIT_ACTION_NEEDED
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "bad_rows": self.bad_rows,
            "unreadable_rows": self.unreadable_rows,
            "blocked_on_store": self.blocked_on_store,
            "by_verdict": {v: self.by_verdict[v] for v in ("action_needed", "undecided", "clean")},
            "undecided": self.undecided,
            "interrupted": self.interrupted,
            "by_error_code": dict(self.by_error.most_common()),
            "by_finding_code": dict(self.by_finding.most_common()),
            "top_skus": [
                {
                    "sku_id": sku_id,
                    "orders": load.orders,
                    "units": load.units,
                    "findings": sorted(load.findings),
                }
                for sku_id, load in self.top_skus()
            ],
        }


def triage(
    rows: Iterable[BulkOrder | BadRow],
    diagnoser: Diagnoser,
    client: VtexClient | None = None,
    *,
    concurrency: int = 8,
) -> Generator[Triaged | BadRow, None, None]:
    """Diagnose every order; results come back in input order. Offline runs in this thread
    (the engine is serial anyway); online, `concurrency` orders are checked at a time."""
    if client is None:
        # One diagnosis per order shape (assistant.offline); the caches-off Diagnoser of the
        # benchmarks and an order that cannot be a template go through `diagnose` itself.
        templates = Templates(diagnoser) if diagnoser.use_cache else None
        for row in rows:
            if isinstance(row, BadRow):
                yield row
                continue
            template = templates.template(row.context) if templates is not None else None
            if template is not None:
                yield Triaged(row, template=template)
            else:
                yield Triaged(row, diagnoser.diagnose(row.context))
        return
    yield from _concurrently(
        rows,
        lambda order: diagnoser.diagnose(order.context, client, workers=1),
        concurrency,
        cancel=client.cancel,
    )


def finished_after_interrupt(
    results: Generator[Triaged | BadRow, None, None],
) -> Iterator[Triaged | BadRow]:
    """After a Ctrl-C that reached the caller between two results: the results `triage`
    already has (it is told of the interrupt, and yields them), then nothing. When the Ctrl-C
    reached `triage` itself, it yielded them already and this yields nothing."""
    try:
        first = results.throw(KeyboardInterrupt())
    except (KeyboardInterrupt, StopIteration):
        return
    yield first
    try:
        yield from results
    except KeyboardInterrupt:
        return


def _concurrently(
    rows: Iterable[BulkOrder | BadRow],
    diagnose: Callable[[BulkOrder], Diagnosis],
    concurrency: int,
    cancel: Callable[[], None],
) -> Iterator[Triaged | BadRow]:
    # A bounded window of pending orders: reading never runs far ahead of checking. Results
    # leave in input order, so an order that waits for several round trips holds the window's
    # head; the window is long enough for the workers to go on with the orders behind it (most
    # of them answered from the client's cache) meanwhile. Requests in flight stay bounded by
    # the workers: each diagnosis makes one request at a time.
    window: deque[tuple[BulkOrder | BadRow, Future[Diagnosis] | None]] = deque()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="triage")
    finished = False
    try:
        try:
            for row in rows:
                future = None if isinstance(row, BadRow) else pool.submit(diagnose, row)
                window.append((row, future))
                while len(window) > LOOKAHEAD * concurrency:
                    yield _result(*window.popleft())
            while window:
                yield _result(*window.popleft())
        except AssistantError:
            # The file broke partway (a damaged workbook): the orders already read and being
            # checked are still reported, then the error.
            while window:
                yield _result(*window.popleft())
            raise
        except KeyboardInterrupt:
            # Ctrl-C: stop the lookups in flight (their orders are left out: their checks
            # were cut short), then report every order checked before it, in input order.
            done = [(row, future) for row, future in window if future is None or future.done()]
            cancel()
            for row, future in done:
                yield _result(row, future)
            raise
        finished = True
    finally:
        if not finished:  # an error, Ctrl-C, or a caller that stopped reading
            cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _result(row: BulkOrder | BadRow, future: Future[Diagnosis] | None) -> Triaged | BadRow:
    if isinstance(row, BadRow):
        return row
    assert future is not None  # every order was submitted
    return Triaged(row, future.result())


CSV_COLUMNS = ("row", "order_id", "error_code", "finding", "sku_id", "status", "owner", "playbook")


def csv_rows(result: Triaged) -> Iterator[list[str]]:
    """One row per order and finding (an order without findings gets one row)."""
    template = result.template
    if template is not None and result._diagnosis is None:
        context = result.order.context
        base = [str(result.order.row), context.order_id, template.error_code]
        if not template.csv_findings:
            yield [*base, "", "", "", "", ""]
        for code, index, status, owner, playbook in template.csv_findings:
            sku_id = "" if index is None else context.items[index].sku_id
            yield [*base, code, sku_id, status, owner, playbook]
        return
    diagnosis = result.diagnosis
    base = [str(result.order.row), diagnosis.order_id, diagnosis.error.code]
    if not diagnosis.findings:
        yield [*base, "", "", "", "", ""]
    for finding in diagnosis.findings:
        yield [
            *base,
            finding.code,
            finding.sku_id or "",
            finding.status,
            finding.owner,
            finding.playbook,
        ]
