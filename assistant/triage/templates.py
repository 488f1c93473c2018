"""Offline bulk diagnosis by order shape: one diagnosis per shape, the ids filled in per order.

Offline, nothing is looked up: an order's diagnosis depends on its message, on which optional
fields it has (not their values), on its item count, on what the offline checks read of each
SKU id (`sku_id_format`: a VTEX id, digits with a leading zero, other digits, or not digits),
on which items repeat a SKU, and on the quantities where the rules read them. The order id and
the SKU ids reach the output only as text: the diagnosis' order id, the findings' and checks'
SKU ids, and the evidence and check details that quote them.

So the first order of each shape is diagnosed (`Diagnoser.diagnose`, the same code as one
`diagnose`) with stand-ins for those ids, and its `--json` text is cut at the stand-ins: the
template. Every later order of the shape is that text with its own ids put back, and the
summary's counts come from the template as well; the pydantic models are built only when a
caller asks for `Triaged.diagnosis`. A realistic export has a few thousand shapes for hundreds
of thousands of orders, where nearly every order differs in its ids and postal code.

Stand-ins: the order id is a text with a NUL (which no validated id or message can hold) that
keeps the id's FBA suffix; a SKU id is one of its kind (`_stand_in_sku`: a VTEX id, digits
with a leading zero, too many digits, or a NUL text) numbered by the item's position (the
first position for a repeated SKU, so that findings merge as they would). Optional fields are
NUL texts too. A shape whose template shows a stand-in it cannot place (a field's value, or a
stand-in next to a digit) or whose message contains the mark `_SKU_MARK` is diagnosed order by
order, as `Diagnoser.diagnose` does. tests/test_offline.py compares the two paths over varied
orders; a new offline check that reads more of a SKU id than `sku_id_format` does must add it
to `_sku_kind`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.checks import is_vtex_sku_id
from assistant.facts import attributes_read
from assistant.findings import NAMED_EVIDENCE
from assistant.models import MAX_ITEMS, Diagnosis, Item, OrderContext, Verdict
from assistant.verdict import judge

if TYPE_CHECKING:
    from assistant.diagnose import Diagnoser

_ORDER = "\x00order\x00"
_FIELD = "\x00field\x00"
_SKU_MARK = "1975310"  # in every digit stand-in: a message that holds it is not templated
_DIGITS = re.compile(r"[0-9]+")
# What the offline checks tell apart in a SKU id (checks.sku_id_format).
_VTEX_ID, _LEADING_ZERO, _LARGE_NUMBER, _NOT_DIGITS = range(4)
_NUL_JSON = "\\u0000"
_ORDER_SLOT = -1
_TEMPLATES = 16384  # shapes kept (least recently used dropped first)


@dataclass(frozen=True, slots=True)
class Template:
    """One shape's `--json` text cut at its ids, and what the summary and the CSV read."""

    texts: tuple[str, ...]  # literal JSON between the ids (one more than slots)
    slots: tuple[int, ...]  # which id goes between texts[i] and texts[i + 1]: -1 the order's
    error_code: str
    finding_codes: tuple[str, ...]  # each once, in the findings' order (as Summary.add counts)
    statuses: tuple[str, ...]
    blocked_on_store: bool
    verdict: Verdict
    store_codes: tuple[tuple[int, frozenset[str]], ...]  # (item, its store-side finding codes)
    csv_findings: tuple[tuple[str, int | None, str, str, str], ...]  # code, item, status, ...
    # What the renderers read and the JSON leaves out (Diagnosis.summary, .admin_links): the
    # same for every order of the shape.
    renderer_fields: dict[str, Any]

    def json(self, context: OrderContext) -> str:
        """The order's diagnosis as `Diagnosis.model_dump_json()` writes it."""
        # A join, not a str.format pattern: JSON is full of braces, and a pattern with them
        # escaped formats ten times slower.
        texts, slots = self.texts, self.slots
        if not slots:
            return texts[0]
        values = [_json_text(item.sku_id) for item in context.items]
        values.append(_json_text(context.order_id))  # index -1: the order id
        parts = [texts[0]]
        append = parts.append
        for slot, text in zip(slots, texts[1:], strict=True):
            append(values[slot])
            append(text)
        return "".join(parts)


def _json_text(value: str) -> str:
    """A string as it appears inside a JSON string of pydantic's: validated ids hold no control
    characters, so only quotes and backslashes need escaping; anything else goes through
    pydantic's own serializer."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    from pydantic_core import to_json

    return to_json(value).decode("utf-8")[1:-1]


class Templates:
    """Offline diagnoses for a backlog, one `diagnose` per shape (module docstring)."""

    def __init__(self, diagnoser: Diagnoser, size: int = _TEMPLATES) -> None:
        self.diagnoser = diagnoser
        self.size = size
        rulebook = diagnoser.rulebook
        # Quantities are part of the shape only where the rules or their evidence read them.
        self.quantities = "quantity" in attributes_read(rulebook) or any(
            "{quantity" in rule.evidence for rule in rulebook.rules.values()
        )
        # A ruleset text that holds the mark would read as a stand-in: no templates then.
        self.enabled = _SKU_MARK not in repr(
            (rulebook.errors, rulebook.findings, rulebook.checks, rulebook.rules)
        )
        self._cache: OrderedDict[tuple[Any, ...], Template | None] = OrderedDict()
        self._kinds: dict[str, int] = {}  # SKU id -> _sku_kind
        self.built = 0  # shapes diagnosed (for tests and benchmarks)

    def template(self, context: OrderContext) -> Template | None:
        """The order's shape's template; None when the order must be diagnosed on its own."""
        if not self.enabled or len(context.items) > MAX_ITEMS:
            return None
        key = self._shape(context)
        cache = self._cache
        found = cache.get(key, False)
        if found is False:
            found = self._build(context, key)
            cache[key] = found
            if len(cache) > self.size:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return found  # type: ignore[return-value]

    def _shape(self, context: OrderContext) -> tuple[Any, ...]:
        first: dict[str, int] = {}
        kinds = self._kinds
        quantities = self.quantities
        items = []
        for index, item in enumerate(context.items):
            sku_id = item.sku_id
            kind = kinds.get(sku_id)
            if kind is None:
                if len(kinds) >= 4 * self.size:
                    kinds.clear()
                kind = kinds[sku_id] = _sku_kind(sku_id)
            items.append(
                (
                    kind,
                    first.setdefault(sku_id, index),
                    item.quantity if quantities else None,
                    item.seller_sku is None,
                )
            )
        return (
            context.error_message,
            context.is_fba,
            context.sales_channel is None,
            context.affiliate_id is None,
            context.postal_code is None,
            context.country is None,
            context.seller_id is None,
            tuple(items),
        )

    def _build(self, context: OrderContext, key: tuple[Any, ...]) -> Template | None:
        """Diagnose the shape with stand-ins for the ids; None if it cannot be a template."""
        if _SKU_MARK in context.error_message:
            return None
        items: list[Item] = []
        for kind, first, _, no_seller_sku in key[-1]:
            items.append(
                Item.model_construct(
                    sku_id=_stand_in_sku(kind, first),
                    quantity=context.items[len(items)].quantity,
                    seller_sku=None if no_seller_sku else _FIELD,
                )
            )
        stand_in = OrderContext.model_construct(
            order_id=_ORDER + ("_FBA" if context.is_fba else ""),
            error_message=context.error_message,
            items=items,
            sales_channel=_stand_in(context.sales_channel),
            affiliate_id=_stand_in(context.affiliate_id),
            postal_code=_stand_in(context.postal_code),
            country=_stand_in(context.country),
            seller_id=_stand_in(context.seller_id),
        )
        self.built += 1
        diagnosis = self.diagnoser.diagnose(stand_in, workers=1)
        return _template(diagnosis, items)


def _stand_in(value: str | None) -> str | None:
    return None if value is None else _FIELD


def _sku_kind(sku_id: str) -> int:
    if is_vtex_sku_id(sku_id):
        return _VTEX_ID
    if _DIGITS.fullmatch(sku_id):
        return _LEADING_ZERO if sku_id.startswith("0") else _LARGE_NUMBER
    return _NOT_DIGITS


def _stand_in_sku(kind: int, position: int) -> str:
    """A SKU id of that kind for the item at that position (three digits: MAX_ITEMS is 1000)."""
    number = f"{_SKU_MARK}{position:03d}"  # a VTEX id: 10 digits, below 2147483647
    if kind == _VTEX_ID:
        return number
    if kind == _LEADING_ZERO:
        return "0" + number
    if kind == _LARGE_NUMBER:
        return number + "9999"
    return f"\x00sku\x00{position:03d}"


def _template(diagnosis: Diagnosis, items: list[Item]) -> Template | None:
    for finding in diagnosis.findings:
        # The line saying the message names the cause holds no id: it cannot merge with others.
        lines = [e for e in finding.evidence if e != NAMED_EVIDENCE]
        if len(lines) > 1 and any(_holds_stand_in(e) for e in lines):
            # Merged findings keep distinct evidence lines; lines that differ by their
            # stand-ins may be equal once the real ids are in: diagnose such orders one by one.
            return None
    text = diagnosis.model_dump_json()
    item_of: dict[str, int] = {}  # SKU id -> its first item (where a repeated SKU is found)
    for index, item in enumerate(items):
        item_of.setdefault(item.sku_id, index)
    # The stand-ins as pydantic writes them in JSON, longest first; one counts only as a whole,
    # not inside a longer number.
    slot_of = {_json_text(sku_id): index for sku_id, index in item_of.items()}
    # Only the stand-in this shape used: a literal "_FBA" that a rule writes after a non-FBA
    # order's id stays text.
    slot_of[_json_text(diagnosis.order_id)] = _ORDER_SLOT
    token = re.compile(
        "(?<![0-9])(?:"
        + "|".join(re.escape(t) for t in sorted(slot_of, key=len, reverse=True))
        + ")(?![0-9])"
    )
    texts: list[str] = []
    slots: list[int] = []
    position = 0
    for match in token.finditer(text):
        texts.append(text[position : match.start()])
        slots.append(slot_of[match.group(0)])
        position = match.end()
    texts.append(text[position:])
    if any(_NUL_JSON in part or _SKU_MARK in part for part in texts):
        return None  # a field's value, or an id where it cannot be told apart, is in the text
    store_codes: dict[int, set[str]] = {}
    for finding in diagnosis.findings:
        if finding.owner == "store" and finding.sku_id is not None:
            store_codes.setdefault(item_of[finding.sku_id], set()).add(finding.code)
    verdict, _ = judge(diagnosis)
    return Template(
        renderer_fields={"summary": diagnosis.summary, "admin_links": diagnosis.admin_links},
        texts=tuple(texts),
        slots=tuple(slots),
        error_code=diagnosis.error.code,
        finding_codes=tuple(dict.fromkeys(f.code for f in diagnosis.findings)),
        statuses=tuple(dict.fromkeys(f.status for f in diagnosis.findings)),
        blocked_on_store=any(f.owner == "store" for f in diagnosis.findings),
        verdict=verdict,
        store_codes=tuple((i, frozenset(codes)) for i, codes in sorted(store_codes.items())),
        csv_findings=tuple(
            (
                f.code,
                None if f.sku_id is None else item_of[f.sku_id],
                f.status,
                f.owner,
                f.playbook,
            )
            for f in diagnosis.findings
        ),
    )


def _holds_stand_in(text: str) -> bool:
    return "\x00" in text or _SKU_MARK in text


def materialise(template: Template, context: OrderContext) -> Diagnosis:
    """The order's Diagnosis models, from its JSON text."""
    diagnosis = Diagnosis.model_validate_json(template.json(context))
    return diagnosis.model_copy(update=template.renderer_fields)
