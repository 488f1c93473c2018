"""The VTEX client: documented responses, quirks, retries, permissions, cache, config, secrets.

Responses come from tests/fixtures/vtex/ (the spec examples, see its README). HTTP is mocked with
respx, except in one test that talks to a real loopback server. No test sleeps: the client's
sleep and clocks are a fake that records the waits it was asked for.
"""

from __future__ import annotations

import contextlib
import email.utils
import inspect
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from assistant.errors import AssistantError
from assistant.vtex import (
    Affiliate,
    Dock,
    ProductSalesPolicy,
    RateLimiter,
    Simulation,
    SimulationItem,
    SkuContext,
    VtexApiError,
    VtexClient,
    VtexConfig,
    VtexConfigError,
    VtexPermissionError,
    parse_retry_after,
)
from assistant.vtex.deadline import Deadline
from tests.vtex_fakes import BASE, ENV, FIXTURES, KEY, TOKEN, WALL_NOW, FakeTime, load

SKU_PATH = "/api/catalog_system/pvt/sku/stockkeepingunitbyid/2001773"
REF_ID_PATH = "/api/catalog_system/pvt/sku/stockkeepingunitidbyrefid/878181"
SALES_POLICY_PATH = "/api/catalog/pvt/product/2001426/salespolicy"
TRADE_POLICY_PATH = "/api/catalog_system/pub/saleschannel/1"
AFFILIATE_PATH = "/api/fulfillment/pvt/affiliates/MZN"
INVENTORY_PATH = "/api/logistics/pvt/inventory/skus/2001773"
DOCKS_PATH = "/api/logistics/pvt/configuration/docks"
WAREHOUSES_PATH = "/api/logistics/pvt/configuration/warehouses"
SIMULATION_PATH = "/api/checkout/pub/orderForms/simulation"

ITEMS = [SimulationItem(id="1", quantity=1, seller="1")]


def simulate(client: VtexClient) -> Simulation:
    return client.simulate(ITEMS, "12345-000", "BRA", 1, "MZN")


# ---- each endpoint's documented response -----------------------------------------------------


def test_sku_context_is_read_with_its_ids_as_text(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    vtex.get(SKU_PATH).respond(json=load("sku_context.json"))
    sku = client.get_sku(2001773)
    assert sku is not None
    assert (sku.Id, sku.ProductId, sku.IsActive, sku.IsProductActive) == (
        "2001773",
        "2001426",
        True,
        True,
    )
    # Catalog sends the trade policies as integers; they compare as the strings other APIs use.
    assert sku.SalesChannels == ["1", "2", "3", "10"]
    # The SKU context has no top-level RefId: it is AlternateIds.RefId.
    assert sku.ref_id == "878181"
    assert sku.SkuSellers[0].SellerId == "1"
    assert sku.Images


def test_sku_id_by_ref_id_reads_the_bare_json_string(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    vtex.get(REF_ID_PATH).respond(json=load("sku_id_by_ref_id.json"))
    assert client.get_sku_id_by_ref_id("878181") == "1"


def test_sku_id_by_ref_id_as_a_json_number_is_the_same_id(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    # The spec documents a string; an integer body names the same SKU.
    vtex.get(REF_ID_PATH).respond(json=1)
    assert client.get_sku_id_by_ref_id("878181") == "1"


def test_product_sales_policies_give_the_trade_policy_ids(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    vtex.get(SALES_POLICY_PATH).respond(json=load("product_sales_policies.json"))
    policies = client.get_product_sales_policies("2001426")
    assert [p.StoreId for p in policies] == ["1", "2", "3", "4"]
    assert {p.ProductId for p in policies} == {"1"}


def test_trade_policy_is_read(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(TRADE_POLICY_PATH).respond(json=load("trade_policy.json"))
    policy = client.get_trade_policy(1)
    assert policy is not None
    assert (policy.Id, policy.Name, policy.IsActive) == ("1", "Main store", True)


def test_affiliate_gives_its_trade_policy(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(AFFILIATE_PATH).respond(json=load("affiliate.json"))
    affiliate = client.get_affiliate("MZN")
    assert affiliate is not None
    assert (affiliate.id, affiliate.salesChannel) == ("LNG", "1")


def test_inventory_lists_each_warehouse_balance(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(INVENTORY_PATH).respond(json=load("inventory_by_sku.json"))
    inventory = client.get_inventory("2001773")
    assert [b.warehouseId for b in inventory.balance] == ["1fabf84", "14e3fcc", "102e53e"]
    first = inventory.balance[0]
    assert (first.totalQuantity, first.reservedQuantity, first.hasUnlimitedQuantity) == (
        0,
        0,
        False,
    )
    assert first.available_quantity == 0


def test_docks_carry_their_trade_policies(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(DOCKS_PATH).respond(json=load("docks.json"))
    docks = client.list_docks()
    assert [(d.id, d.isActive, d.salesChannels) for d in docks] == [
        ("1aa131g", True, ["1", "2", "3"]),
        ("doc_dockTest", True, ["1"]),
    ]
    # The first documented dock has no singular `salesChannel`.
    assert [d.salesChannel for d in docks] == [None, "1"]
    assert docks[1].freightTableIds == ["andreia-sp-01"]


def test_warehouses_carry_their_docks(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(WAREHOUSES_PATH).respond(json=load("warehouses.json"))
    warehouses = client.list_warehouses()
    assert [(w.id, w.isActive) for w in warehouses] == [("1937054", True), ("140ac66", True)]
    assert warehouses[0].warehouseDocks[0].dockId == "1_1_1"


def test_simulation_posts_items_postal_code_and_the_affiliate(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    route = vtex.post(SIMULATION_PATH).respond(json=load("simulation.json"))
    result = simulate(client)
    request = route.calls.last.request
    assert dict(request.url.params) == {"sc": "1", "affiliateId": "MZN"}
    assert json.loads(request.content) == {
        "items": [{"id": "1", "quantity": 1, "seller": "1"}],
        "postalCode": "12345-000",
        "country": "BRA",
    }
    item = result.item_for(0)
    assert item is not None
    assert item.availability == "available"
    slas = result.slas_for(0)
    assert slas is not None
    assert [s.id for s in slas] == ["Normal"]
    assert slas[0].deliveryIds[0].warehouseId == "1_1"
    assert result.messages == []


# ---- the documented quirks -------------------------------------------------------------------


def test_ids_as_integers_or_strings_read_the_same() -> None:
    # Catalog types trade policy ids as integers, the affiliate and the docks as strings
    # (NOTES-vtex-api.md §12); each model reads both.
    sku = load("sku_context.json")
    as_strings = SkuContext.model_validate({**sku, "Id": "2001773", "SalesChannels": ["1", "2"]})
    as_ints = SkuContext.model_validate({**sku, "Id": 2001773, "SalesChannels": [1, 2]})
    assert as_strings == as_ints
    affiliate = load("affiliate.json")
    assert Affiliate.model_validate({**affiliate, "salesChannel": 1}).salesChannel == "1"
    dock = load("docks.json")[0]
    assert Dock.model_validate({**dock, "salesChannels": [1, 2]}).salesChannels == ["1", "2"]
    assert ProductSalesPolicy.model_validate({"ProductId": "1", "StoreId": "2"}).StoreId == "2"


def test_a_boolean_is_not_an_id() -> None:
    with pytest.raises(ValidationError):
        Affiliate.model_validate({**load("affiliate.json"), "salesChannel": True})


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # The Checkout spec types `messages` as string[].
        ("Item indisponível", ("Item indisponível", None, None)),
        # The Marketplace Protocol simulation spec types them as objects.
        (
            {"messageId": "M1", "messageText": "No SLA", "messageType": "error"},
            ("No SLA", "M1", "error"),
        ),
        # Seen in practice (NOTES-vtex-api.md §7, unverified): {code, text, status}.
        (
            {"code": "ORD027", "text": "Item indisponível", "status": "warning"},
            ("Item indisponível", "ORD027", "warning"),
        ),
    ],
    ids=["string", "marketplace-object", "code-text-status"],
)
def test_simulation_messages_are_read_in_any_documented_shape(
    message: Any, expected: tuple[str, str | None, str | None]
) -> None:
    body = {**load("simulation.json"), "messages": [message]}
    (read,) = Simulation.model_validate(body).messages
    assert (read.text, read.code, read.status) == expected


def test_simulation_messages_nested_in_logistics_info_are_found_too() -> None:
    # The Checkout spec's schema nests `messages` inside logisticsInfo[] (its example does not).
    body = load("simulation.json")
    body["logisticsInfo"][0]["messages"] = ["nested"]
    assert [m.text for m in Simulation.model_validate(body).all_messages] == ["nested"]


def test_simulation_without_sla_and_without_the_item() -> None:
    body = load("simulation.json")
    body["logisticsInfo"][0]["slas"] = []  # the reliable "no SLA" signal (NOTES §7)
    assert Simulation.model_validate(body).slas_for(0) == []
    body["items"], body["logisticsInfo"] = [], []  # not sellable in that trade policy
    missing = Simulation.model_validate(body)
    assert (missing.item_for(0), missing.slas_for(0)) == (None, None)


def test_missing_optional_fields_and_nulls_are_tolerated() -> None:
    sku = SkuContext.model_validate(
        {"Id": 1, "ProductId": 2, "IsActive": False, "SalesChannels": None, "Unknown": 1}
    )
    # A null SalesChannels is unknown, not an empty index (an empty one would read as stale).
    assert (sku.SalesChannels, sku.IsProductActive, sku.ref_id) == (None, None, None)
    assert Simulation.model_validate({"items": None, "messages": None}).messages == []


@pytest.mark.parametrize("content", [b"", b" \r\n\t "], ids=["empty", "blank"])
def test_an_empty_or_blank_200_is_an_error_never_not_found(
    client: VtexClient, vtex: respx.MockRouter, content: bytes
) -> None:
    # Issue 11 item 7: a 200 that says nothing is neither "no such SKU" (that is a 404) nor
    # a confirmation; the check that needed it cannot run.
    vtex.get(SKU_PATH).respond(200, content=content)
    with pytest.raises(VtexApiError, match="answered 200 with an empty body"):
        client.get_sku("2001773")


# ---- retries ---------------------------------------------------------------------------------


def test_429_waits_what_retry_after_says(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime
) -> None:
    vtex.get(SKU_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json=load("sku_context.json")),
        ]
    )
    assert client.get_sku("2001773") is not None
    assert fake_time.sleeps == [7.0]
    assert client.request_count == 2


def test_retry_after_as_an_http_date(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime
) -> None:
    when = email.utils.formatdate(WALL_NOW + 12, usegmt=True)
    vtex.get(DOCKS_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": when}),
            httpx.Response(200, json=load("docks.json")),
        ]
    )
    client.list_docks()
    assert fake_time.sleeps == [12.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), (" 0 ", 0.0), ("-5", 0.0), ("soon", None), ("nan", None), (None, None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, WALL_NOW) == expected


def test_retry_after_in_the_past_means_now() -> None:
    past = email.utils.formatdate(WALL_NOW - 60, usegmt=True)
    assert parse_retry_after(past, WALL_NOW) == 0.0


def test_a_retry_after_beyond_the_cap_gives_up_instead_of_retrying_early(
    make_client: Callable[..., VtexClient], fake_time: FakeTime
) -> None:
    # Retrying sooner than VTEX asked would only be refused again: fail the check now.
    client = make_client(max_wait=20.0)
    with respx.mock(base_url=BASE) as vtex:
        route = vtex.get(DOCKS_PATH).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "3600"}),
                httpx.Response(200, json=[]),
            ]
        )
        with pytest.raises(VtexApiError, match="429"):
            client.list_docks()
    assert fake_time.sleeps == []
    assert route.call_count == 1


@pytest.mark.parametrize("status", [423, 500, 502, 503, 504])
def test_transient_status_is_retried_with_backoff(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime, status: int
) -> None:
    vtex.get(INVENTORY_PATH).mock(
        side_effect=[
            httpx.Response(status),
            httpx.Response(200, json=load("inventory_by_sku.json")),
        ]
    )
    assert client.get_inventory("2001773").balance
    assert fake_time.sleeps == [0.5]
    assert client.request_count == 2


def test_retries_are_bounded(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime
) -> None:
    # A Checkout 500 body as documented (gatewayCallback); it is not quoted in the message.
    route = vtex.post(SIMULATION_PATH).respond(503, json=load("error_checkout_500.json"))
    with pytest.raises(VtexApiError) as caught:
        simulate(client)
    assert route.call_count == client.request_count == 4  # 1 + 3 retries
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    error = caught.value
    assert error.exit_code == 3
    assert error.status == 503
    assert "POST /api/checkout/pub/orderForms/simulation" in error.message
    assert "503 after 4 attempts" in error.message
    assert "pagamento" not in error.message


def test_transport_errors_are_retried(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime
) -> None:
    vtex.get(WAREHOUSES_PATH).mock(
        side_effect=[httpx.ConnectTimeout, httpx.Response(200, json=load("warehouses.json"))]
    )
    assert client.list_warehouses()
    assert client.request_count == 2
    assert fake_time.sleeps == [0.5]


def test_no_response_at_all_is_an_api_error(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(WAREHOUSES_PATH).mock(side_effect=httpx.ConnectError)
    with pytest.raises(VtexApiError, match=r"no response \(ConnectError\) after 4 attempts"):
        client.list_warehouses()


# ---- permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "path", "resource"),
    [
        (lambda c: c.get_sku("2001773"), SKU_PATH, "Catalog > Content > SKUs"),
        (lambda c: c.get_sku_id_by_ref_id("878181"), REF_ID_PATH, "Catalog > Content > SKUs"),
        (lambda c: c.get_product_sales_policies(2001426), SALES_POLICY_PATH, "View Product"),
        (lambda c: c.get_trade_policy("1"), TRADE_POLICY_PATH, "View Product"),
        (lambda c: c.get_affiliate("MZN"), AFFILIATE_PATH, "Save Order Configuration"),
        (lambda c: c.get_inventory(2001773), INVENTORY_PATH, "Logistics inventory read only"),
        (lambda c: c.list_docks(), DOCKS_PATH, "Logistics viewer"),
        (lambda c: c.list_warehouses(), WAREHOUSES_PATH, "Logistics viewer"),
    ],
    ids=[
        "sku",
        "ref-id",
        "sales-policy",
        "trade-policy",
        "affiliate",
        "inventory",
        "docks",
        "warehouses",
    ],
)
@pytest.mark.parametrize("status", [401, 403])
def test_refusal_is_not_retried_and_names_the_resource(
    client: VtexClient,
    vtex: respx.MockRouter,
    fake_time: FakeTime,
    call: Callable[[VtexClient], object],
    path: str,
    resource: str,
    status: int,
) -> None:
    vtex.get(path).respond(status, json={"Message": "Forbidden"})
    with pytest.raises(VtexPermissionError) as caught:
        call(client)
    assert client.request_count == 1
    assert fake_time.sleeps == []
    error = caught.value
    assert isinstance(error, AssistantError)
    assert error.exit_code == 3
    assert resource in error.message
    assert f"GET {path}" in error.message
    assert TOKEN not in error.message
    assert KEY not in error.message


def test_401_also_points_at_the_key_pair(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(DOCKS_PATH).respond(401)
    with pytest.raises(VtexPermissionError, match="VTEX_APP_KEY and VTEX_APP_TOKEN"):
        client.list_docks()


# ---- 404 and other failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    "not_found",
    [
        httpx.Response(404, json=load("error_catalog_not_found.json")),
        # The legacy Catalog 404 is text/plain (skuseller changenotification, Catalog spec).
        httpx.Response(404, text="Seller StockKeepingUnit `1` not found for this seller id `1`"),
        httpx.Response(404),
    ],
    ids=["json-message", "plain-text", "empty"],
)
@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda c: c.get_sku("2001773"), SKU_PATH),
        (lambda c: c.get_sku_id_by_ref_id("878181"), REF_ID_PATH),
        (lambda c: c.get_trade_policy(1), TRADE_POLICY_PATH),
        (lambda c: c.get_affiliate("MZN"), AFFILIATE_PATH),
    ],
    ids=["sku", "ref-id", "trade-policy", "affiliate"],
)
def test_404_on_a_lookup_is_none_and_is_cached(
    client: VtexClient,
    vtex: respx.MockRouter,
    call: Callable[[VtexClient], object],
    path: str,
    not_found: httpx.Response,
) -> None:
    vtex.get(path).mock(return_value=not_found)
    assert call(client) is None
    assert call(client) is None
    assert client.request_count == 1


def test_404_on_a_listing_is_an_error(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(DOCKS_PATH).respond(404)
    with pytest.raises(VtexApiError, match="VTEX answered 404"):
        client.list_docks()


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, content=b"\xff\xfe{"),
        httpx.Response(400, text="This error can occur when the request body contains ..."),
        httpx.Response(400),
        httpx.Response(302, headers={"Location": "https://elsewhere.example/steal"}),
    ],
    ids=["html", "not-utf8", "plain-text-400", "empty-400", "redirect"],
)
def test_unusable_answers_are_api_errors(
    client: VtexClient, vtex: respx.MockRouter, response: httpx.Response
) -> None:
    vtex.get(SKU_PATH).mock(return_value=response)
    with pytest.raises(VtexApiError) as caught:
        client.get_sku("2001773")
    assert caught.value.message.startswith(f"VTEX GET {SKU_PATH}: VTEX answered ")
    assert client.request_count == 1  # not retried, redirect not followed


def test_an_unexpected_shape_is_an_api_error(client: VtexClient, vtex: respx.MockRouter) -> None:
    vtex.get(DOCKS_PATH).respond(json={"docks": "not a list"})
    with pytest.raises(VtexApiError, match="unexpected response shape"):
        client.list_docks()


# ---- cache and rate limit --------------------------------------------------------------------


def test_each_distinct_get_is_sent_once(client: VtexClient, vtex: respx.MockRouter) -> None:
    route = vtex.get(SKU_PATH).respond(json=load("sku_context.json"))
    other = vtex.get(SKU_PATH.replace("2001773", "2")).respond(json=load("sku_context.json"))
    assert client.get_sku("2001773") == client.get_sku(2001773)
    client.get_sku("2")
    assert (route.call_count, other.call_count, client.request_count) == (1, 1, 2)


def test_the_cache_holds_across_threads(client: VtexClient, vtex: respx.MockRouter) -> None:
    released = threading.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        # Hold the first request open until every thread has asked for the same SKU.
        released.wait(timeout=5)
        return httpx.Response(200, json=load("sku_context.json"))

    route = vtex.get(SKU_PATH).mock(side_effect=answer)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(client.get_sku, "2001773") for _ in range(16)]
        released.set()
        results = [f.result(timeout=10) for f in futures]
    assert route.call_count == 1
    assert all(r == results[0] for r in results)


def test_the_same_simulation_is_sent_once(client: VtexClient, vtex: respx.MockRouter) -> None:
    # A read-only POST: a backlog of identical orders asks for it once.
    route = vtex.post(SIMULATION_PATH).respond(json=load("simulation.json"))
    simulate(client)
    simulate(client)
    assert route.call_count == 1
    client.simulate([SimulationItem(id="2", quantity=1, seller="1")], "12345-000", "BRA", "1")
    assert route.call_count == 2


def test_requests_are_spaced_by_the_rate_limit(
    make_client: Callable[..., VtexClient], fake_time: FakeTime
) -> None:
    client = make_client(requests_per_second=2.0, burst=1)
    with respx.mock(base_url=BASE) as vtex:
        vtex.get(DOCKS_PATH).respond(json=[])
        vtex.get(WAREHOUSES_PATH).respond(json=[])
        vtex.get(SKU_PATH).respond(json=load("sku_context.json"))
        client.list_docks()
        client.list_warehouses()
        client.get_sku("2001773")
    assert fake_time.sleeps == [0.5, 0.5]


def test_the_bucket_refills_while_idle(fake_time: FakeTime) -> None:
    limiter = RateLimiter(rate=2.0, burst=2, clock=fake_time, sleep=fake_time.sleep)
    limiter.acquire()
    limiter.acquire()
    fake_time.now += 1.0
    limiter.acquire()
    limiter.acquire()
    assert fake_time.sleeps == []
    limiter.acquire()
    assert fake_time.sleeps == [0.5]


# ---- requests on the wire --------------------------------------------------------------------


def recording_transport(seen: list[httpx.Request], status: int = 404) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("sku_id", "segment"),
    [
        ("12/../../x", b"12%2F..%2F..%2Fx"),
        ("..", b"%2E%2E"),
        (".", b"%2E"),
        ("a?b#c", b"a%3Fb%23c"),
        ("a b", b"a%20b"),
    ],
)
def test_ids_cannot_change_the_path(
    make_client: Callable[..., VtexClient], sku_id: str, segment: bytes
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(transport=recording_transport(seen))
    assert client.get_sku(sku_id) is None
    (request,) = seen
    assert request.url.raw_path == b"/api/catalog_system/pvt/sku/stockkeepingunitbyid/" + segment
    assert request.url.host == "mystore.vtexcommercestable.com.br"


def test_every_request_carries_the_key_pair_json_headers_and_a_timeout(
    make_client: Callable[..., VtexClient],
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(transport=recording_transport(seen, status=200), timeout=4.0)
    with contextlib.suppress(VtexApiError):  # an empty 200: only the request matters here
        client.get_affiliate("MZN")
    (request,) = seen
    assert request.headers["X-VTEX-API-AppKey"] == KEY
    assert request.headers["X-VTEX-API-AppToken"] == TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.extensions["timeout"] == {
        "connect": 4.0,
        "read": 4.0,
        "write": 4.0,
        "pool": 4.0,
    }


def test_reads_send_only_gets_and_the_simulation_post(
    make_client: Callable[..., VtexClient],
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(transport=recording_transport(seen, status=200))
    for name, call in EVERY_CALL.items():
        # An empty 200 is not a list (VtexApiError): only the requests sent matter here.
        with contextlib.suppress(VtexApiError):
            call(client)
        assert seen, name
    sent = {(r.method, r.url.path) for r in seen}
    assert {method for method, _ in sent} == {"GET", "POST"}
    assert {path for method, path in sent if method == "POST"} == {SIMULATION_PATH}
    assert len(seen) == len(EVERY_CALL)


EVERY_CALL: dict[str, Callable[[VtexClient], object]] = {
    "get_sku": lambda c: c.get_sku("1"),
    "get_sku_id_by_ref_id": lambda c: c.get_sku_id_by_ref_id("R1"),
    "get_sku_by_ean": lambda c: c.get_sku_by_ean("7891234567895"),
    "get_shipping_policy": lambda c: c.get_shipping_policy("sp-1"),
    "get_freight_values": lambda c: c.get_freight_values("sp-1", "01000-001"),
    "get_collection_product_ids": lambda c: c.get_collection_product_ids("12"),
    "get_sku_record": lambda c: c.get_sku_record("1"),
    "get_product_sales_policies": lambda c: c.get_product_sales_policies("1"),
    "get_trade_policy": lambda c: c.get_trade_policy("1"),
    "get_affiliate": lambda c: c.get_affiliate("MZN"),
    "get_inventory": lambda c: c.get_inventory("1"),
    "list_docks": lambda c: c.list_docks(),
    "list_warehouses": lambda c: c.list_warehouses(),
    "simulate": simulate,
}
# The only methods that change the store (tests/test_vtex_writes.py).
WRITES = {"update_sku", "link_product_to_trade_policy"}


def test_the_only_write_methods_are_the_two_guide_fixes() -> None:
    public = {
        name
        for name, member in inspect.getmembers(VtexClient, callable)
        if not name.startswith("_")
    }
    # redact() only rewrites text; forget() only drops the client's own cache; cancel() only
    # stops this client's own calls (Ctrl-C).
    assert public == {*EVERY_CALL, *WRITES, "cancel", "close", "redact", "forget"}


# ---- configuration ---------------------------------------------------------------------------


def test_default_base_url_and_environment_override() -> None:
    assert VtexConfig.from_env(ENV).base_url == BASE
    other = VtexConfig.from_env({**ENV, "VTEX_ENVIRONMENT": "myvtex"})
    assert other.base_url == "https://mystore.myvtex.com.br"


@pytest.mark.parametrize(
    "account",
    [
        "evil.com/x",
        "evil.com#",
        "Mystore",
        "mystore\n",
        "-mystore",
        "my store",
        "a" * 64,
        "\x1b[31m",
    ],
)
def test_a_bad_account_is_refused_before_any_request(account: str) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        with pytest.raises(VtexConfigError) as caught:
            VtexClient(VtexConfig.from_env({**ENV, "VTEX_ACCOUNT": account}))
        assert not router.calls
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("VTEX_ACCOUNT ")
    assert "\x1b" not in caught.value.message
    assert "\n" not in caught.value.message


def test_a_bad_environment_is_refused() -> None:
    with pytest.raises(VtexConfigError, match="VTEX_ENVIRONMENT"):
        VtexConfig.from_env({**ENV, "VTEX_ENVIRONMENT": "evil.com/x"})


@pytest.mark.parametrize("name", ["VTEX_ACCOUNT", "VTEX_APP_KEY", "VTEX_APP_TOKEN"])
@pytest.mark.parametrize("value", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_a_missing_variable_is_named(name: str, value: str | None) -> None:
    env = {k: v for k, v in ENV.items() if k != name}
    if value is not None:
        env[name] = value
    with pytest.raises(VtexConfigError, match=f"^{name} is not set") as caught:
        VtexConfig.from_env(env)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("name", ["VTEX_APP_KEY", "VTEX_APP_TOKEN"])
@pytest.mark.parametrize("bad", [" with space", "line\nbreak", "non-ascii-é"])
def test_a_malformed_secret_is_named_but_not_shown(name: str, bad: str) -> None:
    value = (KEY if name == "VTEX_APP_KEY" else TOKEN) + bad
    with pytest.raises(VtexConfigError) as caught:
        VtexConfig.from_env({**ENV, name: value})
    assert caught.value.message.startswith(name)
    assert value not in caught.value.message
    assert TOKEN not in caught.value.message
    assert KEY not in caught.value.message


@pytest.mark.parametrize(
    ("base_url", "accepted"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/", True),
        ("http://[::1]:8080", True),
        ("https://proxy.example.com/vtex", True),
        ("http://proxy.example.com", False),  # the key pair would travel in clear text
        ("https://user:hunter2@proxy.example.com", False),
        ("ftp://proxy.example.com", False),
        ("https://proxy.example.com/?x=1", False),
        ("not a url", False),
    ],
)
def test_base_url_override(base_url: str, accepted: bool) -> None:
    env = {**ENV, "VTEX_BASE_URL": base_url}
    if accepted:
        assert VtexConfig.from_env(env).base_url == base_url.rstrip("/")
    else:
        with pytest.raises(VtexConfigError, match=r"^VTEX_BASE_URL") as caught:
            VtexConfig.from_env(env)
        assert "hunter2" not in caught.value.message


# ---- secrets ---------------------------------------------------------------------------------


def _texts(error: BaseException) -> list[str]:
    """Everything an exception could show: message, repr, args, and its causes."""
    texts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), *map(str, seen.args)]
        seen = seen.__cause__ or seen.__context__
    return texts


def test_the_key_pair_never_appears_in_messages_or_reprs(
    make_client: Callable[..., VtexClient],
) -> None:
    config = VtexConfig.from_env(ENV)
    texts = [str(config), repr(config)]
    answers = [
        httpx.Response(401, text=f"bad token {TOKEN[:4]}"),
        httpx.Response(403),
        httpx.Response(500),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"Id": "x"}),
    ]
    for answer in answers:
        client = make_client(transport=httpx.MockTransport(lambda _, a=answer: a), max_retries=0)
        texts += [str(client), repr(client)]
        with pytest.raises(VtexApiError) as caught:
            client.get_sku("1")
        texts += _texts(caught.value)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = make_client(transport=httpx.MockTransport(unreachable), max_retries=0)
    with pytest.raises(VtexApiError) as caught:
        client.list_docks()
    texts += _texts(caught.value)
    for name, bad in [("VTEX_APP_TOKEN", TOKEN + "\n"), ("VTEX_APP_KEY", KEY + " x")]:
        with pytest.raises(VtexConfigError) as config_error:
            VtexConfig.from_env({**ENV, name: bad})
        texts += _texts(config_error.value)
    leaks = [text for text in texts if TOKEN in text or KEY in text]
    assert leaks == []
    assert len(texts) > 20


# ---- a real socket ---------------------------------------------------------------------------


@dataclass
class Loopback:
    url: str
    headers: list[dict[str, str]]


def _handler_serving(routes: dict[str, bytes], headers: list[dict[str, str]]) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers.append({k.lower(): v for k, v in self.headers.items()})
            body = routes.get(self.path, b"")
            self.send_response(200 if self.path in routes else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
            pass

    return Handler


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    headers: list[dict[str, str]] = []
    routes = {SKU_PATH: (FIXTURES / "sku_context.json").read_bytes()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_serving(routes, headers))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Loopback(f"http://127.0.0.1:{server.server_address[1]}", headers)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_client_works_over_a_real_socket(
    loopback: Loopback, make_client: Callable[..., VtexClient]
) -> None:
    # transport=None: the client's own default transport, as in production.
    client = make_client({**ENV, "VTEX_BASE_URL": loopback.url}, transport=None)
    sku = client.get_sku(2001773)
    assert sku is not None
    assert sku.Id == "2001773"
    assert client.get_sku("999") is None  # the server's 404
    assert client.get_sku(2001773) == sku  # cached: no third request
    assert client.request_count == len(loopback.headers) == 2
    assert loopback.headers[0]["x-vtex-api-appkey"] == KEY
    assert loopback.headers[0]["x-vtex-api-apptoken"] == TOKEN
    assert loopback.headers[0]["accept"] == "application/json"


def test_a_refused_simulation_says_the_route_needs_no_resource(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    # The simulation is a `pub` route: the Checkout spec lists no License Manager resource.
    vtex.post(SIMULATION_PATH).respond(403)
    with pytest.raises(VtexPermissionError, match="needs no License Manager resource"):
        simulate(client)
    assert client.request_count == 1


def test_a_wait_that_would_outlast_the_deadline_fails_now_with_its_reason(
    make_client: Callable[..., VtexClient], fake_time: FakeTime
) -> None:
    # Sleeping 7 s of a 5 s run would only end in "deadline reached" with the cause lost.
    client = make_client(deadline=Deadline(5.0, clock=fake_time))
    with respx.mock(base_url=BASE) as vtex:
        route = vtex.get(DOCKS_PATH).respond(429, headers={"Retry-After": "7"})
        with pytest.raises(VtexApiError) as caught:
            client.list_docks()
    assert caught.value.message == (
        f"VTEX GET {DOCKS_PATH}: VTEX answered 429; deadline of 5 s reached "
        "(raise it with --timeout) before the next attempt"
    )
    assert fake_time.sleeps == []
    assert route.call_count == 1
