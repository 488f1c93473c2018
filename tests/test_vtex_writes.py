"""The client's two writes (SKU record PUT, product salespolicy POST), the record read, forget().

First with respx (what goes on the wire, what comes back, which failures are re-sent), then
against the stateful loopback server (tests/vtex_server.py serving a tests/vtex_store.py Store):
a read-change-write-verify cycle, VTEX keeping a SKU without an image inactive, injected faults,
and a recorded write replayed. No test sleeps: the client's sleep is a fake that records waits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from assistant.vtex import (
    SKU_RECORD_REQUIRED,
    SimulationItem,
    VtexApiError,
    VtexClient,
    VtexConfig,
    VtexPermissionError,
)
from assistant.vtex.recording import RecordingTransport, ReplayTransport, open_client
from tests.vtex_fakes import _TLS, BASE, ENV, KEY, TOKEN, FakeTime, load
from tests.vtex_server import DEFAULT_KEYS, VtexServer, env_for
from tests.vtex_store import TRADE_POLICY, Sku, Store

RECORD_PATH = "/api/catalog/pvt/stockkeepingunit/70"  # the spec example's Id
LINK_PATH = "/api/catalog/pvt/product/42/salespolicy/3"
SKU_PATH = "/api/catalog_system/pvt/sku/stockkeepingunitbyid/2001773"
SIMULATION_PATH = "/api/checkout/pub/orderForms/simulation"


def record() -> dict[str, Any]:
    """The spec's SKU record, plus a field no model of ours knows (VTEX adds fields)."""
    return {**load("sku_record.json"), "SomeFieldAddedLater": {"kept": [1, "two", None]}}


def activated() -> dict[str, Any]:
    return {**record(), "IsActive": True}


def sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


# ---- the SKU record --------------------------------------------------------------------------


def test_the_sku_record_is_returned_exactly_as_vtex_sent_it(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    vtex.get(RECORD_PATH).respond(json=record())
    got = client.get_sku_record(70)
    assert got == record()  # every field, the unknown one included, values unchanged
    assert got is not None
    assert (got["IsActive"], got["PackagedWeightKg"]) == (False, 10.0)


def test_the_sku_record_is_never_served_from_the_cache(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    route = vtex.get(RECORD_PATH).mock(
        side_effect=[httpx.Response(200, json=record()), httpx.Response(200, json=activated())]
    )
    first = client.get_sku_record("70")
    second = client.get_sku_record("70")
    assert route.call_count == 2
    assert (first or {})["IsActive"] is False
    assert (second or {})["IsActive"] is True


@pytest.mark.parametrize(
    "not_found",
    [
        httpx.Response(404, json=load("error_catalog_not_found.json")),
        httpx.Response(404, text="SKU not found"),
        httpx.Response(404),
    ],
    ids=["json-404", "text-404", "empty-404"],
)
def test_an_unknown_sku_has_no_record(
    client: VtexClient, vtex: respx.MockRouter, not_found: httpx.Response
) -> None:
    vtex.get(RECORD_PATH).mock(return_value=not_found)
    assert client.get_sku_record(70) is None


def test_an_empty_200_for_a_record_is_an_error_not_an_unknown_sku(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    vtex.get(RECORD_PATH).mock(return_value=httpx.Response(200))
    with pytest.raises(VtexApiError, match="empty body"):
        client.get_sku_record(70)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ([load("sku_record.json")], "at body"),
        ({k: v for k, v in load("sku_record.json").items() if k != "Id"}, "at Id"),
        ({**load("sku_record.json"), "Id": 71}, "at Id"),  # another SKU's record
        ({**load("sku_record.json"), "Id": True}, "at Id"),
        ({k: v for k, v in load("sku_record.json").items() if k != "IsActive"}, "at IsActive"),
        ({**load("sku_record.json"), "IsActive": "true"}, "at IsActive"),
        ({**load("sku_record.json"), "IsActive": None}, "at IsActive"),
    ],
    ids=["list", "no-id", "other-id", "bool-id", "no-isactive", "text-isactive", "null-isactive"],
)
def test_a_record_that_cannot_be_sent_back_is_an_api_error(
    client: VtexClient, vtex: respx.MockRouter, body: Any, where: str
) -> None:
    vtex.get(RECORD_PATH).respond(json=body)
    with pytest.raises(VtexApiError) as caught:
        client.get_sku_record(70)
    assert caught.value.message.startswith(f"VTEX GET {RECORD_PATH}: unexpected response shape")
    assert where in caught.value.message
    assert caught.value.exit_code == 3


def test_the_record_read_is_retried_like_any_read(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = vtex.get(RECORD_PATH).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=record())]
    )
    assert client.get_sku_record(70) == record()
    assert route.call_count == 2
    assert fake_time.sleeps == [0.5]


# ---- the writes on the wire ------------------------------------------------------------------


def test_update_sku_puts_the_whole_record_with_every_field_kept(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    vtex.get(RECORD_PATH).respond(json=record())
    # VTEX answers the PUT with the updated SKU (Catalog spec, "Update SKU").
    put = vtex.put(RECORD_PATH).respond(json=load("sku_record.json"))
    read = client.get_sku_record(70)
    assert read is not None
    client.update_sku(70, {**read, "IsActive": True})
    assert put.call_count == 1
    request = put.calls.last.request
    assert request.method == "PUT"
    assert request.url.raw_path == RECORD_PATH.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-VTEX-API-AppKey"] == KEY
    assert sent_json(put) == activated()  # exactly the record read, IsActive now true
    assert list(sent_json(put)) == list(activated())  # in the order VTEX sent the fields
    assert read["IsActive"] is False  # the caller's record is not changed by the call


def test_update_sku_takes_the_id_as_text_or_integer(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    put = vtex.put(RECORD_PATH).respond(200)
    client.update_sku("70", activated())
    client.update_sku(70, {**activated(), "Id": "70"})
    assert put.call_count == 2


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Id": 71}, "Id is not the SKU being updated"),
        ({"Id": True}, "Id is not the SKU being updated"),
        ({"IsActive": "true"}, "IsActive must be true or false"),
        ({"IsActive": None}, "IsActive must be true or false"),
        *[({name: ...}, f"missing {name}") for name in SKU_RECORD_REQUIRED],
    ],
    ids=["other-id", "bool-id", "text-isactive", "null-isactive"]
    + [f"no-{name}" for name in SKU_RECORD_REQUIRED],
)
def test_a_partial_or_foreign_record_is_refused_before_anything_is_sent(
    client: VtexClient, vtex: respx.MockRouter, change: dict[str, Any], problem: str
) -> None:
    # No route: respx fails any request that reaches it (and request_count would show it).
    body = activated()
    for name, value in change.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    with pytest.raises(ValueError, match=problem):
        client.update_sku(70, body)
    assert client.request_count == 0


def test_a_body_with_only_the_flag_is_refused(client: VtexClient, vtex: respx.MockRouter) -> None:
    # The partial body that would wipe the SKU: VTEX reads every missing field as cleared.
    with pytest.raises(ValueError, match="not a whole SKU record"):
        client.update_sku(70, {"Id": 70, "IsActive": True})
    assert client.request_count == 0


def test_link_posts_to_the_product_and_trade_policy_without_a_body(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    post = vtex.post(LINK_PATH).respond(200)
    client.link_product_to_trade_policy(42, "3")
    assert post.call_count == 1
    request = post.calls.last.request
    assert (request.method, request.url.raw_path) == ("POST", LINK_PATH.encode())
    assert request.content == b""


def test_ids_cannot_move_a_write_to_another_path(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    route = vtex.post("/api/catalog/pvt/product/42%2F..%2F1/salespolicy/3%3Fx").respond(200)
    client.link_product_to_trade_policy("42/../1", "3?x")
    assert route.call_count == 1
    with pytest.raises(VtexApiError, match=r"^VTEX POST \(blank id\)"):
        client.link_product_to_trade_policy(" ", 3)
    with pytest.raises(VtexApiError, match=r"^VTEX PUT \(blank id\)"):
        client.update_sku("", activated())


# ---- which failures are re-sent -----------------------------------------------------------------

WRITE_CALLS: dict[str, tuple[str, str, Callable[[VtexClient], None]]] = {
    "put": ("PUT", RECORD_PATH, lambda c: c.update_sku(70, activated())),
    "post": ("POST", LINK_PATH, lambda c: c.link_product_to_trade_policy(42, 3)),
}


def write_route(vtex: respx.MockRouter, kind: str) -> respx.Route:
    method, path, _ = WRITE_CALLS[kind]
    return vtex.route(method=method, path=path)


@pytest.mark.parametrize("kind", sorted(WRITE_CALLS))
@pytest.mark.parametrize("status", [429, 423])
def test_a_write_vtex_did_not_process_is_sent_again_after_retry_after(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime, kind: str, status: int
) -> None:
    route = write_route(vtex, kind).mock(
        side_effect=[
            httpx.Response(status, headers={"Retry-After": "2"}, json={"Message": "slow down"}),
            httpx.Response(200),
        ]
    )
    WRITE_CALLS[kind][2](client)
    assert route.call_count == client.request_count == 2
    assert fake_time.sleeps == [2.0]
    if kind == "put":  # the same whole body both times
        first, second = (json.loads(call.request.content) for call in route.calls)
        assert first == second == activated()


@pytest.mark.parametrize("kind", sorted(WRITE_CALLS))
def test_throttling_retries_of_a_write_are_bounded(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime, kind: str
) -> None:
    method, path, call = WRITE_CALLS[kind]
    route = write_route(vtex, kind).respond(429)
    with pytest.raises(VtexApiError) as caught:
        call(client)
    assert route.call_count == 4  # 1 + 3 retries, as for reads
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    assert caught.value.status == 429
    assert caught.value.message == (
        f"VTEX {method} {path}: VTEX answered 429 after 4 attempts, the write was not applied"
    )


def test_a_retry_after_beyond_the_cap_gives_the_write_up_at_once(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = vtex.put(RECORD_PATH).respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(VtexApiError, match="answered 429, the write was not applied"):
        client.update_sku(70, activated())
    assert route.call_count == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("kind", sorted(WRITE_CALLS))
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_a_write_is_not_sent_again(
    client: VtexClient, vtex: respx.MockRouter, fake_time: FakeTime, kind: str, status: int
) -> None:
    method, path, call = WRITE_CALLS[kind]
    route = write_route(vtex, kind).respond(status, json=load("error_checkout_500.json"))
    with pytest.raises(VtexApiError) as caught:
        call(client)
    assert route.call_count == client.request_count == 1
    assert fake_time.sleeps == []
    error = caught.value
    assert (error.exit_code, error.status, error.method, error.path) == (3, status, method, path)
    assert error.message == (
        f"VTEX {method} {path}: VTEX answered {status}, "
        "not retried: the write may have been applied, re-read before retrying"
    )
    assert not isinstance(error, VtexPermissionError)


@pytest.mark.parametrize("kind", sorted(WRITE_CALLS))
@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError],
)
def test_a_write_without_an_answer_is_not_sent_again(
    client: VtexClient,
    vtex: respx.MockRouter,
    fake_time: FakeTime,
    kind: str,
    failure: type[httpx.TransportError],
) -> None:
    method, path, call = WRITE_CALLS[kind]
    route = write_route(vtex, kind).mock(side_effect=[failure("lost"), httpx.Response(200)])
    with pytest.raises(VtexApiError) as caught:
        call(client)
    assert route.call_count == client.request_count == 1
    assert fake_time.sleeps == []
    assert caught.value.message == (
        f"VTEX {method} {path}: no response ({failure.__name__}), "
        "not retried: the write may have been applied, re-read before retrying"
    )
    assert caught.value.status is None


@pytest.mark.parametrize("kind", sorted(WRITE_CALLS))
@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_a_write_that_never_left_is_sent_again(
    client: VtexClient,
    vtex: respx.MockRouter,
    fake_time: FakeTime,
    kind: str,
    failure: type[httpx.TransportError],
) -> None:
    # No connection, so no request reached VTEX: sending it again cannot apply it twice.
    route = write_route(vtex, kind).mock(side_effect=[failure("refused"), httpx.Response(200)])
    WRITE_CALLS[kind][2](client)
    assert route.call_count == 2
    assert fake_time.sleeps == [0.5]


@pytest.mark.parametrize("status", [400, 404, 409])
def test_a_refused_write_is_reported_once(
    client: VtexClient, vtex: respx.MockRouter, status: int
) -> None:
    route = vtex.put(RECORD_PATH).respond(status, text="This error can occur when ...")
    with pytest.raises(VtexApiError) as caught:
        client.update_sku(70, activated())
    assert route.call_count == 1
    assert caught.value.message == (
        f"VTEX PUT {RECORD_PATH}: VTEX answered {status}, the write was refused"
    )
    assert "This error" not in caught.value.message


@pytest.mark.parametrize(
    ("kind", "resource"),
    [("put", "Catalog > Content > SKUs"), ("post", "Catalog API > General > Edit Product")],
)
@pytest.mark.parametrize("status", [401, 403])
def test_a_write_without_permission_names_the_resource(
    client: VtexClient,
    vtex: respx.MockRouter,
    fake_time: FakeTime,
    kind: str,
    resource: str,
    status: int,
) -> None:
    method, path, call = WRITE_CALLS[kind]
    route = write_route(vtex, kind).respond(status, json={"Message": f"denied for {TOKEN}"})
    with pytest.raises(VtexPermissionError) as caught:
        call(client)
    assert route.call_count == 1
    assert fake_time.sleeps == []
    error = caught.value
    assert (error.exit_code, error.status, error.resource) == (3, status, resource)
    assert error.message.startswith(f"VTEX {method} {path}: {status}")
    assert f"the API key needs the License Manager resource {resource}" in error.message
    if status == 401:
        assert "VTEX_APP_KEY and VTEX_APP_TOKEN" in error.message
    assert TOKEN not in error.message
    assert KEY not in error.message


def test_a_successful_write_ignores_the_body_of_its_answer(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    # The write happened: an unexpected body must not turn it into an error.
    vtex.put(RECORD_PATH).respond(200, text="<html>ok</html>")
    vtex.post(LINK_PATH).respond(204)
    client.update_sku(70, activated())
    client.link_product_to_trade_policy(42, 3)
    assert client.request_count == 2


def test_writes_are_spaced_by_the_rate_limit(
    make_client: Callable[..., VtexClient], fake_time: FakeTime
) -> None:
    client = make_client(requests_per_second=2.0, burst=1)
    with respx.mock(base_url=BASE) as vtex:
        vtex.get(RECORD_PATH).respond(json=record())
        vtex.put(RECORD_PATH).respond(200)
        vtex.post(LINK_PATH).respond(200)
        client.get_sku_record(70)
        client.update_sku(70, activated())
        client.link_product_to_trade_policy(42, 3)
    assert fake_time.sleeps == [0.5, 0.5]
    assert client.request_count == 3


# ---- forget() ----------------------------------------------------------------------------------


def test_forget_makes_the_next_read_go_to_vtex_again(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    inactive = {**load("sku_context.json"), "IsActive": False}
    route = vtex.get(SKU_PATH).mock(
        side_effect=[
            httpx.Response(200, json=inactive),
            httpx.Response(200, json=load("sku_context.json")),
        ]
    )
    simulation = vtex.post(SIMULATION_PATH).respond(json=load("simulation.json"))

    def simulate() -> None:
        client.simulate([SimulationItem(id="1", quantity=1, seller="1")], "12345-000", "BRA", 3)

    before = client.get_sku(2001773)
    simulate()
    assert client.get_sku(2001773) == before  # cached
    simulate()
    assert (route.call_count, simulation.call_count) == (1, 1)
    client.forget()
    after = client.get_sku(2001773)
    simulate()
    assert (route.call_count, simulation.call_count) == (2, 2)
    assert before is not None
    assert after is not None
    assert (before.IsActive, after.IsActive) == (False, True)


def test_forget_drops_remembered_404s_and_failures_too(
    client: VtexClient, vtex: respx.MockRouter
) -> None:
    route = vtex.get(SKU_PATH).mock(
        side_effect=[
            httpx.Response(404),
            httpx.Response(403),
            httpx.Response(200, json=load("sku_context.json")),
        ]
    )
    assert client.get_sku(2001773) is None
    assert client.get_sku(2001773) is None  # remembered
    client.forget()
    with pytest.raises(VtexPermissionError):
        client.get_sku(2001773)
    with pytest.raises(VtexPermissionError):
        client.get_sku(2001773)  # the failure is remembered too, until forgotten
    client.forget()
    assert client.get_sku(2001773) is not None
    assert route.call_count == 3


# ---- secrets -----------------------------------------------------------------------------------


def _texts(error: BaseException) -> list[str]:
    texts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), *map(str, seen.args)]
        seen = seen.__cause__ or seen.__context__
    return texts


def test_no_write_failure_shows_the_key_pair(make_client: Callable[..., VtexClient]) -> None:
    echo = f"token {TOKEN} key {KEY}"
    answers: list[httpx.Response | type[Exception]] = [
        httpx.Response(401, text=echo),
        httpx.Response(403, json={"Message": echo}),
        httpx.Response(500, text=echo),
        httpx.Response(429, text=echo),
        httpx.Response(400, json={"Message": echo}),
        httpx.ReadTimeout,
    ]
    texts: list[str] = []
    for answer in answers:

        def handle(request: httpx.Request, answer: Any = answer) -> httpx.Response:
            if isinstance(answer, httpx.Response):
                return answer
            raise answer("timed out")

        client = make_client(transport=httpx.MockTransport(handle), max_retries=0)
        calls: list[Callable[[VtexClient], None]] = [
            lambda c: c.update_sku(70, activated()),
            lambda c: c.link_product_to_trade_policy(42, 3),
            # An id that happens to carry the token (from a hostile order file): blanked too.
            lambda c: c.link_product_to_trade_policy(TOKEN, KEY),
        ]
        for call in calls:
            with pytest.raises(VtexApiError) as caught:
                call(client)
            texts += [*_texts(caught.value), caught.value.message]
        with pytest.raises(ValueError, match="the record's Id is not the SKU") as refused:
            client.update_sku(TOKEN, activated())
        texts += _texts(refused.value)
    leaks = [text for text in texts if TOKEN in text or KEY in text]
    assert leaks == []
    assert len(texts) > 30
    assert any("/salespolicy/***" in text for text in texts)


# ---- against the stateful loopback server ------------------------------------------------------

RECORD_1070 = "/api/catalog/pvt/stockkeepingunit/1070"
LINK_91070 = f"/api/catalog/pvt/product/91070/salespolicy/{TRADE_POLICY}"


def served_client(server: VtexServer, waits: list[float], **options: Any) -> VtexClient:
    """The client pointed at `server` as a CLI run would be; its waits are recorded, not slept."""
    return VtexClient(
        VtexConfig.from_env(env_for(server)),
        transport=httpx.HTTPTransport(verify=_TLS),
        sleep=waits.append,
        **options,
    )


def activate(client: VtexClient, sku_id: str) -> dict[str, Any]:
    """What `guide --apply` does for an inactive SKU: read, change the flag, write it all back."""
    read = client.get_sku_record(sku_id)
    assert read is not None
    body = {**read, "IsActive": True}
    client.update_sku(sku_id, body)
    return body


def test_activation_reads_writes_the_whole_record_and_verifies() -> None:
    store = Store().add(Sku("1070", active=False))
    waits: list[float] = []
    with (
        store.serve(require_keys=DEFAULT_KEYS) as server,
        served_client(server, waits) as client,
    ):
        before = client.get_sku("1070")
        sent = activate(client, "1070")
        cached = client.get_sku("1070")
        client.forget()
        after = client.get_sku("1070")
        record = client.get_sku_record("1070")
    assert before is not None
    assert cached is not None
    assert after is not None
    assert (before.IsActive, cached.IsActive, after.IsActive) == (False, False, True)
    [put] = server.writes()
    assert (put.method, put.path, put.status, put.applied) == ("PUT", RECORD_1070, 200, True)
    # Every field of the record read went back, only IsActive changed.
    assert put.body == sent == {**load("sku_record.json"), **ids_1070(), "IsActive": True}
    assert record == sent
    assert waits == []


def ids_1070() -> dict[str, Any]:
    return {"Id": 1070, "ProductId": 91070, "RefId": "REF-1070"}


def test_a_sku_without_an_image_is_still_inactive_when_verified() -> None:
    store = Store().add(Sku("1070", active=False, images=0))
    with store.serve() as server, served_client(server, []) as client:
        activate(client, "1070")  # VTEX answers 200
        client.forget()
        after = client.get_sku("1070")
    assert after is not None
    assert after.IsActive is False
    assert after.Images == []
    assert len(server.writes()) == 1


def test_linking_the_product_shows_in_the_sku_context_after_forget() -> None:
    store = Store().add(Sku("1070", trade_policies=["1"]))
    with store.serve() as server, served_client(server, []) as client:
        sku = client.get_sku("1070")
        assert sku is not None
        before = [p.StoreId for p in client.get_product_sales_policies(sku.ProductId)]
        client.link_product_to_trade_policy(sku.ProductId, TRADE_POLICY)
        client.forget()
        after = [p.StoreId for p in client.get_product_sales_policies(sku.ProductId)]
        relinked = client.get_sku("1070")
    assert (before, after) == (["1"], ["1", TRADE_POLICY])
    assert relinked is not None
    assert relinked.SalesChannels == ["1", TRADE_POLICY]
    [post] = server.writes()
    assert (post.method, post.path, post.body, post.applied) == ("POST", LINK_91070, None, True)


@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied"])
def test_a_500_on_the_put_is_reported_once_and_the_reread_tells_what_happened(
    applied: bool,
) -> None:
    store = Store().add(Sku("1070", active=False))
    waits: list[float] = []
    with store.serve() as server, served_client(server, waits) as client:
        server.fault(f"PUT {RECORD_1070}", {"status": 500}, applied=applied)
        with pytest.raises(VtexApiError) as caught:
            activate(client, "1070")
        record = client.get_sku_record("1070")  # never cached: the live state
    assert caught.value.status == 500
    assert "the write may have been applied" in caught.value.message
    assert [(w.method, w.status) for w in server.writes()] == [("PUT", 500)]  # not re-sent
    assert waits == []
    assert record is not None
    assert record["IsActive"] is applied


def test_a_403_on_the_link_names_edit_product_and_is_not_retried() -> None:
    store = Store().add(Sku("1070", trade_policies=["1"]))
    with store.serve() as server, served_client(server, []) as client:
        server.fault(f"POST {LINK_91070}", {"status": 403, "body": {"Message": "Forbidden"}})
        with pytest.raises(VtexPermissionError, match="Catalog API > General > Edit Product"):
            client.link_product_to_trade_policy("91070", TRADE_POLICY)
    assert len(server.writes()) == 1
    assert store.skus["1070"].trade_policies == ["1"]


def test_a_put_throttled_once_is_sent_again_after_retry_after() -> None:
    store = Store().add(Sku("1070", active=False))
    waits: list[float] = []
    with store.serve() as server, served_client(server, waits) as client:
        server.fault(f"PUT {RECORD_1070}", {"status": 429, "headers": {"Retry-After": "1"}})
        activate(client, "1070")
    assert [(w.status, w.applied) for w in server.writes()] == [(429, False), (200, True)]
    assert waits == [1.0]
    assert store.skus["1070"].active is True


def test_a_put_without_an_answer_is_not_sent_again() -> None:
    # VTEX carried the write out, but its answer never came back before the client's timeout.
    store = Store().add(Sku("1070", active=False))
    with store.serve() as server, served_client(server, [], timeout=0.2) as client:
        server.fault(f"PUT {RECORD_1070}", {"delay": 30.0}, applied=True)
        with pytest.raises(VtexApiError, match=r"no response \(ReadTimeout\), not retried"):
            activate(client, "1070")
    assert len(server.writes()) == 1
    assert store.skus["1070"].active is True  # why the client must re-read, not re-send


# ---- record and replay -------------------------------------------------------------------------


def guide_like_run(client: VtexClient) -> list[Any]:
    """Read, write, verify: the calls `guide --apply` makes for an inactive SKU."""
    seen: list[Any] = [client.get_sku("1070")]
    activate(client, "1070")
    client.link_product_to_trade_policy("91070", TRADE_POLICY)
    client.forget()
    seen += [client.get_sku("1070"), client.get_sku_record("1070")]
    return seen


def test_a_run_with_writes_is_recorded_and_replays_without_vtex(tmp_path: Path) -> None:
    store = Store().add(Sku("1070", active=False, trade_policies=["1"]))
    with store.serve() as server:
        client, recorder = open_client(env_for(server), record=tmp_path / "run.json")
        assert recorder is not None
        with client:
            live = guide_like_run(client)
        recorder.save(tmp_path / "run.json")
    document = json.loads((tmp_path / "run.json").read_text("utf-8"))
    writes = [e for e in document["exchanges"] if e["method"] != "GET"]
    assert [(e["method"], e["path"], e["status"]) for e in writes] == [
        ("PUT", RECORD_1070, 200),
        ("POST", LINK_91070, 200),
    ]
    assert writes[0]["request_body"] == server.writes()[0].body
    # The replay needs no server, and sends nothing anywhere.
    replayed, _ = open_client({}, replay=tmp_path / "run.json")
    with replayed:
        again = guide_like_run(replayed)
    assert again == live
    assert (live[1].IsActive, live[1].SalesChannels) == (True, ["1", TRADE_POLICY])


def test_a_recorded_write_body_is_blanked_like_the_answers() -> None:
    secret = "TOKEN-in-a-record-9Qz"

    def vtex(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Id": 70, "IsActive": False, "Name": secret})

    recorder = RecordingTransport(httpx.MockTransport(vtex), [secret])
    client = VtexClient(VtexConfig.from_env({**ENV, "VTEX_APP_TOKEN": secret}), transport=recorder)
    with client:
        read = client.get_sku_record(70)
        assert read is not None
        client.update_sku(70, {**activated(), "Name": read["Name"]})
    assert secret not in json.dumps(recorder.exchanges)
    put = recorder.exchanges[1]
    assert put["request_body"]["Name"] == "***"
    # Replayed, the client reads the blanked record, so it sends (and matches) the blanked body.
    replay = ReplayTransport(recorder.exchanges)
    request = httpx.Request("PUT", "http://127.0.0.1" + RECORD_PATH, json=put["request_body"])
    assert replay.handle_request(request).status_code == 200
