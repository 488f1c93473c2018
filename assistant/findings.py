"""From the rules that fired to the diagnosis' findings: one per (cause, SKU), merged and ordered.

Several rules may conclude the same cause for the same SKU: they merge into one finding with
the strongest status and every distinct evidence line. Findings are ordered by the causes the
error message itself names (in the order it names them), then by rule priority, item position
and rule name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.models import Finding

if TYPE_CHECKING:
    from assistant.checks import CheckResult
    from assistant.classify import Classification
    from assistant.engine import Hit
    from assistant.models import OrderContext
    from assistant.rulesets import RuleBook

NAMED_EVIDENCE = "The error message names this cause (the checks decide whether it is the one)"
_STATUS_STRENGTH = {"confirmed": 3, "reported": 2, "suspected": 1}

_Order = tuple[int, int, int, str]


def findings_from(
    hits: Sequence[Hit],
    rulebook: RuleBook,
    context: OrderContext,
    classification: Classification,
    checks: Sequence[CheckResult],
) -> list[Finding]:
    """The findings of one diagnosis, from its hits, merged and in the report's order."""
    named = classification.named
    evidence = Evidence(context, classification, checks)
    merged: dict[tuple[str, str | None], tuple[_Order, Finding]] = {}
    for hit in hits:
        rule = rulebook.rules[hit.rule]
        index = hit.item_index if hit.item_index not in (None, -1) else None
        spec = rulebook.findings[rule.finding]
        # model_construct: every value comes from validated rulesets and checks; the
        # contract is pinned by the JSON contract test. Validation here cost a fifth of
        # the time of a backlog's distinct orders.
        finding = Finding.model_construct(
            code=spec.code,
            title=spec.title,
            sku_id=context.items[index].sku_id if index is not None else None,
            status=rule.status,  # validated by the ruleset loader
            owner=spec.owner,
            playbook=spec.playbook,
            rule=rule.name,
            evidence=[evidence.render(rule.evidence, index)],
        )
        key = (finding.code, finding.sku_id)
        # A cause the message itself names comes first, in the order it names them.
        first = named.index(spec.code) if spec.code in named else len(named)
        order = (first, rule.pri, -1 if index is None else index, rule.name)
        if key in merged:
            order_before, before = merged[key]
            finding = merge(before, finding)
            order = min(order, order_before)
        merged[key] = (order, finding)
    ordered = [finding for _, finding in sorted(merged.values(), key=lambda pair: pair[0])]
    if not named:
        return ordered
    return [
        finding.model_copy(update={"evidence": [NAMED_EVIDENCE, *finding.evidence]})
        if finding.code in named and finding.status != "confirmed"
        else finding
        for finding in ordered
    ]


def merge(first: Finding, second: Finding) -> Finding:
    """One finding from two of the same cause and SKU: the stronger status, all the evidence."""
    strongest = max(first, second, key=lambda f: _STATUS_STRENGTH[f.status])
    evidence = list(dict.fromkeys([*first.evidence, *second.evidence]))
    return strongest.model_copy(update={"evidence": evidence})


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class Evidence:
    """Renders a rule's evidence template for one finding: `{sku}`, `{sku_id}`, `{quantity}`,
    `{order_id}`, `{error_code}`, `{param_<name>}` and `{check_<name>}` (that check's detail
    for the same SKU, or the order-level one)."""

    def __init__(
        self,
        context: OrderContext,
        classification: Classification,
        checks: Sequence[CheckResult],
    ) -> None:
        self.context = context
        self.classification = classification
        self.checks = checks
        self._values: dict[int | None, _Blank] = {}

    def render(self, template: str, index: int | None) -> str:
        return template.format_map(self._values_for(index))

    def _values_for(self, index: int | None) -> _Blank:
        """The template values for one SKU (or the order), built once per diagnosis."""
        found = self._values.get(index)
        if found is not None:
            return found
        item = self.context.items[index] if index is not None else None
        values = _Blank(
            sku=f"SKU {item.sku_id}" if item else "the order's SKU",
            sku_id=item.sku_id if item else "",
            quantity=str(item.quantity) if item else "",
            order_id=self.context.order_id,
            error_code=self.classification.code,
            **{f"param_{k}": v for k, v in self.classification.params.items()},
        )
        for check in self.checks:
            if check.index == index or (
                check.index is None and f"check_{check.name}" not in values
            ):
                values[f"check_{check.name}"] = check.detail
        self._values[index] = values
        return values
