"""Operator answers to checks that could not run feed back into the rules (guided sessions)."""

from __future__ import annotations

from assistant.diagnose import Diagnoser
from assistant.models import OrderContext

INACTIVE_OR_OUT = OrderContext(
    order_id="702-1183344-9902211",
    error_message="Order with SKU inactive or out of sales channel",
    items=[{"sku_id": "3303"}],  # type: ignore[list-item]
    sales_channel="3",
)


def findings(diagnoser: Diagnoser, **answers: bool) -> list[tuple[str, str]]:
    given = {(check, "3303"): passes for check, passes in answers.items()}
    diagnosis = diagnoser.diagnose(INACTIVE_OR_OUT, answers=given)
    return [(f.code, f.status) for f in diagnosis.findings]


# "Out of sales channel": not ticked, outside the collection, or not reindexed yet.
OUT_OF_SALES_CHANNEL = [
    ("sku_not_in_trade_policy", "suspected"),
    ("sku_not_in_collection", "suspected"),
    ("catalog_index_stale", "suspected"),
]


def test_without_answers_both_causes_are_suspected(diagnoser: Diagnoser) -> None:
    assert findings(diagnoser) == [("sku_inactive", "suspected"), *OUT_OF_SALES_CHANNEL]


def test_the_sku_is_active_rules_the_inactive_sku_out(diagnoser: Diagnoser) -> None:
    assert findings(diagnoser, sku_active=True) == OUT_OF_SALES_CHANNEL


def test_the_sku_is_inactive_confirms_it_by_the_operator(diagnoser: Diagnoser) -> None:
    assert ("sku_inactive", "confirmed") in findings(diagnoser, sku_active=False)
    diagnosis = diagnoser.diagnose(INACTIVE_OR_OUT, answers={("sku_active", "3303"): False})
    check = next(c for c in diagnosis.checks if c.name == "sku_active")
    assert (check.outcome, check.detail) == ("fail", "the operator says it fails")


def test_an_answer_for_another_sku_changes_nothing(diagnoser: Diagnoser) -> None:
    diagnosis = diagnoser.diagnose(INACTIVE_OR_OUT, answers={("sku_active", "9999"): True})
    assert [(f.code, f.status) for f in diagnosis.findings] == [
        ("sku_inactive", "suspected"),
        *OUT_OF_SALES_CHANNEL,
    ]
