"""Bulk triage's summary: what blocks how many orders, counted as results stream by, and the
CSV rows of each result.

The counts read an order's template where it has one (assistant.triage.templates), so an offline
backlog is counted without building its models. The exit code is the verdict policy's
(assistant.verdict) over every order's verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.models import Item, Verdict
from assistant.triage.exports import BadRow
from assistant.verdict import batch_exit_code, judge

if TYPE_CHECKING:
    from assistant.triage.run import Triaged
    from assistant.triage.templates import Template

TOP_SKUS = 10


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
    by_verdict: Counter[Verdict] = field(default_factory=Counter)
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
        return batch_exit_code(+self.by_verdict, bad_input=bool(self.bad_rows))

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


CSV_COLUMNS = ("row", "order_id", "error_code", "finding", "sku_id", "status", "owner", "playbook")


def csv_rows(result: Triaged) -> Iterator[list[str]]:
    """One row per order and finding (an order without findings gets one row)."""
    template = result.template
    if template is not None and result.templated:
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
