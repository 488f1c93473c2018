"""Case drafts stay well-formed Markdown and plain text whatever the order or VTEX says."""

from __future__ import annotations

from assistant.casedraft import CaseInput, case_draft
from assistant.diagnose import Diagnoser
from assistant.models import Check, Diagnosis, ErrorInfo, Finding, OrderContext

HOSTILE_NAME = "Amazon\x1b[31mRED\x1b]0;pwned\x07\n\n# Injected | cell"


def draft(diagnoser: Diagnoser, message: str, detail: str, to: str = "amazon") -> str:
    context = OrderContext(
        order_id="702-1",
        error_message=message,
        items=[{"sku_id": "3303", "seller_sku": "A|B"}],  # type: ignore[list-item]
    )
    diagnosis = Diagnosis(
        order_id="702-1",
        mode="online",
        error=ErrorInfo(code="sku_not_in_store", title="t", message=message),
        findings=[
            Finding(
                code="amazon_order_data",
                title="Amazon sent incorrect information in the order",
                sku_id="3303",
                status="confirmed",
                owner="amazon",
                playbook="contact-amazon",
                rule="r",
                evidence=[detail],
            )
        ],
        checks=[Check(name="trade_policy_active", outcome="pass", detail=detail)],
        next_steps=[],
    )
    return case_draft(
        CaseInput(
            to=to,
            context=context,
            diagnosis=diagnosis,
            vtex_sku_ids={"3303": "3303"},
            operator_answers=[],
            rulebook=diagnoser.rulebook,
            trade_policy_id="3",
        )
    )


def test_text_from_vtex_cannot_inject_escapes_or_markdown(diagnoser: Diagnoser) -> None:
    text = draft(diagnoser, "Order with SKU out of stock", f"trade policy 3 ({HOSTILE_NAME})")
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\n# Injected" not in text
    assert [line for line in text.splitlines() if line.startswith("# ")] == [
        "# Case draft for Amazon Seller Support: Amazon order 702-1"
    ]
    assert "| 3303 | A\\|B | 3303 | 1 |" in text  # a pipe in a cell does not add a column


def test_the_error_text_is_quoted_exactly_in_a_fence_it_cannot_close(
    diagnoser: Diagnoser,
) -> None:
    message = "A validation error ```buyer```\n# not a heading"
    text = draft(diagnoser, message, "ok")
    assert "````\nA validation error ```buyer```\n# not a heading\n````" in text


def test_the_store_side_is_called_clean_only_with_evidence_and_nothing_open(
    diagnoser: Diagnoser,
) -> None:
    assert "The store side has been checked" in draft(diagnoser, "x", "SKU 3303: IsActive=true")


def _store_only_draft(diagnoser: Diagnoser, checks: list[Check]) -> str:
    message = "A validation error occurred while trying to process the order"
    context = OrderContext(order_id="702-2", error_message=message)
    diagnosis = Diagnosis(
        order_id="702-2",
        mode="online",
        error=ErrorInfo(code="buyer_name_missing", title="t", message=message),
        findings=[],
        checks=checks,
        next_steps=[],
    )
    return case_draft(
        CaseInput(
            to="vtex_support",
            context=context,
            diagnosis=diagnosis,
            vtex_sku_ids={},
            operator_answers=[("sku_active", "3303", True)],
            rulebook=diagnoser.rulebook,
        )
    )


def test_a_draft_lists_only_the_checks_that_ran_each_with_its_outcome(
    diagnoser: Diagnoser,
) -> None:
    text = _store_only_draft(
        diagnoser,
        [
            Check(name="trade_policy_active", outcome="pass", detail="trade policy 3 is active"),
            Check(name="sku_in_trade_policy", sku_id="3303", outcome="fail", detail="lacks 3"),
            Check(name="dock_linked", sku_id="3303", outcome="skipped", detail="offline"),
            Check(name="inventory_available", sku_id="3303", outcome="error", detail="503"),
        ],
    )
    checked = text.split("## What was checked\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert checked == [
        "- Amazon's trade policy exists and is active: passes: trade policy 3 is active",
        "- The product is linked to Amazon's trade policy (SKU 3303): fails: lacks 3",
        "- Enough stock in warehouses reachable through Amazon's trade policy (SKU 3303): "
        "could not be read (VTEX API error): 503",
        "- The SKU is active (SKU 3303): passes, on the word of the store's operator "
        "(not read through the API)",
    ]
    assert "looks complete" not in text


def test_an_empty_findings_section_says_so_in_a_sentence(diagnoser: Diagnoser) -> None:
    text = _store_only_draft(diagnoser, [])
    section = text.split("## What we found\n\n", 1)[1].split("\n\n", 1)[0]
    assert section.startswith("The checks above point to no cause")
