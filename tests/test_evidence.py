"""Evidence-grade diagnosis: `confirmed` only when what VTEX returned proves that cause by itself.

Each test is a situation that is common in real stores, against the loopback VTEX server, and
asserts the finding codes and statuses, the exact requests made, and that nothing was written.
The first five are regressions: earlier builds confirmed the wrong cause in each of them.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import Result

from assistant.fixes import plan_link_trade_policy
from assistant.vtex import VtexClient, VtexConfig
from tests.test_online import KEY, NOT_IN_STORE, TOKEN, UNAUTHORIZED, Run, order
from tests.vtex_server import VtexServer, env_for
from tests.vtex_store import AMAZON_WAREHOUSE, TRADE_POLICY, Sku, Store

# The loopback server and the CLI runner come from tests/loopback.py (a conftest plugin).
pytestmark = pytest.mark.usefixtures("no_real_waits")

SLA = "No available sla to deliver this order"
WITHOUT_TRADE_POLICY = "SKU without trade policy"
SALES_POLICY_LINK = f"/api/catalog/pvt/product/91070/salespolicy/{TRADE_POLICY}"


def statuses(result: Result) -> dict[tuple[str, str | None], str]:
    document = json.loads(result.stdout)
    return {(f["code"], f["sku_id"]): f["status"] for f in document["findings"]}


def evidence(result: Result, code: str) -> str:
    document = json.loads(result.stdout)
    return " ".join(e for f in document["findings"] if f["code"] == code for e in f["evidence"])


def gets(server: VtexServer) -> list[str]:
    return [r.path for r in server.requests if r.method == "GET"]


def store(*skus: Sku, **changes: object) -> Store:
    built = Store(**changes)  # type: ignore[arg-type]
    for sku in skus or (Sku("1070"),):
        built.add(sku)
    return built


# ---- 1. an empty trade-policy list is every trade policy -------------------------------------

STALE = store(Sku("1070", trade_policies=[], indexed=["1"]))


@pytest.mark.parametrize("message", [WITHOUT_TRADE_POLICY, SLA])
def test_an_empty_product_list_with_a_stale_index_is_a_reindex_never_a_link(
    message: str, run: Run, server: VtexServer
) -> None:
    result = run("diagnose", *order(message), "--json", store=STALE)
    found = statuses(result)
    assert found[("catalog_index_stale", "1070")] == "confirmed"
    assert ("sku_not_in_trade_policy", "1070") not in found
    assert "no trade policy ticked" in evidence(result, "catalog_index_stale")
    assert "/api/catalog/pvt/product/91070/salespolicy" in gets(server)
    assert server.writes() == []


def test_guide_apply_yes_never_links_a_product_whose_list_is_empty(
    run: Run, server: VtexServer
) -> None:
    result = run("guide", *order(WITHOUT_TRADE_POLICY), "--apply", "--yes", store=STALE)
    assert result.exit_code == 1  # the index is still stale: the cause remains
    assert [w.path for w in server.writes()] == []


def test_the_link_fix_refuses_a_product_with_no_trade_policy_ticked(server: VtexServer) -> None:
    server.set_scenario(STALE.scenario())
    env = env_for(server, app_key=KEY, app_token=TOKEN)
    with (
        VtexClient(VtexConfig.from_env(env), sleep=lambda _: None) as client,
        pytest.raises(ValueError, match="already in every trade policy"),
    ):
        plan_link_trade_policy(client, "91070", TRADE_POLICY)
    assert server.writes() == []


def test_a_ticked_list_that_lacks_amazons_policy_is_still_confirmed(run: Run) -> None:
    result = run(
        "diagnose",
        *order(WITHOUT_TRADE_POLICY),
        "--json",
        store=store(Sku("1070", trade_policies=["1"])),
    )
    assert statuses(result) == {("sku_not_in_trade_policy", "1070"): "confirmed"}


# ---- 2. the id Amazon sent may be an EAN -----------------------------------------------------


@pytest.mark.parametrize(("ean", "looked_up_by_id"), [("7891234567895", False), ("78912345", True)])
def test_an_ean_is_a_sku_id_mismatch_naming_the_vtex_sku(
    ean: str, looked_up_by_id: bool, run: Run, server: VtexServer
) -> None:
    result = run("diagnose", *order(NOT_IN_STORE, ean), "--json", store=store(Sku("1070", ean=ean)))
    assert statuses(result)[("sku_id_mismatch", ean)] == "confirmed"
    assert ("sku_not_found", ean) not in statuses(result)
    assert "EAN (bar code) of SKU 1070" in evidence(result, "sku_id_mismatch")
    lookups = [
        path
        for path in gets(server)
        if path.startswith("/api/catalog_system/pvt/sku/") and ean in path
    ]
    by_id = [f"/api/catalog_system/pvt/sku/stockkeepingunitbyid/{ean}"] if looked_up_by_id else []
    assert lookups == [
        *by_id,
        f"/api/catalog_system/pvt/sku/stockkeepingunitidbyrefid/{ean}",
        f"/api/catalog_system/pvt/sku/stockkeepingunitbyean/{ean}",
    ]


def test_not_found_needs_the_id_the_refid_and_the_ean_to_miss(run: Run, server: VtexServer) -> None:
    result = run("diagnose", *order(NOT_IN_STORE, "5555"), "--json", store=store())
    assert statuses(result)[("sku_not_found", "5555")] == "confirmed"
    assert "id, RefId or EAN" in evidence(result, "sku_not_found")
    paths = gets(server)
    for lookup in ("stockkeepingunitbyid", "stockkeepingunitidbyrefid", "stockkeepingunitbyean"):
        assert f"/api/catalog_system/pvt/sku/{lookup}/5555" in paths


def test_a_failed_ean_lookup_never_confirms_not_found(run: Run) -> None:
    scenario = store().scenario()
    scenario["routes"]["GET /api/catalog_system/pvt/sku/stockkeepingunitbyean/5555"] = {
        "status": 500
    }
    result = run("verify", *order(NOT_IN_STORE, "5555"), "--json", scenario=scenario)
    assert result.exit_code == 3
    assert "confirmed" not in statuses(result).values()


# ---- 3. "no SLA" alone proves no cause -------------------------------------------------------


def test_an_empty_simulation_with_covered_postal_code_confirms_no_coverage_gap(
    run: Run, server: VtexServer
) -> None:
    result = run("verify", *order(SLA), "--json", store=store(simulation="no_sla"))
    found = statuses(result)
    assert found[("postal_code_not_covered", None)] == "suspected"
    assert ("postal_code_not_covered", "1070") not in found
    assert "Shipping simulator" in evidence(result, "postal_code_not_covered")
    assert result.exit_code == 3  # a carrier limit the API cannot read is still open
    assert "/api/logistics/pvt/configuration/freights/sp-amazon/01310-100/values" in gets(server)


def test_coverage_is_read_from_the_freight_values(run: Run, server: VtexServer) -> None:
    result = run("verify", *order(SLA), "--json", store=store(simulation="no_sla", covered=False))
    assert statuses(result) == {("postal_code_not_covered", "1070"): "confirmed"}
    assert "has freight values covering postal code 01310-100" in evidence(
        result, "postal_code_not_covered"
    )
    assert result.exit_code == 1


def test_an_inactive_shipping_policy_is_its_own_cause_not_a_coverage_gap(
    run: Run, server: VtexServer
) -> None:
    result = run(
        "diagnose",
        *order(SLA),
        "--json",
        store=store(shipping_policies={"sp-amazon": False}, simulation="no_sla"),
    )
    assert statuses(result) == {("shipping_policy_inactive", "1070"): "confirmed"}
    assert "/api/logistics/pvt/shipping-policies/sp-amazon" in gets(server)
    # Coverage is not read through an inactive carrier.
    assert not [p for p in gets(server) if "/freights/" in p]


# ---- 4. VTEX support only after every check ran and passed -----------------------------------


def test_no_sla_unexplained_needs_every_check_to_have_run(run: Run) -> None:
    scenario = store(simulation="unavailable").scenario()
    freight = "GET /api/logistics/pvt/configuration/freights/sp-amazon/01310-100/values"
    scenario["routes"][freight] = {"status": 500}
    result = run("verify", *order(SLA), "--json", scenario=scenario)
    assert ("no_sla_unexplained", None) not in statuses(result)
    assert "confirmed" not in statuses(result).values()
    assert result.exit_code == 3


def test_the_simulations_availability_text_decides_nothing(run: Run) -> None:
    available = run("diagnose", *order(SLA), "--json", store=store(simulation="no_sla"))
    unavailable = run("diagnose", *order(SLA), "--json", store=store(simulation="unavailable"))
    assert statuses(available) == statuses(unavailable)
    assert statuses(available)[("no_sla_unexplained", None)] == "confirmed"
    assert "availability: withoutStock" in evidence(unavailable, "no_sla_unexplained")


# ---- 5. the binding is always a candidate for "unauthorized" ---------------------------------


def test_binding_stays_a_candidate_when_the_trade_policy_is_inactive(run: Run) -> None:
    result = run("verify", *order(UNAUTHORIZED), "--json", store=store(trade_policy_active=False))
    assert statuses(result) == {
        ("trade_policy_inactive", None): "confirmed",
        ("binding_missing_trade_policy", None): "suspected",
    }
    assert result.exit_code == 1


# ---- 6. a collection-based assortment --------------------------------------------------------


def test_a_sku_outside_the_trade_policys_collection_is_never_a_link(
    run: Run, server: VtexServer
) -> None:
    collection = store(
        Sku("1070", trade_policies=["1"]), collection="12", collection_products=["95555"]
    )
    result = run("diagnose", *order(WITHOUT_TRADE_POLICY), "--json", store=collection)
    assert statuses(result) == {("sku_not_in_collection", "1070"): "confirmed"}
    assert "collection 12" in evidence(result, "sku_not_in_collection")
    assert [p for p in gets(server) if "/collection/" in p] == [
        "/api/catalog/pvt/collection/12/products"
    ]
    guided = run("guide", *order(WITHOUT_TRADE_POLICY), "--apply", "--yes", store=collection)
    assert guided.exit_code == 1  # adding to the collection is a manual step
    assert server.writes() == []


def test_a_sku_inside_the_collection_is_clean(run: Run) -> None:
    collection = store(collection="12", collection_products=["91070"])
    result = run("verify", *order(WITHOUT_TRADE_POLICY), "--json", store=collection)
    assert result.exit_code == 0
    assert statuses(result) == {}


# ---- 7. FBA orders ---------------------------------------------------------------------------


def fba_order(message: str) -> list[str]:
    args = order(message)
    args[1] = "702-8214511-0034561_FBA"
    return args


def test_fba_without_unlimited_inventory_stays_suspected_with_the_admin_screen(run: Run) -> None:
    result = run("verify", *fba_order(SLA), "--json", store=store(simulation="unavailable"))
    found = statuses(result)
    assert found[("dock_not_in_trade_policy", None)] == "suspected"
    text = evidence(result, "dock_not_in_trade_policy")
    assert "no warehouse" in text
    assert "unlimited inventory" in text
    assert "Marketplace > Connections > Marketplaces and Integrations" in text
    assert result.exit_code == 3


def test_fba_with_unlimited_inventory_still_leaves_the_connector_to_the_operator(
    run: Run,
) -> None:
    unlimited = store(Sku("1070", unlimited=True, stock={AMAZON_WAREHOUSE: (0, 0)}))
    result = run("verify", *fba_order(SLA), "--json", store=unlimited)
    assert statuses(result) == {("dock_not_in_trade_policy", None): "suspected"}
    assert "holds every SKU" in evidence(result, "dock_not_in_trade_policy")
    assert result.exit_code == 3


def test_a_non_fba_order_gets_no_fba_candidate(run: Run) -> None:
    result = run("verify", *order(SLA), "--json", store=store())
    assert result.exit_code == 0
    assert statuses(result) == {}


# ---- ids that look like another SKU's --------------------------------------------------------


def test_an_id_with_leading_zeros_names_the_sku_it_pads(run: Run, server: VtexServer) -> None:
    result = run("diagnose", *order(NOT_IN_STORE, "01070"), "--json", store=store())
    assert statuses(result)[("sku_id_mismatch", "01070")] == "confirmed"
    assert ("sku_not_found", "01070") not in statuses(result)
    assert "leading zeros" in evidence(result, "sku_id_mismatch")
    assert "/api/catalog_system/pvt/sku/stockkeepingunitbyid/1070" in gets(server)


def test_a_refid_naming_a_sku_that_does_not_exist_is_no_mismatch(run: Run) -> None:
    scenario = store().scenario()
    refid = "GET /api/catalog_system/pvt/sku/stockkeepingunitidbyrefid/CAM-OLD"
    scenario["routes"][refid] = {"body": "9999"}
    result = run("diagnose", *order(NOT_IN_STORE, "CAM-OLD"), "--json", scenario=scenario)
    assert statuses(result)[("sku_not_found", "CAM-OLD")] == "confirmed"
    assert ("sku_id_mismatch", "CAM-OLD") not in statuses(result)
    assert "SKU 9999, which does not exist" in evidence(result, "sku_not_found")


# ---- logistics details -------------------------------------------------------------------------


def test_a_linked_but_inactive_dock_says_activate_it(run: Run) -> None:
    result = run("diagnose", *order(SLA), "--json", store=store(amazon_dock_active=False))
    assert statuses(result)[("dock_not_in_trade_policy", "1070")] == "confirmed"
    assert "dock-amazon] are linked to it but inactive, activate them" in evidence(
        result, "dock_not_in_trade_policy"
    )


def test_a_collection_answer_without_total_pages_is_read_to_its_last_page(
    server: VtexServer,
) -> None:
    full = [{"ProductId": 100 + n, "SkuId": None} for n in range(50)]
    last = [{"ProductId": 91070, "SkuId": None}]
    base = "GET /api/catalog/pvt/collection/12/products"
    server.set_scenario(
        {
            "routes": {
                f"{base}?page=1&pageSize=50": {"body": {"Page": 1, "Data": full}},
                f"{base}?page=2&pageSize=50": {"body": {"Page": 2, "Data": last}},
            }
        }
    )
    env = env_for(server, app_key=KEY, app_token=TOKEN)
    with VtexClient(VtexConfig.from_env(env), sleep=lambda _: None) as client:
        assert "91070" in client.get_collection_product_ids("12")
