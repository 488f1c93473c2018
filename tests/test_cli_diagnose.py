"""`order-assistant diagnose` as a user runs it: exit codes, the terminal report, the JSON."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

from assistant.cli import app
from tests.conftest import EXAMPLES, RunCli

# The JSON contract, written out independently of assistant.models so that a change there that
# breaks the documented contract fails here.
ERROR_CODES = Literal[
    "sla_unavailable",
    "sku_out_of_stock",
    "sku_inactive",
    "sku_without_trade_policy",
    "sku_inactive_or_out_of_sales_channel",
    "sku_not_in_store",
    "catalog_unauthorized",
    "price_divergence",
    "buyer_name_missing",
    "order_canceled_on_marketplace",
    "unrecognized",
]
FINDING_CODES = Literal[
    "sku_inactive",
    "product_inactive",
    "sku_not_in_trade_policy",
    "trade_policy_inactive",
    "sku_not_found",
    "sku_id_mismatch",
    "amazon_order_data",
    "insufficient_stock",
    "negative_inventory",
    "stock_not_reachable",
    "dock_not_in_trade_policy",
    "postal_code_not_covered",
    "catalog_index_stale",
    "sku_not_in_collection",
    "shipping_policy_inactive",
    "binding_missing_trade_policy",
    "price_rule_missing",
    "marketplace_data_incomplete",
    "order_canceled",
    "no_sla_unexplained",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ContractError(_Strict):
    code: ERROR_CODES
    title: str
    message: str
    params: dict[str, str]


class ContractFinding(_Strict):
    code: FINDING_CODES
    title: str
    sku_id: str | None
    status: Literal["confirmed", "suspected", "reported"]
    owner: Literal["store", "amazon", "vtex_support"]
    playbook: str
    rule: str
    evidence: list[str]


class ContractCheck(_Strict):
    name: str
    sku_id: str | None
    outcome: Literal["pass", "fail", "error", "skipped"]
    detail: str


class ContractDiagnosis(_Strict):
    schema_version: Literal[1]
    order_id: str
    mode: Literal["online", "offline"]
    error: ContractError
    findings: list[ContractFinding]
    checks: list[ContractCheck]
    next_steps: list[str]


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json")) + sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_example_gives_one_contract_json_document(path: Path, run_cli: RunCli) -> None:
    result = run_cli("diagnose", str(path), "--json")
    document = ContractDiagnosis.model_validate(json.loads(result.stdout))
    expected_code = path.stem
    assert document.error.code == expected_code
    assert result.exit_code == (3 if expected_code == "unrecognized" else 0)
    assert document.mode == "offline"
    assert document.next_steps
    if expected_code != "unrecognized":
        assert document.findings
    assert result.stderr == ""


def test_sla_error_lists_the_causes_of_the_sla_article(run_cli: RunCli) -> None:
    result = run_cli("diagnose", str(EXAMPLES / "sla_unavailable.json"), "--json")
    findings = json.loads(result.stdout)["findings"]
    assert {f["code"] for f in findings} == {
        # the SLA article's five causes...
        "insufficient_stock",
        "sku_not_in_trade_policy",
        "postal_code_not_covered",
        "dock_not_in_trade_policy",
        "sku_inactive",
        # ...the collection half of "Item not in collection or sales channel", the known
        # issue of a stale index, and the logistics checklist's inactive shipping policy
        "sku_not_in_collection",
        "catalog_index_stale",
        "shipping_policy_inactive",
    }
    assert {f["status"] for f in findings} == {"suspected"}
    # Every cause is per SKU of the two-item order: each SKU has its own route.
    for code in {f["code"] for f in findings}:
        assert sorted(f["sku_id"] for f in findings if f["code"] == code) == ["1070", "2231"]


def test_inactive_sku_message_is_a_reported_finding_per_sku(run_cli: RunCli) -> None:
    result = run_cli(
        "diagnose",
        "--order-id",
        "701-1",
        "-m",
        "SKU inativo",
        "--sku",
        "11",
        "--sku",
        "12:3",
        "--json",
    )
    assert result.exit_code == 0
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["sku_id"], f["status"], f["owner"], f["playbook"]) for f in findings] == [
        ("sku_inactive", "11", "reported", "store", "activate-sku"),
        ("sku_inactive", "12", "reported", "store", "activate-sku"),
    ]


def test_not_in_store_with_a_non_integer_id_suspects_an_id_mismatch(run_cli: RunCli) -> None:
    result = run_cli("diagnose", str(EXAMPLES / "sku_not_in_store.yaml"), "--json")
    document = json.loads(result.stdout)
    codes = [f["code"] for f in document["findings"]]
    assert codes == ["sku_not_found", "sku_id_mismatch"]
    format_check = [c for c in document["checks"] if c["name"] == "sku_id_format"]
    assert format_check == [
        {
            "name": "sku_id_format",
            "sku_id": "CAM-AZ-42",
            "outcome": "fail",
            "detail": "'CAM-AZ-42' is not an integer, so it cannot be a VTEX SKU id",
        }
    ]


def test_not_in_store_with_an_integer_id_suspects_amazon_data(run_cli: RunCli) -> None:
    result = run_cli(
        "diagnose",
        "--order-id",
        "702-9",
        "--sku",
        "1070",
        "-m",
        "SKUs in the order don't belong to a VTEX Store, SKU ID is not an integer",
        "--json",
    )
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["owner"]) for f in findings] == [
        ("sku_not_found", "store"),
        ("amazon_order_data", "amazon"),
    ]


def test_catalog_unauthorized_puts_seller_and_sales_channel_in_params(run_cli: RunCli) -> None:
    result = run_cli("diagnose", str(EXAMPLES / "catalog_unauthorized.json"), "--json")
    error = json.loads(result.stdout)["error"]
    assert error["params"] == {"seller": "mystore", "sales_channel": "3"}


def test_offline_checks_that_need_the_api_are_skipped_with_the_reason(run_cli: RunCli) -> None:
    result = run_cli("diagnose", str(EXAMPLES / "sku_out_of_stock.json"), "--json")
    checks = json.loads(result.stdout)["checks"]
    # Whether FBA's step 0 applies is read from the order id, without the API.
    (fba,) = [c for c in checks if c["name"] == "fba_logistics"]
    assert fba["outcome"] == "pass"
    assert "not an FBA order" in fba["detail"]
    others = [c for c in checks if c["name"] != "fba_logistics"]
    assert others
    assert all(c["outcome"] == "skipped" and "VTEX API" in c["detail"] for c in others)


def test_order_without_items_still_gets_order_level_findings(run_cli: RunCli) -> None:
    result = run_cli("diagnose", "--order-id", "702-1", "-m", "Inactive SKU", "--json")
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["sku_id"]) for f in findings] == [("sku_inactive", None)]


def test_unrecognized_message_exits_3_and_says_so(run_cli: RunCli) -> None:
    result = run_cli("diagnose", "--order-id", "702-1", "-m", "Something else entirely")
    assert result.exit_code == 3
    assert "Unrecognized error message" in result.stdout
    assert "order-assistant rules list" in result.stdout


def test_terminal_report_shows_findings_paths_and_reprocess_step(run_cli: RunCli) -> None:
    result = run_cli("diagnose", str(EXAMPLES / "sku_inactive.yaml"))
    assert result.exit_code == 0
    out = result.stdout
    assert "Inactive SKU" in out
    assert "activate-sku" in out
    assert "reported" in out
    assert "Catalog > Products and SKUs" in out
    assert "Actions > Reprocess" in out
    assert "\x1b[" not in out  # NO_COLOR is set by the fixture


def test_rich_markup_in_a_message_is_printed_literally(run_cli: RunCli) -> None:
    result = run_cli("diagnose", "--order-id", "[bold]702[/bold]", "-m", "[red]boom[/red]")
    assert result.exit_code == 3
    assert "[red]boom[/red]" in result.stdout
    assert "[bold]702[/bold]" in result.stdout


def test_stdin_json_is_diagnosed(run_cli: RunCli) -> None:
    document = (EXAMPLES / "price_divergence.json").read_text("utf-8")
    result = run_cli("diagnose", "-", "--json", input=document)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["findings"][0]["code"] == "price_rule_missing"


def test_flags_override_the_file(run_cli: RunCli) -> None:
    result = run_cli(
        "diagnose",
        str(EXAMPLES / "sku_inactive.json"),
        "-m",
        "Order status is canceled on marketplace",
        "--json",
    )
    assert json.loads(result.stdout)["error"]["code"] == "order_canceled_on_marketplace"


def test_version_is_printed(run_cli: RunCli) -> None:
    from assistant import __version__

    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"order-assistant {__version__}"


def test_help_lists_the_commands(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    assert "diagnose" in result.stdout
    assert "rules" in result.stdout
    assert "--install-completion" in result.stdout


def test_nothing_to_diagnose_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("diagnose")
    assert result.exit_code == 2
    assert "give an order file" in result.stderr
    assert result.stdout == ""


def test_missing_order_file_names_the_file(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = run_cli("diagnose", str(missing))
    assert result.exit_code == 2
    assert f"{missing}: no such file" in result.stderr
    assert "Traceback" not in result.stderr


_COLOUR_CODE = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")


@pytest.mark.parametrize(
    ("env", "coloured"),
    [
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    ],
)
def test_no_color_turns_colours_off_even_when_forced(env: dict[str, str], coloured: bool) -> None:
    runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": None, **env})
    result = runner.invoke(app, ["diagnose", str(EXAMPLES / "sku_inactive.yaml")])
    assert result.exit_code == 0
    assert bool(_COLOUR_CODE.search(result.stdout)) is coloured


def test_closed_stdin_is_an_input_error() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "assistant", "diagnose", "-"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
        preexec_fn=lambda: os.close(0),
    )
    assert result.returncode == 2
    assert "<stdin>" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_exits_2_without_a_traceback() -> None:
    import subprocess
    import sys

    with Path("/dev/full").open("w") as full:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "assistant",
                "diagnose",
                str(EXAMPLES / "sku_inactive.json"),
                "--json",
                "--offline",
            ],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "could not write the output" in result.stderr
    assert "Traceback" not in result.stderr


def test_decomposed_unicode_message_is_recognised(run_cli: RunCli) -> None:
    import unicodedata

    message = unicodedata.normalize("NFD", "SKU sem política comercial vinculada")
    result = run_cli("diagnose", "--order-id", "1", "-m", message, "--json", "--offline")
    assert json.loads(result.stdout)["error"]["code"] == "sku_without_trade_policy"


@pytest.mark.parametrize(
    ("sku", "detail"),
    [
        ("0", "'0' has leading zeros"),
        ("0123", "'0123' has leading zeros"),
        ("99999999999", "is larger than 2147483647"),
        ("\u0661\u0662\u0663", "is not an integer"),
    ],
)
def test_sku_id_format_explains_why_an_id_is_not_a_vtex_id(
    run_cli: RunCli, sku: str, detail: str
) -> None:
    message = "Sku in order don't belong to a VTEX Store, sku id it's not an integer"
    result = run_cli(
        "diagnose", "--order-id", "1", "-m", message, "--sku", sku, "--json", "--offline"
    )
    checks = json.loads(result.stdout)["checks"]
    (format_check,) = [c for c in checks if c["name"] == "sku_id_format"]
    assert format_check["outcome"] == "fail"
    assert detail in format_check["detail"]


ORDER_OPTIONS = [
    "order",
    "--message",
    "--sku",
    "--order-id",
    "--postal-code",
    "--sales-channel",
    "--affiliate-id",
    "--country",
]


@pytest.mark.parametrize("command", ["diagnose", "verify", "guide"])
def test_every_one_order_command_lists_the_same_order_options_first(
    command: str, run_cli: RunCli
) -> None:
    # Declared once (assistant.cli.OrderInput): the three help texts agree, option by option.
    text = run_cli(command, "--help").stdout
    listed = re.findall(r"^  (?:-[a-z], )?(--[a-z-]+|order)\b", text, re.M)
    assert listed[: len(ORDER_OPTIONS)] == ORDER_OPTIONS


def test_order_flags_given_to_verify_reach_the_order(run_cli: RunCli) -> None:
    # No file: the flags alone make the order (then verify refuses to run without credentials).
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("VTEX_")}
    runner = CliRunner(env={**env_free, "NO_COLOR": "1"})
    bare = runner.invoke(app, ["verify"])
    assert bare.exit_code == 2
    assert "give an order file" in bare.stderr
    flagged = runner.invoke(
        app, ["verify", "-m", "No available SLA", "--order-id", "702-1", "--sku", "9"]
    )
    assert flagged.exit_code == 2
    assert "give an order file" not in flagged.stderr
    assert "VTEX_ACCOUNT" in flagged.stderr
