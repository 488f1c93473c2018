"""Review reproductions: situations where an earlier build said `confirmed`, `clean` or exited 0
for something it did not observe. Each test asserts the behaviour the contract asks for.

Driven like tests/test_evidence.py: the CLI against the loopback VTEX server.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import Result

from tests.test_online import KEY, NOT_IN_STORE, TOKEN, Run, order
from tests.vtex_server import VtexServer
from tests.vtex_store import AMAZON_WAREHOUSE, Sku, Store

# The loopback server and the CLI runner come from tests/loopback.py (a conftest plugin).
pytestmark = pytest.mark.usefixtures("no_real_waits")

SLA = "No available sla to deliver this order"
OUT_OF_STOCK = "Order with SKU out of stock"
WITHOUT_TRADE_POLICY = "SKU without trade policy"
SKU_CONTEXT = "GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/1070"
TRADE_POLICY_ROUTE = "GET /api/catalog_system/pub/saleschannel/3"


def with_routes(store: Store, routes: dict[str, object]) -> dict[str, object]:
    scenario = store.scenario()
    scenario["routes"].update(routes)
    return scenario


def healthy() -> Store:
    return Store().add(Sku("1070"))


def confirmed(result: Result) -> set[str]:
    document = json.loads(result.stdout)
    return {f["code"] for f in document["findings"] if f["status"] == "confirmed"}


def verdict(result: Result) -> str:
    return str(json.loads(result.stdout)["verdict"])


# ---- plan apply: a dry-run exits 0 without having observed the plan's orders ----------------

CSV = (
    "order_id,error_message,sku_id,quantity,affiliate_id,postal_code,country\n"
    "702-0000001-0000001,Inactive SKU,1070,1,MZN,01310-100,BRA\n"
    "702-0000002-0000002,Order with SKU out of stock,2000,5,MZN,01310-100,BRA\n"
)


def plan_store(*, sku_active: bool) -> Store:
    return (
        Store()
        .add(Sku("1070", active=sku_active))
        .add(Sku("2000", stock={AMAZON_WAREHOUSE: (1, 0)}))
    )


def write_plan(run: Run, tmp_path: Path) -> Path:
    orders, plan = tmp_path / "orders.csv", tmp_path / "plan.json"
    orders.write_text(CSV)
    result = run("triage", str(orders), "--plan", str(plan), store=plan_store(sku_active=False))
    assert result.exit_code == 1, result.stderr
    document = json.loads(plan.read_text())
    assert [fix["id"] for fix in document["fixes"]] == ["activate_sku:1070"]
    assert [group["finding"] for group in document["manual"]] == ["insufficient_stock"]
    return plan


def test_plan_apply_dry_run_whose_reread_failed_does_not_exit_0(run: Run, tmp_path: Path) -> None:
    plan = write_plan(run, tmp_path)
    broken = with_routes(
        plan_store(sku_active=False),
        {"GET /api/catalog/pvt/stockkeepingunit/1070": {"status": 500, "body": {"Message": "x"}}},
    )
    result = run("plan", "apply", str(plan), scenario=broken)
    assert "could not re-read" in result.stdout
    assert result.exit_code != 0


def test_plan_apply_dry_run_with_a_manual_cause_open_does_not_exit_0(
    run: Run, tmp_path: Path
) -> None:
    plan = write_plan(run, tmp_path)
    # The SKU was activated meanwhile; the other order is still short of stock (manual).
    result = run("plan", "apply", str(plan), store=plan_store(sku_active=True))
    assert "already fixed" in result.stdout
    assert result.exit_code != 0


# ---- trade-policy ids: "03" is trade policy 3 -------------------------------------------------


def test_a_sales_channel_written_03_does_not_confirm_a_dock_cause(run: Run) -> None:
    scenario = with_routes(
        healthy(),
        {"GET /api/catalog_system/pub/saleschannel/03": healthy().routes()[TRADE_POLICY_ROUTE]},
    )
    result = run("verify", *order(SLA, sales_channel="03"), "--json", scenario=scenario)
    assert "dock_not_in_trade_policy" not in confirmed(result)
    assert result.exit_code == 0


# ---- a 200 with a `null` body is not "not found" ----------------------------------------------


@pytest.mark.parametrize(
    ("route", "message", "code"),
    [
        (TRADE_POLICY_ROUTE, SLA, "trade_policy_inactive"),
        ("GET /api/logistics/pvt/shipping-policies/sp-amazon", SLA, "shipping_policy_inactive"),
        (SKU_CONTEXT, NOT_IN_STORE, "sku_not_found"),
    ],
)
def test_a_null_200_confirms_nothing(run: Run, route: str, message: str, code: str) -> None:
    scenario = with_routes(healthy(), {route: {"body": None}})
    result = run("verify", *order(message), "--json", scenario=scenario)
    assert code not in confirmed(result)
    assert result.exit_code == 3


# ---- FBA: zero stock in an ordinary warehouse is not "restock" --------------------------------


def test_an_fba_order_without_the_unlimited_warehouse_does_not_confirm_insufficient_stock(
    run: Run,
) -> None:
    store = Store().add(Sku("1070", stock={AMAZON_WAREHOUSE: (0, 0)}))
    args = order(SLA)
    args[1] += "_FBA"
    result = run("verify", *args, "--json", store=store)
    assert "insufficient_stock" not in confirmed(result)


# ---- a field VTEX left out is not an empty index ----------------------------------------------


@pytest.mark.parametrize("shape", ["missing", "null"])
def test_a_sku_context_without_sales_channels_does_not_confirm_a_stale_index(
    run: Run, shape: str
) -> None:
    body = copy.deepcopy(healthy().routes()[SKU_CONTEXT]["body"])
    if shape == "missing":
        del body["SalesChannels"]
    else:
        body["SalesChannels"] = None
    scenario = with_routes(healthy(), {SKU_CONTEXT: {"body": body}})
    result = run("verify", *order(WITHOUT_TRADE_POLICY), "--json", scenario=scenario)
    assert "catalog_index_stale" not in confirmed(result)


# ---- restrictedFreights: the freight row itself says the postal code is excluded --------------


def test_a_postal_code_in_restricted_freights_is_not_covered(run: Run) -> None:
    row = {
        "zipCodeStart": "00000000",
        "zipCodeEnd": "99999999",
        "country": "BRA",
        "restrictedFreights": ["01310100"],
    }
    scenario = with_routes(
        Store(simulation="no_sla").add(Sku("1070")),
        {
            "GET /api/logistics/pvt/configuration/freights/sp-amazon/01310-100/values": {
                "body": [row]
            }
        },
    )
    result = run("verify", *order(SLA), "--json", scenario=scenario)
    assert "no_sla_unexplained" not in confirmed(result)
    assert "postal_code_not_covered" in confirmed(result)


# ---- verify: "clean" with nothing checked -----------------------------------------------------


def test_verify_is_not_clean_for_a_validation_error_it_did_not_check(run: Run) -> None:
    message = "A validation error occurred while trying to process the order"
    result = run("verify", *order(message), "--json", store=healthy())
    assert json.loads(result.stdout)["checks"] == []
    assert verdict(result) != "clean"
    assert result.exit_code != 0


# ---- guide --apply: a link written on a suspected cause, to a collection-based trade policy ---


def test_guide_never_links_a_product_when_the_trade_policy_could_not_be_read(
    run: Run, server: VtexServer, tmp_path: Path
) -> None:
    store = Store(collection="77", collection_products=[]).add(Sku("1070", trade_policies=["1"]))
    scenario = with_routes(store, {TRADE_POLICY_ROUTE: {"status": 500, "body": {"Message": "x"}}})
    answers = tmp_path / "answers.yaml"
    # The operator truthfully answers that trade policy 3 is not ticked on the product.
    answers.write_text(yaml.safe_dump({"link-trade-policy.check-linked": "no"}))
    args = [*order(WITHOUT_TRADE_POLICY), "--apply", "--yes", "--answers", str(answers)]
    run("guide", *args, scenario=scenario)
    assert [w.path for w in server.writes()] == []


# ---- empty logistics lists that contradict the inventory --------------------------------------


def test_an_empty_warehouse_list_contradicting_the_inventory_confirms_nothing(run: Run) -> None:
    scenario = with_routes(
        healthy(), {"GET /api/logistics/pvt/configuration/warehouses": {"body": []}}
    )
    result = run("verify", *order(SLA), "--json", scenario=scenario)
    assert "dock_not_in_trade_policy" not in confirmed(result)


# ---- the order's sales channel and Amazon's affiliate disagree --------------------------------


def test_guide_does_not_link_to_a_sales_channel_the_affiliate_contradicts(
    run: Run, server: VtexServer
) -> None:
    # Amazon's affiliate (MZN) says trade policy 3, and the product is in it; the order context
    # names 1, the store's own. Linking the product to 1 puts it on the main store.
    store = Store().add(Sku("1070", trade_policies=["3"]))
    main = copy.deepcopy(store.routes()[TRADE_POLICY_ROUTE])
    main["body"].update(Id=1, Name="Main store")
    scenario = with_routes(store, {"GET /api/catalog_system/pub/saleschannel/1": main})
    args = [*order(WITHOUT_TRADE_POLICY, sales_channel="1"), "--apply", "--yes"]
    run("guide", *args, scenario=scenario)
    assert [w.path for w in server.writes()] == []


# ---- plan files: a new plan is its own, an edited one is refused ------------------------------


def test_a_new_plan_written_over_an_old_one_is_applied_afresh(
    run: Run, server: VtexServer, tmp_path: Path
) -> None:
    plan = write_plan(run, tmp_path)
    store = plan_store(sku_active=False)
    server.set_store(store)
    server.clear_requests()
    first = run_live(run, "plan", "apply", str(plan), "--apply", "--yes")
    assert [w.path for w in server.writes()] == ["/api/catalog/pvt/stockkeepingunit/1070"]
    assert first.exit_code == 1, first.stderr  # the stock order stays blocked
    # The SKU is switched off again; a new triage writes a new plan under the same name.
    store.skus["1070"].active = False
    store.skus["1070"].record = None
    plan.unlink()
    write_plan(run, tmp_path)
    server.set_store(store)
    server.clear_requests()
    run_live(run, "plan", "apply", str(plan), "--apply", "--yes")
    assert [w.path for w in server.writes()] == ["/api/catalog/pvt/stockkeepingunit/1070"]


def run_live(run: Run, *args: str) -> Result:
    """Like `run`, but against the server's live (stateful) store, which carries out writes."""
    from typer.testing import CliRunner

    from assistant.cli import app
    from tests.vtex_server import env_for

    env = {**env_for(run.server, app_key=KEY, app_token=TOKEN), "NO_COLOR": "1"}
    return CliRunner(env=env).invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("path", "/api/catalog/pvt/stockkeepingunit/3333"),
        ("orders", ["702-9999999-9999999"]),
        ("evidence", ["edited"]),
    ],
)
def test_a_plan_edited_by_hand_is_refused(
    field: str, value: object, run: Run, tmp_path: Path
) -> None:
    plan = write_plan(run, tmp_path)
    document = json.loads(plan.read_text())
    document["fixes"][0][field] = value
    plan.write_text(json.dumps(document))
    result = run("plan", "show", str(plan))
    assert result.exit_code == 2
    assert "edited" in result.stderr
    assert "state_digest" in result.stderr


def test_plan_must_not_overwrite_the_export_or_the_csv_report(run: Run, tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(CSV)
    result = run("triage", str(orders), "--plan", str(orders), store=plan_store(sku_active=False))
    assert result.exit_code == 2
    assert orders.read_text() == CSV
    report = tmp_path / "report.csv"
    result = run(
        "triage",
        str(orders),
        "--csv",
        str(report),
        "--plan",
        str(report),
        store=plan_store(sku_active=False),
    )
    assert result.exit_code == 2
    assert not report.exists()


def test_plan_without_credentials_writes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    orders, report = tmp_path / "orders.csv", tmp_path / "report.csv"
    orders.write_text(CSV)
    env: dict[str, str | None] = dict.fromkeys(
        ("VTEX_ACCOUNT", "VTEX_APP_KEY", "VTEX_APP_TOKEN", "VTEX_BASE_URL")
    )
    result = CliRunner(env=env).invoke(
        app,
        ["triage", str(orders), "--plan", str(tmp_path / "p.json"), "--json", "--csv", str(report)],
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert not report.exists()
    assert not (tmp_path / "p.json").exists()


def test_a_dry_run_without_credentials_cannot_decide(run: Run, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    plan = write_plan(run, tmp_path)
    env: dict[str, str | None] = dict.fromkeys(
        ("VTEX_ACCOUNT", "VTEX_APP_KEY", "VTEX_APP_TOKEN", "VTEX_BASE_URL")
    )
    result = CliRunner(env=env).invoke(app, ["plan", "apply", str(plan)])
    assert result.exit_code == 3, result.stdout
