"""The facts the rules engine sees, and their schema: the one place that builds them.

A diagnosis asserts one `order` fact, one `item` fact per SKU and one `check` fact per check
result. They carry flags and counts, never free text or ids, so identical situations give
identical facts whatever orders they come from (triage evaluates each situation once).
`FACT_ATTRIBUTES` is what a rule may test; `rules validate` checks rules against it, and
tests/test_facts.py checks that the builder and the schema agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.checks import CheckResult
    from assistant.classify import Classification
    from assistant.models import OrderContext
    from assistant.rulesets import RuleBook

FACT_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "order": frozenset(
        {
            "kind",
            "error_code",
            "mode",
            "item_count",
            "fba",
            "has_postal_code",
            "has_trade_policy",
            "checks_failed",
            "checks_undecided",
        }
    ),
    # Besides these, the order fact has `passed_<check name>` for every check the error ran:
    # true when each of its results (one per SKU) passed. See ORDER_PASSED_PREFIX.
    "item": frozenset({"kind", "index", "known", "sku_id_is_vtex_id", "quantity"}),
    "check": frozenset(
        {
            "kind",
            "name",
            "index",
            "outcome",
            "undecided",
            # What the observers of checks.py add (CheckResult.facts).
            "by_ref_id",
            "alternate_id",
            "matched_by",
            "vtex_sku_id",
            "collection",
            "exists",
            "negative",
            "shortfall",
            "stock_elsewhere",
            "reason",
        }
    ),
}
FACT_KINDS = frozenset(FACT_ATTRIBUTES)
ORDER_PASSED_PREFIX = "passed_"
# The simulation is the final witness of the SLA tree: rules compare it with the other checks,
# so it does not count among the order's failed or undecided links.
_WITNESS = "fulfillment_simulation"


def rule_facts(
    context: OrderContext,
    classification: Classification,
    mode: str,
    checks: Sequence[CheckResult] = (),
) -> list[dict[str, Any]]:
    """Every fact of one diagnosis: the order, its items, its check results."""
    return [
        order_fact(context, classification, mode, checks),
        *item_facts(context),
        *(check_fact(check) for check in checks),
    ]


def order_fact(
    context: OrderContext,
    classification: Classification,
    mode: str,
    checks: Sequence[CheckResult] = (),
) -> dict[str, Any]:
    links = [check for check in checks if check.name != _WITNESS]
    passed: dict[str, bool] = {}
    for check in checks:
        key = f"{ORDER_PASSED_PREFIX}{check.name}"
        passed[key] = passed.get(key, True) and check.outcome == "pass"
    return {
        "kind": "order",
        "error_code": classification.code,
        "mode": mode,
        "item_count": len(context.items),
        "fba": context.is_fba,
        "has_postal_code": context.postal_code is not None,
        "has_trade_policy": context.sales_channel is not None,
        "checks_failed": sum(check.outcome == "fail" for check in links),
        "checks_undecided": sum(check.undecided for check in links),
        **passed,
    }


def item_facts(context: OrderContext) -> list[dict[str, Any]]:
    # Imported here: rulesets.py reads the schema above, and loading rules needs no pydantic.
    from assistant.checks import is_vtex_sku_id

    if not context.items:
        # An order without items is evaluated with one unnamed item, so that per-SKU rules
        # still give their finding (with no sku_id).
        return [
            {"kind": "item", "index": -1, "known": False, "sku_id_is_vtex_id": False, "quantity": 1}
        ]
    return [
        {
            "kind": "item",
            "index": index,
            "known": True,
            "sku_id_is_vtex_id": is_vtex_sku_id(item.sku_id),
            "quantity": item.quantity,
        }
        for index, item in enumerate(context.items)
    ]


def check_fact(check: CheckResult) -> dict[str, Any]:
    return {
        "kind": "check",
        "name": check.name,
        "index": -1 if check.index is None else check.index,
        "outcome": check.outcome,
        "undecided": check.undecided,
        **check.facts,
    }


def attributes_read(rulebook: RuleBook) -> frozenset[str]:
    """The fact attributes the rulebook's rules may read (a superset: every key and string
    value of their conditions, since a join names an attribute in a value), plus the two the
    engine itself joins on."""
    return frozenset(_names_in([rule.condition for rule in rulebook.rules.values()])) | {
        "kind",
        "index",
    }


def projected(
    facts: Iterable[Mapping[str, Any]], attributes: frozenset[str]
) -> list[dict[str, Any]]:
    """The facts without the attributes no rule reads: situations that differ only there
    evaluate alike."""
    return [{k: v for k, v in fact.items() if k in attributes} for fact in facts]


def _names_in(node: Any) -> set[str]:
    if isinstance(node, Mapping):
        return {str(k) for k in node} | set().union(*(_names_in(v) for v in node.values()))
    if isinstance(node, list | tuple):
        return set().union(*(_names_in(v) for v in node))
    return {node} if isinstance(node, str) else set()
