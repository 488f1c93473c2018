"""Every wording the help articles print maps to its error code, however it is pasted."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from assistant.classify import classify, normalise
from assistant.diagnose import Diagnoser
from assistant.models import OrderContext
from assistant.rulesets import UNRECOGNIZED
from tests.conftest import DATA

WORDINGS: list[dict[str, Any]] = yaml.safe_load((DATA / "message_wordings.yaml").read_text("utf-8"))


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['code']}-{entry['lang']}-{entry['text'][:40]}"


def test_the_wording_table_covers_every_documented_error_code(diagnoser: Diagnoser) -> None:
    documented = {code for code in diagnoser.rulebook.errors if code != UNRECOGNIZED}
    assert {entry["code"] for entry in WORDINGS} == documented


@pytest.mark.parametrize("entry", WORDINGS, ids=_id)
def test_article_wording_is_recognised_with_its_params(
    entry: dict[str, Any], diagnoser: Diagnoser
) -> None:
    result = classify(entry["text"], diagnoser.rulebook)
    assert result.code == entry["code"]
    assert result.params == {k: str(v) for k, v in entry.get("params", {}).items()}


def _pasted_variants(text: str) -> dict[str, str]:
    return {
        "upper": text.upper(),
        "lower": text.lower(),
        "padded": f"  \t{text}  \n",
        "inner-whitespace": text.replace(" ", "   "),
        "trailing-period": text.rstrip(".") + ".",
        "error-label": f"Error: {text}",
        "erro-label": f"Erro - {text}",
        "backticked": f"`{text}`",
        "quoted": f'"{text}"',
        "curly-apostrophes": text.replace("'", "\u2019"),
        "line-broken": text.replace(" ", "\n", 1),
    }


@pytest.mark.parametrize("entry", WORDINGS, ids=_id)
def test_pasted_variants_of_article_wording_are_recognised(
    entry: dict[str, Any], diagnoser: Diagnoser
) -> None:
    for variant, text in _pasted_variants(entry["text"]).items():
        result = classify(text, diagnoser.rulebook)
        assert result.code == entry["code"], variant
        expected = {k: str(v) for k, v in entry.get("params", {}).items()}
        if variant in {"upper", "lower"}:
            # Ids are echoed as pasted; only their case changed.
            lowered = {k: v.lower() for k, v in result.params.items()}
            assert lowered == {k: v.lower() for k, v in expected.items()}, variant
        else:
            assert result.params == expected, variant


@pytest.mark.parametrize("entry", WORDINGS, ids=_id)
def test_each_wording_matches_exactly_one_error_type(
    entry: dict[str, Any], diagnoser: Diagnoser
) -> None:
    text = normalise(entry["text"])
    matching = [
        error.code
        for error in diagnoser.rulebook.errors.values()
        if any(pattern.fullmatch(text) for pattern in error.patterns)
    ]
    assert matching == [entry["code"]]


@pytest.mark.parametrize("entry", [e for e in WORDINGS if e.get("names")], ids=_id)
def test_a_wording_that_names_its_cause_lists_it_first_without_confirming_it(
    entry: dict[str, Any], diagnoser: Diagnoser
) -> None:
    context = OrderContext.model_validate(
        {"order_id": "702-1", "error_message": entry["text"], "items": [{"sku_id": "1070"}]}
    )
    diagnosis = diagnoser.diagnose(context)
    named = entry["names"]
    leading = [f.code for f in diagnosis.findings[: len(named)]]
    assert leading == named
    for finding in diagnosis.findings[: len(named)]:
        assert finding.status != "confirmed"  # offline: nothing was checked
        assert "names this cause" in finding.evidence[0]
    assert all(
        "names this cause" not in " ".join(f.evidence) for f in diagnosis.findings[len(named) :]
    )


UNRELATED = [
    "",
    "Order integrated successfully",
    "Invalid seller id",
    "The carrier is not registered in the ERP",
    "Timeout while calling the payment gateway",
    "SKU",
    "Inactive SKU or out of stock maybe? Not sure",
    "No available sla",
    "Order with SKU out of stock and also a late shipment",
    "AuthToken is not valid for SellerId and AWSAccountId",
    "Error:",
]


@pytest.mark.parametrize("message", UNRELATED)
def test_unrelated_message_is_unrecognized(message: str, diagnoser: Diagnoser) -> None:
    assert classify(message, diagnoser.rulebook).code == UNRECOGNIZED


def test_catalog_unauthorized_extracts_seller_and_sales_channel_in_portuguese(
    diagnoser: Diagnoser,
) -> None:
    message = (
        "Ocorreu um erro de comunicação com o Catálogo - Acesso não autorizado do seller "
        "lojaexemplo para o sales channel 12."
    )
    result = classify(message, diagnoser.rulebook)
    assert result.code == "catalog_unauthorized"
    assert result.params == {"seller": "lojaexemplo", "sales_channel": "12"}


def test_inactive_sku_message_in_portuguese_is_recognised(diagnoser: Diagnoser) -> None:
    assert classify("SKU INATIVO", diagnoser.rulebook).code == "sku_inactive"


def test_combined_pt_message_is_not_mistaken_for_plain_inactive_sku(diagnoser: Diagnoser) -> None:
    result = classify("SKU inativo ou sem política comercial", diagnoser.rulebook)
    assert result.code == "sku_inactive_or_out_of_sales_channel"
