"""The loopback VTEX server (tests/vtex_server.py) on its own, before end-to-end tests rely on it.

Each test talks to it over a real socket, with httpx directly and with the project's VtexClient.
No test sleeps or times anything: the client's retry waits go to a list, and a server delay is
either a hundredth of a second or held until stop() releases it.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from assistant.vtex import SimulationItem, VtexApiError, VtexClient, VtexConfig, VtexPermissionError
from tests.vtex_server import (
    DEFAULT_KEYS,
    NOT_IN_SCENARIO,
    SIMULATION_PATH,
    Scenario,
    VtexServer,
    env_for,
)
from tests.vtex_store import Sku, Store

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vtex"
SKU_PATH = "/api/catalog_system/pvt/sku/stockkeepingunitbyid/2001773"
INVENTORY_PATH = "/api/logistics/pvt/inventory/skus/2001773"
DOCKS_PATH = "/api/logistics/pvt/configuration/docks"
ITEMS = [SimulationItem(id="1", quantity=1, seller="1")]

# A server delay no test waits out: only stop() ends it. And the bound on waiting for something
# that happens at once when green (a thread ending, a request arriving): reached only on a hang,
# so a loaded machine never trips it.
HOLD_SECONDS = 3600.0
HANG_SECONDS = 60.0

# One TLS context for every client: httpx builds one per client otherwise (~50 ms each), even for
# the plain-http loopback URL.
_TLS = ssl.create_default_context()


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def scenario(routes: dict[str, Any]) -> Scenario:
    return Scenario.from_dict({"routes": routes})


def vtex_client(
    server: VtexServer,
    waits: list[float] | None = None,
    keys: tuple[str, str] = DEFAULT_KEYS,
    **options: Any,
) -> VtexClient:
    """The project's client pointed at `server` through the environment a CLI run would get.
    Its sleeps (retry backoff, rate limiter) are recorded in `waits` instead of being waited."""
    recorded = [] if waits is None else waits
    return VtexClient(
        VtexConfig.from_env(env_for(server, *keys)),
        transport=httpx.HTTPTransport(verify=_TLS),
        sleep=recorded.append,
        **options,
    )


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait for something the server's threads do (a request arriving), without sleeping."""
    ends = time.monotonic() + HANG_SECONDS
    tick = threading.Event()
    while not condition():
        assert time.monotonic() < ends, "still waiting after HANG_SECONDS"
        tick.wait(0.005)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(verify=_TLS, timeout=5.0) as client:
        yield client


# ---- the brief's cases ------------------------------------------------------------------------


def test_a_fixture_route_is_served_and_parsed_by_the_client() -> None:
    with (
        VtexServer(scenario({f"GET {SKU_PATH}": {"body": load("sku_context.json")}})) as server,
        vtex_client(server) as client,
    ):
        sku = client.get_sku(2001773)
    assert sku is not None
    assert (sku.Id, sku.ref_id, sku.SalesChannels) == ("2001773", "878181", ["1", "2", "3", "10"])
    [request] = server.requests
    assert (request.method, request.target, request.body) == ("GET", SKU_PATH, None)
    assert (request.status, request.route) == (200, f"GET {SKU_PATH}")
    # Header names are recorded lower-cased; the values are what the client sent.
    assert request.headers["x-vtex-api-appkey"] == DEFAULT_KEYS[0]
    assert request.headers["x-vtex-api-apptoken"] == DEFAULT_KEYS[1]


def test_a_429_then_200_sequence_is_retried_by_the_client(http: httpx.Client) -> None:
    routes = {
        f"GET {INVENTORY_PATH}": {
            "sequence": [
                {"status": 429, "headers": {"Retry-After": "1"}, "body": {"Message": "slow"}},
                {"body": load("inventory_by_sku.json")},
            ]
        }
    }
    waits: list[float] = []
    with VtexServer(scenario(routes)) as server, vtex_client(server, waits) as client:
        inventory = client.get_inventory("2001773")
        assert server.count("GET", INVENTORY_PATH) == client.request_count == 2
        # The last step repeats for anyone asking again (the client would answer from its cache).
        again = http.get(server.base_url + INVENTORY_PATH)
    assert len(inventory.balance) == 3
    assert waits == [1.0]  # Retry-After: 1 reached the client, which asked its sleep to wait 1 s
    assert [r.status for r in server.requests] == [429, 200, 200]
    assert again.status_code == 200


def test_wrong_keys_get_401_and_the_clients_permission_error(http: httpx.Client) -> None:
    routes = {f"GET {SKU_PATH}": {"body": load("sku_context.json")}}
    right = ("vtexappkey-right-KEY001", "right-apptoken-0001")
    with VtexServer(scenario(routes), require_keys=right) as server:
        no_keys = http.get(server.base_url + SKU_PATH)
        wrong = ("vtexappkey-wrong-KEY002", right[1])
        with vtex_client(server, keys=wrong) as client, pytest.raises(VtexPermissionError) as info:
            client.get_sku(2001773)
        with vtex_client(server, keys=right) as client:
            assert client.get_sku(2001773) is not None
    assert no_keys.status_code == 401
    assert info.value.status == 401
    assert "was not accepted" in str(info.value)
    assert [(r.status, r.route) for r in server.requests] == [
        (401, None),
        (401, None),
        (200, f"GET {SKU_PATH}"),
    ]


def test_an_unknown_route_answers_404_and_is_recorded(http: httpx.Client) -> None:
    with VtexServer(scenario({})) as server, vtex_client(server) as client:
        response = http.get(server.base_url + "/api/nowhere?x=1")
        # A SKU lookup reads a 404 as "no such SKU".
        assert client.get_sku(42) is None
    assert response.status_code == 404
    assert response.json() == NOT_IN_SCENARIO
    assert [(r.path, r.query, r.status, r.route) for r in server.requests] == [
        ("/api/nowhere", "x=1", 404, None),
        ("/api/catalog_system/pvt/sku/stockkeepingunitbyid/42", "", 404, None),
    ]


def test_writes_see_a_put_but_not_a_get_or_the_simulation(http: httpx.Client) -> None:
    routes = {
        f"GET {SKU_PATH}": {"body": load("sku_context.json")},
        f"PUT {INVENTORY_PATH}": {"status": 204},
        f"POST {SIMULATION_PATH}": {"body": load("simulation.json")},
    }
    with VtexServer(scenario(routes)) as server, vtex_client(server) as client:
        client.get_sku(2001773)
        client.simulate(ITEMS, "12345-000", "BRA", 1, "MZN")
        put = http.put(server.base_url + INVENTORY_PATH, json={"quantity": 5})
        http.patch(server.base_url + DOCKS_PATH, content=b"not json")
    assert put.status_code == 204
    assert server.count() == 4
    assert server.count("post", "/api/checkout/") == 1
    simulation = server.requests[1]
    assert simulation.params == {"sc": "1", "affiliateId": "MZN"}
    assert simulation.body["postalCode"] == "12345-000"
    writes = server.writes()
    assert [(w.method, w.path, w.body) for w in writes] == [
        ("PUT", INVENTORY_PATH, {"quantity": 5}),
        ("PATCH", DOCKS_PATH, "not json"),  # a body that is not JSON is kept as text
    ]
    assert writes[1].status == 404


def test_concurrent_requests_are_in_flight_at_once() -> None:
    # Each answer is held for an hour: served one after the other, the second request would not
    # even be read before the first was answered. All eight recorded while none is answered
    # means eight handlers hold a request at once; stop() then releases them unanswered.
    held = {f"GET {DOCKS_PATH}": {"delay": HOLD_SECONDS, "body": []}}
    # No client timeout: however slowly the eight arrive, none gives up before all are in.
    with ThreadPoolExecutor(max_workers=8) as pool, httpx.Client(verify=_TLS, timeout=None) as http:
        with VtexServer(scenario(held)) as server:
            outcomes = [pool.submit(http.get, server.base_url + DOCKS_PATH) for _ in range(8)]
            wait_until(lambda: server.count("GET", DOCKS_PATH) == 8)
            assert not any(outcome.done() for outcome in outcomes)
        errors = [outcome.exception(timeout=HANG_SECONDS) for outcome in outcomes]
    assert all(isinstance(error, httpx.TransportError) for error in errors), errors


@pytest.mark.parametrize(
    ("sku_id", "encoded"), [("a/b", "a%2Fb"), ("kit 12", "kit%2012"), ("x/y z", "x%2Fy%20z")]
)
def test_a_percent_encoded_sku_id_is_matched_exactly(sku_id: str, encoded: str) -> None:
    path = f"/api/catalog_system/pvt/sku/stockkeepingunitbyid/{encoded}"
    routes = {
        f"GET {path}": {"body": load("sku_context.json")},
        # What a client decoding the id would ask for: must not be what answers.
        "GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/a": {"status": 500},
    }
    with VtexServer(scenario(routes)) as server, vtex_client(server) as client:
        assert client.get_sku(sku_id) is not None
    [request] = server.requests
    assert (request.path, request.route) == (path, f"GET {path}")


# ---- routing, faults and scenarios ------------------------------------------------------------


def test_a_route_with_its_query_string_wins_over_the_bare_path() -> None:
    amazon = load("simulation.json")
    plain = {**amazon, "messages": [{"code": "x", "text": "generic route", "status": "error"}]}
    routes = {
        f"POST {SIMULATION_PATH}?sc=3&affiliateId=MZN": {"body": amazon},
        f"POST {SIMULATION_PATH}": {"body": plain},
    }
    with VtexServer(scenario(routes)) as server, vtex_client(server) as client:
        for_amazon = client.simulate(ITEMS, "12345-000", "BRA", 3, "MZN")
        other = client.simulate(ITEMS, "12345-000", "BRA", 1, "MZN")
    assert for_amazon.messages == []
    assert [m.text for m in other.messages] == ["generic route"]
    assert [r.route for r in server.requests] == [
        f"POST {SIMULATION_PATH}?sc=3&affiliateId=MZN",
        f"POST {SIMULATION_PATH}",
    ]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"status": 500, "body": load("error_checkout_500.json")}, "answered 500 after 2 attempts"),
        ({"status": 503, "text": "Service Unavailable"}, "answered 503 after 2 attempts"),
        ({"status": 403, "text": ""}, "permission denied"),
        ({"text": '{"balance": [', "headers": {"Content-Type": "application/json"}}, "not JSON"),
        ({}, "answered 200 with an empty body"),  # never read as an empty inventory
    ],
    ids=["500", "503", "403", "malformed", "empty"],
)
def test_faults_reach_the_client_as_api_errors(spec: dict[str, Any], problem: str) -> None:
    with (
        VtexServer(scenario({f"GET {INVENTORY_PATH}": spec})) as server,
        vtex_client(server, max_retries=1) as client,
        pytest.raises(VtexApiError, match=problem),
    ):
        client.get_inventory("2001773")


def test_a_delay_past_the_client_timeout_times_out_and_stop_cuts_it_short(
    capfd: pytest.CaptureFixture[str],
) -> None:
    routes = {f"GET {DOCKS_PATH}": {"delay": HOLD_SECONDS, "body": []}}
    before = set(threading.enumerate())
    server = VtexServer(scenario(routes))
    with (
        server,
        vtex_client(server, timeout=0.2, max_retries=0) as client,
        pytest.raises(VtexApiError, match="no response \\(ReadTimeout\\)"),
    ):
        client.list_docks()
    # The handler still waiting out its hour is released by stop(), not left behind: every
    # thread the server started ends (the join's bound is for a hang; none is reached when green).
    started = [thread for thread in threading.enumerate() if thread not in before]
    for thread in started:
        thread.join(HANG_SECONDS)
    assert [thread.name for thread in started if thread.is_alive()] == []
    assert server.count("GET", DOCKS_PATH) == 1  # recorded on arrival, before the delay
    assert capfd.readouterr().err == ""  # quiet, even about the connection the client dropped


def test_set_scenario_swaps_routes_and_restarts_sequences(http: httpx.Client) -> None:
    flaky = {f"GET {DOCKS_PATH}": {"sequence": [{"status": 503}, {"body": []}]}}
    with VtexServer(scenario(flaky)) as server:
        first = [http.get(server.base_url + DOCKS_PATH).status_code for _ in range(3)]
        server.set_scenario(server.scenario.with_routes({f"GET {SKU_PATH}": {"status": 418}}))
        second = [http.get(server.base_url + path).status_code for path in (DOCKS_PATH, SKU_PATH)]
        server.set_scenario({"routes": {}})
        third = http.get(server.base_url + DOCKS_PATH).status_code
        server.clear_requests()
        assert server.requests == []
    assert (first, second, third) == ([503, 200, 200], [503, 418], 404)


def test_scenario_files_in_json_and_yaml_load_alike(tmp_path: Path, http: httpx.Client) -> None:
    data = {
        "description": "Amazon SKU throttled once",
        "routes": {
            f"get {SKU_PATH}": {
                "sequence": [
                    {"status": 429, "headers": {"Retry-After": 2}, "delay": 0.01},
                    {"body": load("sku_context.json"), "headers": {"X-Trace": "t1"}},
                ]
            }
        },
    }
    (tmp_path / "throttled.json").write_text(json.dumps(data), encoding="utf-8")
    # sort_keys=False: the body's key order is kept, so both files give the same bytes.
    yaml_text = yaml.safe_dump(data, sort_keys=False)
    (tmp_path / "throttled.yaml").write_text(yaml_text, encoding="utf-8")
    from_json = Scenario.from_file(tmp_path / "throttled.json")
    assert Scenario.from_file(tmp_path / "throttled.yaml") == from_json
    assert from_json.name == "throttled"
    with VtexServer(from_json) as server:
        throttled = http.get(server.base_url + SKU_PATH)
        served = http.get(server.base_url + SKU_PATH)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2")
    assert throttled.content == b""
    assert (served.status_code, served.headers["X-Trace"]) == (200, "t1")
    assert served.headers["Content-Type"] == "application/json; charset=utf-8"
    assert served.json() == load("sku_context.json")


@pytest.mark.parametrize(
    ("routes", "problem"),
    [
        ({"GET": {}}, "is not 'METHOD /path'"),
        ({"FETCH /x": {}}, "is not 'METHOD /path'"),
        ({"GET /a b": {}}, "percent-encoded"),
        ({"GET /x": {"status": "429"}}, "status '429'"),
        ({"GET /x": {"status": 99}}, "from 200 to 599"),
        ({"GET /x": {"body": {}, "text": ""}}, "not both"),
        ({"GET /x": {"body": float("nan")}}, "not a JSON value"),
        ({"GET /x": {"stauts": 500}}, "unknown keys \\['stauts'\\]"),
        ({"GET /x": {"delay": -1}}, "delay -1"),
        ({"GET /x": {"trickle": "slow"}}, "trickle 'slow'"),
        ({"GET /x": {"headers": {"Content-Length": "9"}}}, "set by the server"),
        ({"GET /x": {"headers": {"X-A": "1\r\nX-B: 2"}}}, "line break"),
        ({"GET /x": {"sequence": []}}, "non-empty list"),
        ({"GET /x": {"sequence": [{"sequence": [{}]}]}}, "cannot itself be a sequence"),
        ({"GET /x": {"status": 500, "sequence": [{}]}}, "cannot be combined"),
        ({"GET /x": {}, "get /x": {}}, "given twice"),
    ],
)
def test_a_mistake_in_a_scenario_is_refused_when_it_loads(
    routes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Scenario.from_dict({"routes": routes})


def test_the_server_is_single_use_and_has_no_url_before_it_starts() -> None:
    server = VtexServer()
    with pytest.raises(RuntimeError, match="has not started"):
        _ = server.base_url
    with server:
        url = server.base_url
    assert url.startswith("http://127.0.0.1:")
    assert env_for(server)["VTEX_BASE_URL"] == url
    with pytest.raises(RuntimeError, match="starts once"):
        server.start()


# ---- stateful mode: a Store served, and written to --------------------------------------------

CONTEXT_1070 = "/api/catalog_system/pvt/sku/stockkeepingunitbyid/1070"
RECORD_1070 = "/api/catalog/pvt/stockkeepingunit/1070"
POLICIES_91070 = "/api/catalog/pvt/product/91070/salespolicy"


def test_a_served_store_answers_with_the_spec_record_and_its_sku_context(
    http: httpx.Client,
) -> None:
    store = Store().add(Sku("1070", active=False))
    with store.serve() as server:
        record = http.get(server.base_url + RECORD_1070).json()
        context = http.get(server.base_url + CONTEXT_1070).json()
    spec = load("sku_record.json")
    # Every field of the spec example, with this SKU's ids and flag.
    assert record == {
        **spec,
        "Id": 1070,
        "ProductId": 91070,
        "IsActive": False,
        "RefId": "REF-1070",
    }
    assert (context["Id"], context["IsActive"], len(context["Images"])) == (1070, False, 1)
    assert server.store is store


def test_a_put_replaces_the_record_and_every_get_shows_it(http: httpx.Client) -> None:
    store = Store().add(Sku("1070", active=False))
    with store.serve(require_keys=DEFAULT_KEYS) as server:
        keys = {"X-VTEX-API-AppKey": DEFAULT_KEYS[0], "X-VTEX-API-AppToken": DEFAULT_KEYS[1]}
        record = http.get(server.base_url + RECORD_1070, headers=keys).json()
        body = {**record, "IsActive": True, "Extra": [1]}
        put = http.put(server.base_url + RECORD_1070, json=body, headers=keys)
        after = http.get(server.base_url + RECORD_1070, headers=keys).json()
        context = http.get(server.base_url + CONTEXT_1070, headers=keys).json()
    assert put.status_code == 200
    assert put.json() == after == body  # the whole body kept, the unknown field included
    assert context["IsActive"] is True
    assert store.skus["1070"].active is True
    [write] = server.writes()
    assert (write.method, write.path, write.body) == ("PUT", RECORD_1070, body)
    assert (write.status, write.applied, write.route) == (200, True, f"PUT {RECORD_1070}")


def test_a_put_is_a_full_replace(http: httpx.Client) -> None:
    store = Store().add(Sku("1070", active=True))
    with store.serve() as server:
        record = http.get(server.base_url + RECORD_1070).json()
        partial = {k: v for k, v in record.items() if k not in ("IsActive", "Name")}
        assert http.put(server.base_url + RECORD_1070, json=partial).status_code == 200
        after = http.get(server.base_url + RECORD_1070).json()
        context = http.get(server.base_url + CONTEXT_1070).json()
    # A missing IsActive deactivates (Catalog spec); a missing field is cleared.
    assert (after["IsActive"], after["Name"], context["IsActive"]) == (False, None, False)
    assert after["PackagedWeightKg"] == record["PackagedWeightKg"]


def test_a_sku_without_an_image_stays_inactive_though_the_put_answers_200(
    http: httpx.Client,
) -> None:
    store = Store().add(Sku("1070", active=False, images=0))
    with store.serve() as server:
        record = http.get(server.base_url + RECORD_1070).json()
        body = {**record, "IsActive": True, "ActivateIfPossible": True}
        put = http.put(server.base_url + RECORD_1070, json=body)
        after = http.get(server.base_url + RECORD_1070).json()
        context = http.get(server.base_url + CONTEXT_1070).json()
    assert put.status_code == 200
    assert (put.json()["IsActive"], after["IsActive"], context["IsActive"]) == (False, False, False)
    assert after["ActivateIfPossible"] is True  # kept: VTEX activates it once it has an image
    assert context["Images"] == []
    assert store.skus["1070"].active is False
    assert server.writes()[0].applied is True  # carried out; activation refused by VTEX's rule


def test_a_salespolicy_post_links_the_product_and_all_its_skus(http: httpx.Client) -> None:
    store = (
        Store()
        .add(Sku("1070", trade_policies=["1"], product="500"))
        .add(Sku("1071", trade_policies=["1"], product="500"))
        .add(Sku("2000", trade_policies=["1"]))
    )
    with store.serve() as server:
        base = server.base_url
        before = http.get(base + "/api/catalog/pvt/product/500/salespolicy").json()
        post = http.post(base + "/api/catalog/pvt/product/500/salespolicy/3")
        again = http.post(base + "/api/catalog/pvt/product/500/salespolicy/3")
        after = http.get(base + "/api/catalog/pvt/product/500/salespolicy").json()
        contexts = [
            http.get(f"{base}/api/catalog_system/pvt/sku/stockkeepingunitbyid/{sku}").json()
            for sku in ("1070", "1071", "2000")
        ]
    assert before == [{"ProductId": 500, "StoreId": 1}]
    assert (post.status_code, post.content, again.status_code) == (200, b"", 200)
    assert after == [{"ProductId": 500, "StoreId": 1}, {"ProductId": 500, "StoreId": 3}]
    assert [c["SalesChannels"] for c in contexts] == [[1, 3], [1, 3], [1]]
    assert [w.applied for w in server.writes()] == [True, True]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", "/api/catalog/pvt/stockkeepingunit/9999", {"IsActive": True}, 404),
        ("PUT", RECORD_1070, "not json", 400),
        ("PUT", RECORD_1070, [1], 400),
        ("POST", "/api/catalog/pvt/product/9999/salespolicy/3", None, 404),
        ("POST", "/api/catalog/pvt/product/91070/salespolicy/amazon", None, 400),
        ("DELETE", "/api/catalog/pvt/product/91070/salespolicy/1", None, 404),  # not modelled
    ],
)
def test_a_write_the_store_cannot_carry_out_changes_nothing(
    http: httpx.Client, method: str, path: str, body: Any, status: int
) -> None:
    store = Store().add(Sku("1070", active=False))
    content = body if isinstance(body, str) else json.dumps(body).encode() if body else None
    with store.serve() as server:
        response = http.request(method, server.base_url + path, content=content)
        context = http.get(server.base_url + CONTEXT_1070).json()
    assert response.status_code == status
    assert (context["IsActive"], context["SalesChannels"]) == (False, [1, 3])
    assert store.skus["1070"].record is None
    assert [w.applied for w in server.writes()] == [False]


def test_a_fault_answers_instead_and_the_write_is_not_carried_out(http: httpx.Client) -> None:
    store = Store().add(Sku("1070", active=False))
    with store.serve() as server:
        server.fault(f"PUT {RECORD_1070}", {"status": 500, "text": "boom"})
        record = http.get(server.base_url + RECORD_1070).json()
        body = {**record, "IsActive": True}
        first = http.put(server.base_url + RECORD_1070, json=body)
        between = http.get(server.base_url + RECORD_1070).json()["IsActive"]
        second = http.put(server.base_url + RECORD_1070, json=body)
    assert (first.status_code, first.text, between) == (500, "boom", False)
    assert second.status_code == 200
    assert store.skus["1070"].active is True
    assert [(w.status, w.applied, w.route) for w in server.writes()] == [
        (500, False, f"PUT {RECORD_1070}"),
        (200, True, f"PUT {RECORD_1070}"),
    ]


def test_an_applied_fault_carries_the_write_out_then_answers_the_fault(
    http: httpx.Client,
) -> None:
    store = Store().add(Sku("1070", trade_policies=["1"]))
    link = "/api/catalog/pvt/product/91070/salespolicy/3"
    with store.serve() as server:
        server.fault(f"POST {link}", {"status": 503}, applied=True)
        answer = http.post(server.base_url + link)
        policies = http.get(server.base_url + POLICIES_91070).json()
    assert answer.status_code == 503
    assert [p["StoreId"] for p in policies] == [1, 3]
    [write] = server.writes()
    assert (write.status, write.applied) == (503, True)


def test_faults_queue_count_down_and_can_match_a_query(http: httpx.Client) -> None:
    routes = {f"GET {DOCKS_PATH}": {"body": []}}
    with VtexServer(scenario(routes)) as server:
        server.fault(f"GET {DOCKS_PATH}", {"status": 429, "headers": {"Retry-After": "1"}}, times=2)
        server.fault(f"GET {DOCKS_PATH}", {"status": 403})
        server.fault(f"GET {DOCKS_PATH}?page=2", {"status": 418}, times=None)
        plain = [http.get(server.base_url + DOCKS_PATH).status_code for _ in range(4)]
        paged = [http.get(server.base_url + DOCKS_PATH + "?page=2").status_code for _ in range(2)]
        server.set_scenario(scenario(routes))  # drops pending faults
        reset = http.get(server.base_url + DOCKS_PATH + "?page=2").status_code
    assert (plain, paged, reset) == ([429, 429, 403, 200], [418, 418], 200)


@pytest.mark.parametrize(
    ("spec", "times", "problem"),
    [
        ({"status": "500"}, 1, "status '500'"),
        ({"sequence": [{}]}, 1, "cannot itself be a sequence"),
        ({"status": 500}, 0, "times is a number"),
        ({"status": 500}, True, "times is a number"),
    ],
)
def test_a_mistaken_fault_is_refused(spec: dict[str, Any], times: Any, problem: str) -> None:
    server = VtexServer()
    with pytest.raises(ValueError, match=problem):
        server.fault(f"GET {DOCKS_PATH}", spec, times=times)
    with pytest.raises(ValueError, match="is not 'METHOD /path'"):
        server.fault("FETCH /x", {"status": 500})


def test_a_server_serves_a_scenario_or_a_store_and_can_switch(http: httpx.Client) -> None:
    with pytest.raises(ValueError, match="not both"):
        VtexServer(scenario({}), store=Store())
    store = Store().add(Sku("1070", active=False))
    with VtexServer(scenario({})) as server:
        static = http.get(server.base_url + RECORD_1070).status_code
        server.set_store(store)
        served = http.get(server.base_url + RECORD_1070).status_code
        put = http.put(server.base_url + RECORD_1070, json={"IsActive": True})
        server.set_scenario(Store().add(Sku("1070", active=False)).scenario())
        # A static scenario is a snapshot: a PUT is not in it, and changes nothing.
        refused = http.put(server.base_url + RECORD_1070, json={"IsActive": True}).status_code
        after = http.get(server.base_url + RECORD_1070).json()["IsActive"]
        assert server.store is None
    assert (static, served, put.status_code, refused, after) == (404, 200, 200, 404, False)
    assert store.skus["1070"].active is True
