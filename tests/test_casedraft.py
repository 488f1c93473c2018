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
