"""A loopback VTEX API for end-to-end tests and benchmarks: scripted answers over a real socket.

respx mocks below httpx; this server sits on the other side of a real TCP connection, so what it
sees is exactly what the client put on the wire (percent-encoding, headers, JSON body) and what
the client gets back goes through httpx's own parsing, timeouts and connection pool.

    scenario = Scenario.from_dict({"routes": {
        "GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/1": {"body": {...}},
        "GET /api/logistics/pvt/inventory/skus/1": {"sequence": [
            {"status": 429, "headers": {"Retry-After": "1"}},
            {"body": {"skuId": "1", "balance": []}},
        ]},
    }})
    with VtexServer(scenario, require_keys=DEFAULT_KEYS) as server:
        client = VtexClient(VtexConfig.from_env(env_for(server)), sleep=lambda _: None)
        ...
        assert server.count("GET", "/api/logistics/") == 2
        assert server.writes() == []

A route is `"METHOD /path"` with the path exactly as the client sends it (percent-encoding kept,
compared as text: `%2F` is not `%2f`), optionally followed by `?query` to answer one query string
only; the route with the query wins over the bare path. A response spec is
`{"status", "body" | "text", "headers", "delay", "trickle"}` (`trickle`: seconds between the
body's bytes, sent one at a time, as a server that never quite stops answering) or
`{"sequence": [spec, ...]}` (successive
answers to successive requests on that route, the last one repeating). Anything not in the
scenario answers 404 `{"Message": "not in scenario"}`.

Stateful mode: `VtexServer(store=store)` (or `store.serve()`, or `server.set_store(store)` on a
running server) answers from a tests/vtex_store.py Store instead of a fixed scenario. Writes
the store models (the SKU record PUT, the product salespolicy POST; see Store.apply) change
the store, and every later GET shows the change; other requests are answered from the store's
rendered routes. The store object is the live state: a test reads `store.skus[...]` afterwards.

    store = Store().add(Sku("1070", active=False))
    with store.serve(require_keys=DEFAULT_KEYS) as server:
        server.fault("PUT /api/catalog/pvt/stockkeepingunit/1070", {"status": 500})
        ...  # a client (or a CLI run with env_for(server)) reads, writes, re-reads
    [put] = server.writes()                  # the one PUT, answered 500, not carried out
    assert (put.status, put.applied) == (500, False)

Faults (either mode): `server.fault("METHOD /path[?query]", spec, times=1, applied=False)`
answers the next `times` matching requests (None: all of them) with `spec` (a response spec as
above: a 500, a 403, a 429 with Retry-After, a `delay` past the client's timeout) instead of
their answer. With `applied=True` a store write is carried out first and then answered with
the fault: VTEX did the write but the client got an error or no answer. set_scenario and
set_store drop pending faults.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl

import yaml

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
ACCOUNT = "teststore"
DEFAULT_KEYS = ("vtexappkey-test-KEYAB1", "test-apptoken-Zq81Lm0x")
# The one POST that only reads (the simulation): it changes nothing, so writes() leaves it out.
SIMULATION_PATH = "/api/checkout/pub/orderForms/simulation"
NOT_IN_SCENARIO: dict[str, str] = {"Message": "not in scenario"}

_JSON_TYPE = "application/json; charset=utf-8"
_TEXT_TYPE = "text/plain; charset=utf-8"
_SPEC_KEYS = frozenset({"status", "body", "text", "headers", "delay", "trickle", "sequence"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
# The server frames the body itself: a scripted value for these would desynchronise the stream.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
# Polling interval of serve_forever, i.e. how long stop() may wait for the accept loop to notice.
_POLL_SECONDS = 0.02


# ---- scenario ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer, with its body already encoded."""

    status: int = 200
    content: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    trickle: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """What the server answers: route key -> the replies it gives in turn (the last repeats)."""

    routes: Mapping[str, tuple[Reply, ...]] = field(default_factory=dict)
    name: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """`{"routes": {"METHOD /path": spec, ...}, "name": ..., "description": ...}`.

        Every spec is checked here, so a typo fails when the scenario loads, not as a puzzling
        answer in the middle of a test."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a scenario is a mapping, not {type(data).__name__}")
        unknown = set(data) - {"routes", "name", "description"}
        if unknown:
            raise ValueError(f"unknown scenario keys {sorted(map(str, unknown))}")
        raw_routes = data.get("routes") or {}
        if not isinstance(raw_routes, Mapping):
            raise ValueError("`routes` maps 'METHOD /path' to a response spec")
        return cls(routes=_parse_routes(raw_routes), name=str(data.get("name") or ""))

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> Scenario:
        """Load a `.json`, `.yaml` or `.yml` scenario; its name defaults to the file's stem."""
        file = Path(path)
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".json":
            data = json.loads(text)
        elif file.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ValueError(f"{file.name}: a scenario file ends in .json, .yaml or .yml")
        scenario = cls.from_dict(data)
        return scenario if scenario.name else cls(routes=scenario.routes, name=file.stem)

    def with_routes(self, routes: Mapping[str, Any]) -> Scenario:
        """A copy with `routes` (raw specs) added or replacing the ones of the same key: a shared
        base scenario with one fault injected."""
        return Scenario(routes={**self.routes, **_parse_routes(routes)}, name=self.name)

    def match(self, method: str, path: str, query: str = "") -> str | None:
        """The route key answering `METHOD path?query`: with the query first, then without."""
        if query:
            key = f"{method} {path}?{query}"
            if key in self.routes:
                return key
        key = f"{method} {path}"
        return key if key in self.routes else None


def _parse_routes(raw: Mapping[str, Any]) -> dict[str, tuple[Reply, ...]]:
    routes: dict[str, tuple[Reply, ...]] = {}
    for key, spec in raw.items():
        route = _route_key(key)
        if route in routes:
            raise ValueError(f"route {key!r} is given twice")
        routes[route] = _parse_spec(route, spec)
    return routes


def _route_key(key: object) -> str:
    if not isinstance(key, str):
        raise ValueError(f"route {key!r} is not a 'METHOD /path' string")
    method, _, target = key.strip().partition(" ")
    target = target.strip()
    # Whitespace cannot be in a request target (the client sends %20): such a route never matches.
    if method.upper() not in METHODS or not target.startswith("/") or re.search(r"[\s#]", target):
        raise ValueError(
            f"route {key!r} is not 'METHOD /path' with METHOD one of {', '.join(METHODS)} "
            "and a percent-encoded path"
        )
    return f"{method.upper()} {target}"


def _parse_spec(where: str, spec: object, *, in_sequence: bool = False) -> tuple[Reply, ...]:
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: a response spec is a mapping, not {type(spec).__name__}")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        allowed = ", ".join(sorted(_SPEC_KEYS))
        raise ValueError(f"{where}: unknown keys {sorted(map(str, unknown))} (allowed: {allowed})")
    if "sequence" not in spec:
        return (_parse_reply(where, spec),)
    if in_sequence:
        raise ValueError(f"{where}: a sequence step cannot itself be a sequence")
    if len(spec) > 1:
        raise ValueError(f"{where}: `sequence` cannot be combined with other keys")
    steps = spec["sequence"]
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"{where}: `sequence` is a non-empty list of response specs")
    return tuple(
        _parse_spec(f"{where} sequence[{index}]", step, in_sequence=True)[0]
        for index, step in enumerate(steps)
    )


def _parse_reply(where: str, spec: Mapping[str, Any]) -> Reply:
    status = spec.get("status", 200)
    # `type(...) is int`: True is an int to Python, and a string "429" is a typo worth reporting.
    if type(status) is not int or not 200 <= status <= 599:
        raise ValueError(f"{where}: status {status!r} is not an integer from 200 to 599")
    if "body" in spec and "text" in spec:
        raise ValueError(f"{where}: give `body` (JSON) or `text` (raw), not both")
    content_type: str | None = None
    content = b""
    if "body" in spec:
        # allow_nan=False: `body` is always valid JSON; a malformed body is spelt with `text`.
        try:
            content = json.dumps(spec["body"], ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: `body` is not a JSON value ({exc})") from None
        content_type = _JSON_TYPE
    elif "text" in spec:
        if not isinstance(spec["text"], str):
            raise ValueError(f"{where}: `text` is a string")
        content = spec["text"].encode()
        content_type = _TEXT_TYPE
    if content and status in (204, 304):
        raise ValueError(f"{where}: a {status} cannot carry a body")
    headers = _parse_headers(where, spec.get("headers") or {})
    if content_type and not any(name.lower() == "content-type" for name, _ in headers):
        headers = (("Content-Type", content_type), *headers)
    delay, trickle = (_seconds(where, spec, key) for key in ("delay", "trickle"))
    return Reply(status=status, content=content, headers=headers, delay=delay, trickle=trickle)


def _seconds(where: str, spec: Mapping[str, Any], key: str) -> float:
    value = spec.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(f"{where}: {key} {value!r} is not a number of seconds >= 0")
    return float(value)


def _parse_headers(where: str, raw: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: `headers` is a mapping of names to values")
    headers: list[tuple[str, str]] = []
    for name, value in raw.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"{where}: {name!r} is not a header name")
        if name.lower() in _FRAMING_HEADERS:
            raise ValueError(f"{where}: {name} is set by the server from the body")
        # YAML reads `Retry-After: 1` as an integer: numbers are accepted and sent as text.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{where}: header {name} has value {value!r}, not a string")
        text = str(value)
        if "\r" in text or "\n" in text:
            raise ValueError(f"{where}: header {name} contains a line break")
        headers.append((name, text))
    return tuple(headers)


class StatefulStore(Protocol):
    """What the server needs of a store (tests/vtex_store.py Store) in stateful mode."""

    def routes(self) -> dict[str, Any]: ...

    def apply(self, method: str, path: str, body: Any) -> tuple[int, Any] | None: ...


@dataclass
class _Fault:
    route: str
    reply: Reply
    applied: bool
    remaining: int | None  # None: every matching request from now on


def _as_scenario(scenario: Scenario | Mapping[str, Any] | None) -> Scenario:
    if scenario is None:
        return Scenario()
    return scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)


def _json_reply(status: int, body: object) -> Reply:
    return Reply(status, json.dumps(body).encode(), (("Content-Type", _JSON_TYPE),))


_NOT_FOUND = _json_reply(404, NOT_IN_SCENARIO)
# The server's own wording: what VTEX itself puts in a 401 body is not documented.
_UNAUTHORIZED = _json_reply(401, {"Message": "missing or wrong X-VTEX-API-AppKey/AppToken"})
_LENGTH_REQUIRED = _json_reply(411, {"Message": "send the body with a Content-Length"})
_BAD_LENGTH = _json_reply(400, {"Message": "Content-Length is not a number of bytes"})


# ---- recorded requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. Header names are lower-cased (HTTP names are case-insensitive)."""

    method: str
    path: str  # percent-encoding preserved, without the query string
    query: str  # raw, without the "?"; "" when there is none
    headers: dict[str, str]
    body: Any  # parsed JSON, else the raw text; None when empty
    status: int  # what the server answered
    # The scenario route or fault that answered, or `METHOD /path` for a write the store
    # handled; None for a 404 or 401 of the server.
    route: str | None
    applied: bool = False  # a write the store carried out (stateful mode)

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def params(self) -> dict[str, str]:
        """The query string decoded (the last value of a repeated name)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def is_simulation(self) -> bool:
        return self.method == "POST" and self.path == SIMULATION_PATH


def _decode_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:  # includes UnicodeDecodeError
        return raw.decode("utf-8", errors="replace")


def _header_dict(message: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


# ---- the server -------------------------------------------------------------------------------


class VtexServer:
    """The loopback server. `with VtexServer(scenario) as server:` starts it on 127.0.0.1 with a
    free port and stops it on exit. Thread-safe; one start per instance.

    `latency` (seconds, added to every answer) and `require_keys` (the `(app_key, app_token)` a
    request must carry, else 401) are read per request, so they may be changed while running.

    `store` (instead of `scenario`): stateful mode, see the module docstring.
    """

    def __init__(
        self,
        scenario: Scenario | Mapping[str, Any] | None = None,
        *,
        store: StatefulStore | None = None,
        latency: float = 0.0,
        require_keys: tuple[str, str] | None = None,
    ) -> None:
        if not 0 <= latency < math.inf:
            raise ValueError("latency is a number of seconds >= 0")
        if scenario is not None and store is not None:
            raise ValueError("a VtexServer answers from a scenario or from a store, not both")
        self.latency = latency
        self.require_keys = require_keys
        self._store = store
        self._scenario = _render(store) if store is not None else _as_scenario(scenario)
        self._faults: dict[str, list[_Fault]] = {}
        self._hits: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> VtexServer:
        if self._httpd is not None or self._stopping.is_set():
            raise RuntimeError("a VtexServer starts once")
        self._httpd = _HTTPServer(("127.0.0.1", 0), self)
        self._port = self._httpd.server_port
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"vtex-server-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        # First: delayed answers waiting on this event give up instead of outliving the server.
        self._stopping.set()
        httpd.shutdown()  # returns once serve_forever has left its loop: no new connections
        with self._lock:
            connections = list(self._connections)
        # Kept-alive connections would otherwise park their handler threads in a read until the
        # client closes its pool; shutting the socket ends that read at once.
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> VtexServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- what tests read ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server has not started: use `with VtexServer(...) as server`")
        return f"http://127.0.0.1:{self._port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def scenario(self) -> Scenario:
        """The routes answering now (in stateful mode, the store rendered after its last write)."""
        with self._lock:
            return self._scenario

    @property
    def store(self) -> StatefulStore | None:
        """The store being served (stateful mode), else None."""
        with self._lock:
            return self._store

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        return sum(
            1
            for request in self.requests
            if (method is None or request.method == method.upper())
            and (path_prefix is None or request.path.startswith(path_prefix))
        )

    def writes(self) -> list[RecordedRequest]:
        """Requests that could change the store: every non-GET except the simulation POST,
        whatever they were answered (see `status` and `applied`)."""
        return [r for r in self.requests if r.method != "GET" and not r.is_simulation]

    def set_scenario(self, scenario: Scenario | Mapping[str, Any]) -> None:
        """Answer from `scenario` from now on (leaving stateful mode); every `sequence` starts
        again from its first step, and pending faults are dropped. Recorded requests are kept
        (clear_requests() forgets them)."""
        parsed = _as_scenario(scenario)
        with self._lock:
            self._store = None
            self._scenario = parsed
            self._hits.clear()
            self._faults.clear()

    def set_store(self, store: StatefulStore) -> None:
        """Answer from `store` from now on, carrying out writes on it (stateful mode); pending
        faults are dropped. Recorded requests are kept."""
        with self._lock:
            self._store = store
            self._scenario = _render(store)
            self._hits.clear()
            self._faults.clear()

    def fault(
        self,
        route: str,
        spec: Mapping[str, Any],
        *,
        times: int | None = 1,
        applied: bool = False,
    ) -> None:
        """The next `times` requests to `route` ("METHOD /path", optionally "?query" to match
        that query only) are answered with `spec` (None: every one from now on). With
        `applied`, a store write is carried out before the fault answers (stateful mode).
        Faults queue up: two calls for one route answer the first `times` requests with the
        first spec, then the second."""
        key = _route_key(route)
        reply = _parse_spec(key, spec, in_sequence=True)[0]
        if times is not None and (isinstance(times, bool) or times < 1):
            raise ValueError(f"{key}: times is a number of requests >= 1, or None")
        with self._lock:
            self._faults.setdefault(key, []).append(_Fault(key, reply, applied, times))

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- used by the request handler ----------------------------------------------------------

    def _answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        path, _, query = target.partition("?")
        body = _decode_body(raw)
        keys = self.require_keys
        refused = keys is not None and (
            headers.get("x-vtex-api-appkey"),
            headers.get("x-vtex-api-apptoken"),
        ) != tuple(keys)
        applied = False
        with self._lock:
            route: str | None = None
            fault = None if refused else self._take_fault(method, path, query)
            if refused:
                reply = _UNAUTHORIZED
            elif fault is not None and not fault.applied:
                route, reply = fault.route, fault.reply
            else:
                store = self._store
                written = None if store is None else store.apply(method, path, body)
                if written is not None:
                    status, answer = written
                    applied = 200 <= status < 300
                    route = f"{method} {path}"
                    reply = Reply(status) if answer is None else _json_reply(status, answer)
                    if applied and store is not None:  # every later GET shows the write
                        self._scenario = _render(store)
                else:
                    route, reply = self._route_reply(method, path, query)
                if fault is not None:  # applied first, then answered with the fault
                    route, reply = fault.route, fault.reply
            # Recorded before any delay, so a request the client gave up on is still counted.
            self._requests.append(
                RecordedRequest(method, path, query, headers, body, reply.status, route, applied)
            )
        return reply

    def _route_reply(self, method: str, path: str, query: str) -> tuple[str | None, Reply]:
        route = self._scenario.match(method, path, query)
        if route is None:
            return None, _NOT_FOUND
        replies = self._scenario.routes[route]
        hit = self._hits.get(route, 0)
        self._hits[route] = hit + 1
        return route, replies[min(hit, len(replies) - 1)]

    def _take_fault(self, method: str, path: str, query: str) -> _Fault | None:
        keys = [f"{method} {path}?{query}"] if query else []
        for key in [*keys, f"{method} {path}"]:
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        queue.pop(0)
                return fault
        return None

    def _track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
        # A connection accepted just as stop() took its snapshot: close it the same way.
        if is_open and self._stopping.is_set():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    # Handler threads must not keep the process alive, and server_close() must not wait for them.
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: VtexServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind also resolves the host name (socket.getfqdn), a DNS round trip
        # that can take seconds on a badly configured machine and that nothing here reads.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or closed its pool, or stop() shutting a socket: routine here,
        # not worth a traceback. Anything else is a bug of this server and stays loud.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: keep-alive, as with VTEX, so benchmarks do not pay a TCP handshake per request.
    protocol_version = "HTTP/1.1"
    server_version = "vtex-loopback"
    # The head and the body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK of the first: about 40 ms per kept-alive request on Linux.
    disable_nagle_algorithm = True

    @property
    def _owner(self) -> VtexServer:
        return cast(_HTTPServer, self.server).owner

    def setup(self) -> None:
        super().setup()
        self._owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the recorded requests are the log

    def _serve(self) -> None:
        owner = self._owner
        raw = self._read_body()
        if raw is None:
            return
        reply = owner._answer(self.command, self.path, _header_dict(self.headers), raw)
        delay = owner.latency + reply.delay
        # A real wait in this handler thread (other connections have their own threads). An
        # Event rather than time.sleep so that stop() cuts it short: a delay longer than the
        # client's timeout would otherwise outlive the test and answer a closed socket.
        if delay > 0 and owner._stopping.wait(delay):
            self.close_connection = True
            return
        self._write(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def _read_body(self) -> bytes | None:
        # The body is always read, even for a 401 or 404: left in the stream it would be parsed
        # as the next request of this kept-alive connection.
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._write(_LENGTH_REQUIRED)
            return None
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._write(_BAD_LENGTH)
            return None
        return self.rfile.read(length) if length else b""

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.content)))
        self.end_headers()
        if reply.trickle:
            self._trickle(reply)
        elif reply.content:
            self.wfile.write(reply.content)

    def _trickle(self, reply: Reply) -> None:
        # Each byte well within any read timeout, the whole body far beyond any deadline.
        self.wfile.flush()
        for index in range(len(reply.content)):
            if self._owner._stopping.wait(reply.trickle):
                break
            self.wfile.write(reply.content[index : index + 1])
            self.wfile.flush()
        self.close_connection = True


def _render(store: StatefulStore) -> Scenario:
    return Scenario.from_dict({"routes": store.routes()})


def env_for(
    server: VtexServer, app_key: str = DEFAULT_KEYS[0], app_token: str = DEFAULT_KEYS[1]
) -> dict[str, str]:
    """The VTEX_* variables that point a CLI run or `VtexConfig.from_env` at `server`; merge them
    over a copy of the real environment (they win over the same names set there)."""
    return {
        "VTEX_BASE_URL": server.base_url,
        "VTEX_ACCOUNT": ACCOUNT,
        "VTEX_APP_KEY": app_key,
        "VTEX_APP_TOKEN": app_token,
    }
