"""The loopback VTEX server (tests/vtex_server.py) on its own, before end-to-end tests rely on it.

Each test talks to it over a real socket, with httpx directly and with the project's VtexClient.
No test sleeps: the client's retry waits go to a list, and the only real waits are the server's
own scripted delays (a few tenths of a second at most).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
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

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vtex"
SKU_PATH = "/api/catalog_system/pvt/sku/stockkeepingunitbyid/2001773"
INVENTORY_PATH = "/api/logistics/pvt/inventory/skus/2001773"
DOCKS_PATH = "/api/logistics/pvt/configuration/docks"
ITEMS = [SimulationItem(id="1", quantity=1, seller="1")]

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
    with VtexServer(scenario(routes), require_keys=("right-key", "right-token")) as server:
        no_keys = http.get(server.base_url + SKU_PATH)
        wrong = ("wrong-key", "right-token")
        with vtex_client(server, keys=wrong) as client, pytest.raises(VtexPermissionError) as info:
            client.get_sku(2001773)
        with vtex_client(server, keys=("right-key", "right-token")) as client:
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


def test_concurrent_requests_are_served_in_parallel(http: httpx.Client) -> None:
    # Each answer takes 0.2 s: one after the other, 8 would take 1.6 s.
    with VtexServer(scenario({f"GET {DOCKS_PATH}": {"body": []}}), latency=0.2) as server:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(lambda _: http.get(server.base_url + DOCKS_PATH).status_code, range(8))
            )
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 8
    assert server.count("GET", DOCKS_PATH) == 8
    assert 0.2 <= elapsed < 1.0, f"8 requests with 0.2 s latency took {elapsed:.2f} s"


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
        ({}, "unexpected response shape"),  # an empty 200 where an inventory is expected
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
    routes = {f"GET {DOCKS_PATH}": {"delay": 30.0, "body": []}}
    server = VtexServer(scenario(routes))
    with server, vtex_client(server, timeout=0.2, max_retries=0) as client:
        with pytest.raises(VtexApiError, match="no response \\(ReadTimeout\\)"):
            client.list_docks()
        leaving = time.perf_counter()
    # The handler still waiting out its 30 s is released by stop(), not waited for.
    assert time.perf_counter() - leaving < 1.0
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
