"""Bulk triage's run: a backlog of failed orders diagnosed in one pass, concurrently online.

Orders stream in (assistant.triage.exports) and results stream out, in input order, so memory stays
bounded whatever the file size. Online, one client serves the whole run: its cache makes each
distinct lookup one request (a SKU shared by 500 orders is fetched once; docks, warehouses,
affiliate and trade policy once per run), and `concurrency` orders are checked at a time with
one lookup each in flight, so at most `concurrency` requests are ever in flight. Offline, each
order shape is diagnosed once and the orders' ids are filled into it
(assistant.triage.templates). The caches that pay over a backlog are made here, per run
(assistant.triage.cache); a single-order diagnosis builds none.

Ctrl-C (online): the client is cancelled, so the lookups in flight end at once instead of at
their timeouts, and every order already checked is still yielded (in input order; those whose
check was cut short are left out) before the KeyboardInterrupt goes on. The run's deadline
needs nothing here: once it passes, each lookup fails at once and its check is an `error`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from assistant.errors import AssistantError
from assistant.models import Diagnosis
from assistant.triage.exports import BadRow, BulkOrder
from assistant.triage.templates import Template, Templates, materialise

if TYPE_CHECKING:
    from assistant.diagnose import Diagnoser
    from assistant.vtex import VtexClient

# Online, orders pending per worker (read, submitted, not yet yielded).
LOOKAHEAD = 32


class Triaged:
    """One order's result. An offline bulk run carries its shape's template instead of the
    models (assistant.triage.templates): the JSON text, the CSV rows and the summary's counts
    come from the template, and `diagnosis` builds the models only when asked."""

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

    @property
    def templated(self) -> bool:
        """True while the result is its template's text: the models are not built yet."""
        return self._diagnosis is None and self.template is not None

    def json(self) -> str:
        """The diagnosis as `Diagnosis.model_dump_json()` writes it."""
        if self.template is not None and self._diagnosis is None:
            return self.template.json(self.order.context)
        return self.diagnosis.model_dump_json()


def triage(
    rows: Iterable[BulkOrder | BadRow],
    diagnoser: Diagnoser,
    client: VtexClient | None = None,
    *,
    concurrency: int = 8,
    caches: bool = True,
) -> Generator[Triaged | BadRow, None, None]:
    """Diagnose every order; results come back in input order. Offline runs in this thread
    (the engine is serial anyway); online, `concurrency` orders are checked at a time.
    `caches=False` (for benchmarks) diagnoses every order on its own."""
    if caches:
        from assistant.triage.cache import CachingDiagnoser

        diagnoser = CachingDiagnoser(diagnoser)
    if client is None:
        # One diagnosis per order shape (assistant.triage.templates); an order that cannot be
        # a template goes through `diagnose` itself.
        templates = Templates(diagnoser) if caches else None
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
    yield from concurrently(
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


def concurrently(
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
