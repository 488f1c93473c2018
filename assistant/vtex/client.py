"""The VTEX API client: the only module of order-assistant that speaks HTTP.

    AssistantError
    ├── VtexConfigError          (2)  a VTEX_* variable is missing or malformed (named, never echoed
    │                                 when it is the key or the token)
    └── VtexApiError             (3)  a call failed: method, path, status and a short reason
        └── VtexPermissionError  (3)  401/403: names the License Manager resource the key needs

Reads (PRODUCT.md §7, NOTES-vtex-api.md §1 and §11): a timeout on every call; 429, 423 and 5xx
and transport errors retried (by tenacity) a bounded number of times with exponential backoff
honouring `Retry-After`; 401/403/404 never retried; 404 on a lookup is a fact (None), not an
error; each distinct GET sent once per client (forget() drops that cache); a client-side token
bucket. The fulfillment simulation is a POST that reads: it is retried and cached like a GET.

Writes (only `guide --apply` calls them, after a confirmation): two, and nothing else.

- update_sku: `PUT /api/catalog/pvt/stockkeepingunit/{skuId}`, a full replace (a field left out
  is cleared, a missing `IsActive` deactivates), so it takes the whole record that
  get_sku_record read, and refuses one that is not (no matching `Id`, no boolean `IsActive`, a
  field the spec requires missing);
- link_product_to_trade_policy: `POST /api/catalog/pvt/product/{productId}/salespolicy/{tpId}`.

A write is sent again only when VTEX says it did not process it: 429 and 423 (same bounded
backoff and `Retry-After` as reads), and a connection that could not be made (nothing was sent).
A 5xx, a timeout or a connection lost after the request went out is not retried: the write may
have been applied, so the error says so and the caller re-reads. Writes go through the same rate
limiter and count in `request_count`; they are never cached, and a write does not drop the read
cache by itself: call forget() before re-reading to verify.

Time and size (issue 11): a run shares one Deadline (assistant.vtex.deadline). Every attempt
first checks it, its timeout is capped by what is left, and the body is read in chunks, so a
server that never answers or trickles its answer byte by byte ends the lookup when the deadline
passes ("deadline of N s reached", a VtexApiError: the check that needed it is an `error`).
A watchdog thread cuts the run's connections when it passes (a read blocked in a socket would
otherwise wait out its own timeout); cancel() (Ctrl-C) does the same at once and wakes every
backoff wait. A body over `max_body_bytes` (after decompression) is refused as it streams in,
and a blank 200, or JSON nested too deeply to parse, is an error, never "not found".

Secrets: the API key pair goes into two request headers and nowhere else. No message, repr or
exception text built here contains it, and redirects are not followed (httpx would replay our
custom auth headers to whatever host a redirect names).
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import json
import math
import re
import socket
import threading
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlencode

import httpx
from pydantic import TypeAdapter, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
)

from assistant import __version__
from assistant.errors import VtexApiError, VtexConfigError, VtexPermissionError
from assistant.validation import field_path
from assistant.vtex.deadline import Deadline
from assistant.vtex.models import (
    Affiliate,
    CollectionPage,
    Dock,
    FreightValue,
    ProductSalesPolicy,
    ShippingPolicy,
    Simulation,
    SimulationItem,
    SkuContext,
    SkuInventory,
    TradePolicy,
    VtexId,
    Warehouse,
)
from assistant.vtex.redaction import Redactor, secret_problem

DEFAULT_ENVIRONMENT = "vtexcommercestable"
# VTEX publishes 45,000 requests/minute per account and 15,000 per Catalog endpoint (Catalog API
# spec). 150/s is 9,000/minute over every endpoint together: a fifth of the account's limit, and
# about a third of our requests go to any one endpoint. Enough for 8 concurrent lookups at
# 50 ms, far below what VTEX allows.
DEFAULT_REQUESTS_PER_SECOND = 150.0
DEFAULT_BURST = 20
JSON = "application/json"
# The largest response body read (after decompression): the biggest documented answers (docks,
# warehouses, a large order's simulation) are tens of KB; anything this size is not one of them.
MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = 15.0

T = TypeVar("T")


# ---- configuration ---------------------------------------------------------------------------

# fullmatch, not `^...$`: `$` also matches before a trailing newline ("evil\n").
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# What an HTTP header value can carry without h11 refusing it (and quoting it in the error).
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class VtexConfig:
    """Where and as whom to call VTEX. The key pair is left out of the repr."""

    account: str
    app_key: str = field(repr=False)
    app_token: str = field(repr=False)
    environment: str = DEFAULT_ENVIRONMENT
    base_url_override: str | None = None

    def __post_init__(self) -> None:
        # Validated here, so no URL is ever built from an unchecked account or environment.
        _check_name("VTEX_ACCOUNT", self.account, "a VTEX account name")
        _check_name("VTEX_ENVIRONMENT", self.environment, "a VTEX environment name")
        _check_secret("VTEX_APP_KEY", self.app_key)
        _check_secret("VTEX_APP_TOKEN", self.app_token)
        if self.base_url_override is not None:
            object.__setattr__(self, "base_url_override", _check_base_url(self.base_url_override))

    @property
    def base_url(self) -> str:
        if self.base_url_override is not None:
            return self.base_url_override
        return f"https://{self.account}.{self.environment}.com.br"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VtexConfig:
        """Read VTEX_ACCOUNT, VTEX_ENVIRONMENT, VTEX_BASE_URL, VTEX_APP_KEY and VTEX_APP_TOKEN."""
        return cls(
            account=_required(env, "VTEX_ACCOUNT"),
            app_key=_required(env, "VTEX_APP_KEY"),
            app_token=_required(env, "VTEX_APP_TOKEN"),
            environment=env.get("VTEX_ENVIRONMENT") or DEFAULT_ENVIRONMENT,
            base_url_override=env.get("VTEX_BASE_URL") or None,
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None or not value.strip():
        raise VtexConfigError(f"{name} is not set: online checks need {_NEEDED}")
    return value


_NEEDED = "VTEX_ACCOUNT, VTEX_APP_KEY and VTEX_APP_TOKEN"


def _check_name(variable: str, value: str, what: str) -> None:
    if not _NAME.fullmatch(value):
        # repr() escapes control characters, so the value cannot drive the terminal.
        shown = repr(value[:70])
        raise VtexConfigError(
            f"{variable} {shown} is not {what} "
            "(lowercase letters, digits and hyphens, at most 63 characters)"
        )


def _check_secret(variable: str, value: str) -> None:
    if not _HEADER_SAFE.fullmatch(value):
        # Never the value: it is a credential.
        raise VtexConfigError(
            f"{variable} is empty or contains spaces or characters an HTTP header cannot carry"
        )
    problem = secret_problem(value)
    if problem is not None:
        # Refused, not just masked: a short or placeholder value would be blanked wherever it
        # occurs in a text ("linked" -> "lin***ed"), and it would fail at VTEX anyway.
        raise VtexConfigError(
            f"{variable} {problem}; copy the key pair from the VTEX Admin "
            "(Account settings > Account > Security > Access keys)"
        )


def _check_base_url(value: str) -> str:
    # The value is not echoed: a URL can carry credentials in its user-info part.
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        raise VtexConfigError("VTEX_BASE_URL is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise VtexConfigError("VTEX_BASE_URL must be an http(s) URL with a host")
    if url.userinfo or url.query or url.fragment:
        raise VtexConfigError("VTEX_BASE_URL must not carry user-info, a query or a fragment")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise VtexConfigError(
            "VTEX_BASE_URL must use https (plain http only on a loopback address): "
            "the API key pair would cross the network in clear text"
        )
    return str(url).rstrip("/")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---- rate limiting and retries ---------------------------------------------------------------


class RateLimiter:
    """Token bucket: `rate` requests per second on average, at most `burst` back to back.

    Catalog allows 15,000 requests per minute per endpoint (Catalog API spec); the default client
    rate is far below that, so one diagnosis never competes with the store's own integrations.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("the rate limit needs rate > 0 and burst >= 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._updated = max(now, self._updated)
            if self._tokens >= 1:
                self._tokens -= 1
                return
            wait = (1 - self._tokens) / self._rate
            # Sleeping under the lock queues the other threads behind this one: each waits its
            # turn, which is what a limiter shared by a thread pool is for.
            self._sleep(wait)
            self._tokens = 0.0
            self._updated = max(self._clock(), now + wait)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or an HTTP date), or None."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always GMT
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _is_retryable(status: int, write: bool = False) -> bool:
    # 423 Locked: Logistics answers it when two inventory operations hit the same SKU and
    # warehouse within milliseconds (Logistics API spec); it clears by itself. 429 and 423 say
    # the request was not processed; a 5xx does not, so a write is not sent again after one.
    return status in (423, 429) or (status >= 500 and not write)


# Failures before any byte of the request left: no connection, or none free in the pool. A write
# is retried after these only; any other transport error may come after VTEX got the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAY_HAVE_BEEN_APPLIED = "not retried: the write may have been applied, re-read before retrying"


# ---- endpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Endpoint:
    # The License Manager resource a 403 means is missing (NOTES-vtex-api.md §1, from each
    # operation's "Permissions" section in the specs); None for the public simulation route.
    resource: str | None
    # 404 on a lookup is an answer ("no such SKU"), cached like any other.
    missing_is_fact: bool = False


_SKUS = _Endpoint("Catalog > Content > SKUs", missing_is_fact=True)
_SALES_POLICY = _Endpoint("Catalog API > General > View Product")
_TRADE_POLICY = _Endpoint("Catalog API > General > View Product", missing_is_fact=True)
_AFFILIATE = _Endpoint(
    "Checkout > CheckoutResources > Save Order Configuration (or Save OrderForm Configuration)",
    missing_is_fact=True,
)
_INVENTORY = _Endpoint(
    "Logistics > Logistics access > Logistics inventory read only "
    "(or Logistics viewer, Logistics inventory full access, Logistics full access)"
)
_LOGISTICS_SETUP = _Endpoint(
    "Logistics > Logistics access > Logistics viewer (or Logistics full access)"
)
_SIMULATION = _Endpoint(None)
# A shipping policy a dock names may have been deleted: its 404 is an answer (no such carrier).
_SHIPPING_POLICY = _Endpoint(
    "Logistics > Logistics access > Logistics viewer (or Logistics full access, "
    "Logistics shipping full access)",
    missing_is_fact=True,
)
_COLLECTION = _Endpoint("Catalog > Collection > Read Collections")
# Writes. The SKU PUT needs the same resource as the SKU reads (Catalog spec, "Update SKU");
# the salespolicy POST needs Edit Product (Catalog spec, "Associate product with sales channel").
_SKU_UPDATE = _Endpoint("Catalog > Content > SKUs")
_PRODUCT_EDIT = _Endpoint("Catalog API > General > Edit Product")

# The fields the Catalog spec requires in the body of `PUT .../stockkeepingunit/{skuId}`, plus
# `Id`. A record without one of them is not a whole record: sending it would clear fields.
SKU_RECORD_REQUIRED = (
    "Id",
    "ProductId",
    "Name",
    "PackagedHeight",
    "PackagedLength",
    "PackagedWidth",
    "PackagedWeightKg",
    "IsActive",
)

_SKU_CONTEXT = TypeAdapter(SkuContext)
_SKU_ID = TypeAdapter(VtexId)
_SALES_POLICIES = TypeAdapter(list[ProductSalesPolicy])
_TRADE_POLICY_MODEL = TypeAdapter(TradePolicy)
_AFFILIATE_MODEL = TypeAdapter(Affiliate)
_INVENTORY_MODEL = TypeAdapter(SkuInventory)
_DOCKS = TypeAdapter(list[Dock])
_WAREHOUSES = TypeAdapter(list[Warehouse])
_SIMULATION_MODEL = TypeAdapter(Simulation)
_SHIPPING_POLICY_MODEL = TypeAdapter(ShippingPolicy)
_FREIGHT_VALUES = TypeAdapter(list[FreightValue])
_COLLECTION_PAGE = TypeAdapter(CollectionPage)
# A collection is read whole (it is cached for the run); past this many pages the lookup fails
# rather than reading a catalog-sized collection one page at a time.
_COLLECTION_PAGE_SIZE = 50
_MAX_COLLECTION_PAGES = 200

_NOT_CACHED = object()
_MAX_CACHED_SIMULATIONS = 4096


def _segment(value: str | int, method: str = "GET") -> str:
    """One path segment: every reserved character quoted, so an id with `/`, `?` or `#` stays one
    segment of the path it was meant for."""
    text = str(value)
    if not text.strip():
        # Ids come from orders and from VTEX's own answers; a blank one cannot be looked up.
        raise VtexApiError(method, "(blank id)", "a blank id cannot be used in a VTEX path")
    quoted = quote(text, safe="")
    # httpx removes `.` and `..` segments (RFC 3986 dot-segment removal), which would move the
    # request to another path: percent-encode the dots of such a segment.
    if set(quoted) == {"."}:
        quoted = "%2E" * len(quoted)
    return quoted


# ---- the client ------------------------------------------------------------------------------


def _same_id(value: object, wanted: str | int) -> bool:
    # Catalog sends ids as integers, orders and paths carry them as text; a boolean is no id.
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    return str(value).strip() == str(wanted).strip()


class VtexClient:
    """VTEX calls for the checks, and the two writes of `guide --apply`. Thread-safe: bulk
    triage shares one client."""

    def __init__(
        self,
        config: VtexConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 30.0,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        burst: int = DEFAULT_BURST,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        deadline: Deadline | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if max_retries < 0 or backoff_base < 0 or max_wait < 0 or timeout <= 0:
            raise ValueError("retries, backoff and wait must be >= 0 and the timeout > 0")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")
        self.config = config
        self._redactor = Redactor([config.app_token, config.app_key])
        self.request_count = 0
        self.deadline = deadline if deadline is not None else Deadline()
        self._timeout = timeout
        self._max_body_bytes = max_body_bytes
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._max_wait = max_wait
        # Waits end early on cancel() (Ctrl-C); tests pass a sleep that does not wait at all.
        sleep = sleep if sleep is not None else self.deadline.wait
        self._sleep = sleep
        self._wall_clock = wall_clock
        # Every socket the client opened (httpcore's trace extension reports them), so that
        # cancel() and the deadline's watchdog can cut off the reads blocked in them.
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()
        self._limiter = RateLimiter(requests_per_second, burst, clock=clock, sleep=sleep)
        self._cache: dict[str, Any] = {}
        self._simulations: OrderedDict[str, Any] = OrderedDict()
        self._key_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=config.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={
                "X-VTEX-API-AppKey": config.app_key,
                "X-VTEX-API-AppToken": config.app_token,
                # The specs mark both as required on nearly every operation, GETs included.
                "Accept": JSON,
                "Content-Type": JSON,
                "User-Agent": f"order-assistant/{__version__}",
            },
        )

    def __repr__(self) -> str:
        return f"VtexClient(account={self.config.account!r}, base_url={self.config.base_url!r})"

    def redact(self, text: str) -> str:
        """Text built from VTEX responses, with the key pair blanked should a response echo it
        (as is, JSON-escaped or percent-encoded; see redaction.py)."""
        return self._redactor.text(text)

    def close(self) -> None:
        self._closed.set()
        self._http.close()

    def cancel(self) -> None:
        """Stop this run's calls now (Ctrl-C): waits return, requests in flight are cut off,
        and every later lookup fails with "interrupted" instead of being sent."""
        self.deadline.cancel()
        self._closed.set()  # the watchdog has nothing left to do
        self._cut_connections()

    def __enter__(self) -> VtexClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- the calls the checks make -----------------------------------------------------------

    def get_sku(self, sku_id: str | int) -> SkuContext | None:
        """The SKU with its context (active flags, product, trade policies); None if unknown."""
        path = f"/api/catalog_system/pvt/sku/stockkeepingunitbyid/{_segment(sku_id)}"
        body = self._get(path, _SKUS)
        # The spec documents no 404 body here; a `null` 200 is read as "not found" too
        # (NOTES-vtex-api.md §3a, unverified); an empty one is an error (_decode).
        return None if body is None else self._parse(_SKU_CONTEXT, body, "GET", path)

    def get_sku_id_by_ref_id(self, ref_id: str) -> str | None:
        """The VTEX SKU id whose RefId is `ref_id` (the body is a bare JSON string: `"1"`)."""
        path = f"/api/catalog_system/pvt/sku/stockkeepingunitidbyrefid/{_segment(ref_id)}"
        body = self._get(path, _SKUS)
        if body is None:
            return None  # a 404
        if body == "":
            raise VtexApiError("GET", self.redact(path), "VTEX answered 200 with an empty id")
        return self._parse(_SKU_ID, body, "GET", path)

    def get_sku_by_ean(self, ean: str) -> SkuContext | None:
        """The SKU whose EAN (bar code) is `ean`, with its context; None if none has it."""
        path = f"/api/catalog_system/pvt/sku/stockkeepingunitbyean/{_segment(ean)}"
        body = self._get(path, _SKUS)
        return None if body is None else self._parse(_SKU_CONTEXT, body, "GET", path)

    def get_product_sales_policies(self, product_id: str | int) -> list[ProductSalesPolicy]:
        """The trade policies the product is associated with (`StoreId`)."""
        path = f"/api/catalog/pvt/product/{_segment(product_id)}/salespolicy"
        return self._parse(_SALES_POLICIES, self._get(path, _SALES_POLICY), "GET", path)

    def get_trade_policy(self, trade_policy_id: str | int) -> TradePolicy | None:
        path = f"/api/catalog_system/pub/saleschannel/{_segment(trade_policy_id)}"
        body = self._get(path, _TRADE_POLICY)
        return None if body is None else self._parse(_TRADE_POLICY_MODEL, body, "GET", path)

    def get_affiliate(self, affiliate_id: str) -> Affiliate | None:
        """The affiliate (Amazon's is typically `MZN`), whose `salesChannel` is its trade policy.

        The Marketplace APIs spec puts `/api` in its server URL, not in its paths."""
        path = f"/api/fulfillment/pvt/affiliates/{_segment(affiliate_id)}"
        body = self._get(path, _AFFILIATE)
        return None if body is None else self._parse(_AFFILIATE_MODEL, body, "GET", path)

    def get_inventory(self, sku_id: str | int) -> SkuInventory:
        """The SKU's balance in every warehouse."""
        path = f"/api/logistics/pvt/inventory/skus/{_segment(sku_id)}"
        return self._parse(_INVENTORY_MODEL, self._get(path, _INVENTORY), "GET", path)

    def list_docks(self) -> list[Dock]:
        path = "/api/logistics/pvt/configuration/docks"
        return self._parse(_DOCKS, self._get(path, _LOGISTICS_SETUP), "GET", path)

    def list_warehouses(self) -> list[Warehouse]:
        path = "/api/logistics/pvt/configuration/warehouses"
        return self._parse(_WAREHOUSES, self._get(path, _LOGISTICS_SETUP), "GET", path)

    def get_shipping_policy(self, shipping_policy_id: str | int) -> ShippingPolicy | None:
        """The shipping policy (carrier) a dock's `freightTableIds` names; None if deleted."""
        path = f"/api/logistics/pvt/shipping-policies/{_segment(shipping_policy_id)}"
        body = self._get(path, _SHIPPING_POLICY)
        return None if body is None else self._parse(_SHIPPING_POLICY_MODEL, body, "GET", path)

    def get_freight_values(self, carrier_id: str | int, postal_code: str) -> list[FreightValue]:
        """The carrier's freight rows covering `postal_code` (an empty list: none covers it)."""
        carrier, postal = _segment(carrier_id), _segment(postal_code)
        path = f"/api/logistics/pvt/configuration/freights/{carrier}/{postal}/values"
        return self._parse(_FREIGHT_VALUES, self._get(path, _LOGISTICS_SETUP), "GET", path)

    def get_collection_product_ids(self, collection_id: str | int) -> frozenset[str]:
        """Every product id in the collection, read page by page (each page once per run)."""
        collection = _segment(collection_id)
        found: set[str] = set()
        page = 1
        while True:
            query = urlencode({"page": page, "pageSize": _COLLECTION_PAGE_SIZE})
            path = f"/api/catalog/pvt/collection/{collection}/products?{query}"
            body = self._parse(_COLLECTION_PAGE, self._get(path, _COLLECTION), "GET", path)
            found.update(product.ProductId for product in body.Data)
            last = (
                page >= body.TotalPage
                if body.TotalPage is not None
                else len(body.Data) < _COLLECTION_PAGE_SIZE
            )
            if last or not body.Data:
                return frozenset(found)
            if page >= _MAX_COLLECTION_PAGES:
                raise VtexApiError(
                    "GET",
                    self.redact(path),
                    f"collection {collection_id} has more than "
                    f"{_MAX_COLLECTION_PAGES * _COLLECTION_PAGE_SIZE} products: not read",
                )
            page += 1

    def simulate(
        self,
        items: Sequence[SimulationItem],
        postal_code: str,
        country: str,
        trade_policy_id: str | int,
        affiliate_id: str | None = None,
    ) -> Simulation:
        """Fulfillment simulation as the affiliate's order integration sees it.

        `affiliateId` is a query parameter of the Marketplace Protocol version of this route
        (the Checkout spec lists only `sc`); with both, VTEX simulates the Amazon order.
        A POST that changes nothing: retried and cached like a GET.
        """
        if not items:
            raise ValueError("a simulation needs at least one item")
        query = {"sc": str(trade_policy_id)}
        if affiliate_id is not None:
            query["affiliateId"] = affiliate_id
        path = f"/api/checkout/pub/orderForms/simulation?{urlencode(query)}"
        body = {
            "items": [item.model_dump() for item in items],
            "postalCode": postal_code,
            "country": country,
        }
        # A POST that reads: the same simulation (items, postal code, trade policy) asked twice
        # in a run, as in a backlog of identical orders, is sent once.
        key = f"POST {path} {json.dumps(body, sort_keys=True)}"
        result = self._once(key, lambda: self._fetch("POST", path, _SIMULATION, json_body=body))
        return self._parse(_SIMULATION_MODEL, result, "POST", path)

    # ---- the SKU record and the writes ---------------------------------------------------------

    def get_sku_record(self, sku_id: str | int) -> dict[str, Any] | None:
        """The flat SKU record (`GET /api/catalog/pvt/stockkeepingunit/{skuId}`) exactly as VTEX
        returned it, unknown fields included, to be changed and sent back whole by update_sku.
        None if VTEX does not know the SKU (404; an empty 200 is an error, not "unknown").

        Never from the per-run cache: it is read right before a write, and after it to verify."""
        path = f"/api/catalog/pvt/stockkeepingunit/{_segment(sku_id)}"
        body = self._fetch("GET", path, _SKUS)
        if body is None:
            return None
        shown = self.redact(path)
        if not isinstance(body, dict):
            raise VtexApiError("GET", shown, "unexpected response shape at body (not an object)")
        if not _same_id(body.get("Id"), sku_id):
            # Sent back as is, a record of another SKU would overwrite that SKU.
            problem = "unexpected response shape at Id (missing, or not the SKU asked for)"
            raise VtexApiError("GET", shown, problem)
        if not isinstance(body.get("IsActive"), bool):
            raise VtexApiError("GET", shown, "unexpected response shape at IsActive (bool_type)")
        return body

    def update_sku(self, sku_id: str | int, record: Mapping[str, Any]) -> None:
        """`PUT /api/catalog/pvt/stockkeepingunit/{skuId}` with `record` as the whole body.

        VTEX replaces the SKU with the body: a field left out is cleared and a missing
        `IsActive` deactivates the SKU. So `record` must be the full record read with
        get_sku_record (with `IsActive` changed): one whose `Id` is not `sku_id`, whose
        `IsActive` is not a boolean, or that lacks a field the spec requires
        (SKU_RECORD_REQUIRED) is refused with ValueError before anything is sent.

        A 200 does not mean the SKU is active: VTEX keeps a SKU without an image inactive.
        Re-read (after forget()) to verify."""
        path = f"/api/catalog/pvt/stockkeepingunit/{_segment(sku_id, 'PUT')}"
        shown = self.redact(path)
        if not isinstance(record, Mapping):
            raise ValueError(f"PUT {shown}: the SKU record must be a mapping (a JSON object)")
        missing = [name for name in SKU_RECORD_REQUIRED if name not in record]
        if missing:
            raise ValueError(
                f"PUT {shown}: not a whole SKU record (missing {', '.join(missing)}): "
                "VTEX would clear what is left out; send the record get_sku_record read"
            )
        if not _same_id(record["Id"], sku_id):
            raise ValueError(f"PUT {shown}: the record's Id is not the SKU being updated")
        if not isinstance(record["IsActive"], bool):
            raise ValueError(f"PUT {shown}: IsActive must be true or false")
        self._write("PUT", path, _SKU_UPDATE, dict(record))

    def link_product_to_trade_policy(
        self, product_id: str | int, trade_policy_id: str | int
    ) -> None:
        """`POST /api/catalog/pvt/product/{productId}/salespolicy/{tradePolicyId}`, no body:
        associates the product, so every SKU of it, with the trade policy."""
        product = _segment(product_id, "POST")
        policy = _segment(trade_policy_id, "POST")
        self._write(
            "POST", f"/api/catalog/pvt/product/{product}/salespolicy/{policy}", _PRODUCT_EDIT
        )

    def forget(self) -> None:
        """Drop every cached answer (GETs, 404s and failures included, and simulations), so the
        next read of anything goes to VTEX: a verification after a write sees live state.
        A lookup in flight while this runs still keeps the answer it gets."""
        with self._lock:
            self._cache.clear()
            self._simulations.clear()

    # ---- plumbing ----------------------------------------------------------------------------

    def _get(self, path: str, endpoint: _Endpoint) -> Any:
        """GET once per client: later calls (from any thread) get the first answer, 404s too."""
        return self._once(path, lambda: self._fetch("GET", path, endpoint))

    def _once(self, key: str, fetch: Callable[[], Any]) -> Any:
        """Each key fetched once per client, its failure included (a backlog must not retry a
        failing lookup once per order); simulations are kept in a bounded LRU, because
        their keys (items, postal code) can be as many as the orders."""
        with self._lock:
            cached = self._cached(key)
            if cached is _NOT_CACHED:
                key_lock = self._key_locks.setdefault(key, threading.Lock())
        if cached is not _NOT_CACHED:
            return self._unwrap(cached)
        # One lock per key: two threads asking for the same SKU send one request, while
        # different keys go out in parallel.
        with key_lock:
            with self._lock:
                cached = self._cached(key)
            if cached is not _NOT_CACHED:
                return self._unwrap(cached)
            try:
                value: Any = fetch()
            except VtexApiError as exc:
                value = exc
            with self._lock:
                self._store(key, value)
                self._key_locks.pop(key, None)
        return self._unwrap(value)

    def _cached(self, key: str) -> Any:
        if key in self._simulations:
            self._simulations.move_to_end(key)
            return self._simulations[key]
        return self._cache.get(key, _NOT_CACHED)

    def _store(self, key: str, value: Any) -> None:
        if key.startswith("POST "):
            self._simulations[key] = value
            if len(self._simulations) > _MAX_CACHED_SIMULATIONS:
                self._simulations.popitem(last=False)
        else:
            self._cache[key] = value

    @staticmethod
    def _unwrap(value: Any) -> Any:
        if isinstance(value, VtexApiError):
            raise value
        return value

    def _fetch(self, method: str, path: str, endpoint: _Endpoint, json_body: Any = None) -> Any:
        response, attempts = self._send(method, path, json_body)
        status = response.status_code
        if status in (401, 403):
            raise VtexPermissionError(method, self.redact(path), status, endpoint.resource)
        if status == 404 and endpoint.missing_is_fact:
            return None
        if not 200 <= status < 300:
            # The error body is not quoted: its shape varies by API (JSON, plain text, empty).
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            raise VtexApiError(method, self.redact(path), f"VTEX answered {status}{tries}", status)
        body = _decode(method, self.redact(path), response)
        if body is None and endpoint.missing_is_fact:
            # Only a 404 says "no such record": a 200 whose body is JSON null says nothing, and
            # reading it as "not found" would confirm sku_not_found (and so a canceled order).
            raise VtexApiError(
                method, self.redact(path), "VTEX answered 200 with a null body: not an answer"
            )
        return body

    def _write(self, method: str, path: str, endpoint: _Endpoint, json_body: Any = None) -> None:
        """Send one write; re-sent only on an answer that says it was not processed."""
        response, attempts = self._send(method, path, json_body, write=True)
        status = response.status_code
        if status in (401, 403):
            raise VtexPermissionError(method, self.redact(path), status, endpoint.resource)
        if 200 <= status < 300:
            return  # the body (the updated SKU, or nothing) is not needed: callers re-read
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if status >= 500:
            problem = f"VTEX answered {status}, {_MAY_HAVE_BEEN_APPLIED}"
        elif _is_retryable(status, write=True):
            problem = f"VTEX answered {status}{tries}, the write was not applied"
        else:
            # The error body is not quoted (its shape varies, and it is VTEX's text, not ours).
            problem = f"VTEX answered {status}, the write was refused"
        raise VtexApiError(method, self.redact(path), problem, status)

    def _send(
        self, method: str, path: str, json_body: Any, *, write: bool = False
    ) -> tuple[_Reply, int]:
        """Send with retries; return the last answer and the number of attempts.

        tenacity runs the loop: what is retried (a retryable status, a transport error that
        may be re-sent), how long to wait (backoff or `Retry-After`), when to stop (the attempt
        budget); the deadline check before each wait and the `sleep` seam stay ours."""
        attempts = 0

        def one_attempt() -> _Reply:
            nonlocal attempts
            attempts += 1
            return self._try_once(method, path, json_body, write)

        def give_up(state: RetryCallState) -> _Reply:
            outcome = state.outcome
            assert outcome is not None  # tenacity gives up only after an attempt
            failure = outcome.exception()
            if failure is None:
                return cast(_Reply, outcome.result())
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            problem = f"no response ({type(failure).__name__}){tries}"
            raise VtexApiError(method, self.redact(path), problem) from failure

        retrying = Retrying(
            stop=stop_after_attempt(self._max_retries + 1),
            retry=retry_if_exception_type(httpx.TransportError)
            | retry_if_result(lambda reply: self._retry_wait(0, reply, write) is not None),
            wait=lambda state: self._wait_before(state, write),
            before_sleep=lambda state: self._check_wait(state, method, path),
            sleep=self._sleep,
            retry_error_callback=give_up,
        )
        return retrying(one_attempt), attempts

    def _try_once(self, method: str, path: str, json_body: Any, write: bool) -> _Reply:
        """One attempt, within the deadline and the rate limit. A transport error is raised
        for tenacity to retry, except after a write may have gone out."""
        self._check_time(method, path, write, sent=False)
        self._limiter.acquire()
        self._check_time(method, path, write, sent=False)  # the limiter may have waited
        try:
            return self._attempt(method, path, json_body, write)
        except httpx.TransportError as exc:
            # Cut off by the deadline or Ctrl-C: say so rather than "no response".
            self._check_time(method, path, write, sent=not isinstance(exc, _NOT_SENT))
            if write and not isinstance(exc, _NOT_SENT):
                problem = f"no response ({type(exc).__name__}), {_MAY_HAVE_BEEN_APPLIED}"
                raise VtexApiError(method, self.redact(path), problem) from exc
            raise

    def _wait_before(self, state: RetryCallState, write: bool) -> float:
        """Seconds before the next attempt: the backoff after a transport error, else the
        backoff or `Retry-After` of the answer."""
        outcome = state.outcome
        attempt = state.attempt_number - 1
        if outcome is None or outcome.failed:
            return self._backoff(attempt)
        return self._retry_wait(attempt, cast(_Reply, outcome.result()), write) or 0.0

    def _check_wait(self, state: RetryCallState, method: str, path: str) -> None:
        """Before a retry's wait: fail now, with the reason the retry was for, when the
        deadline would pass first."""
        seconds = state.upcoming_sleep
        if seconds < self.deadline.remaining() or self.deadline.cancelled:
            return  # a cancelled run's wait returns at once; the next attempt says why
        outcome = state.outcome
        assert outcome is not None  # tenacity waits only after an attempt
        failure = outcome.exception()
        if failure is not None:
            cause = type(failure).__name__
        else:
            cause = f"VTEX answered {cast(_Reply, outcome.result()).status_code}"
        problem = f"{cause}; {self.deadline.describe()} before the next attempt"
        raise VtexApiError(method, self.redact(path), problem)

    def _check_time(self, method: str, path: str, write: bool, *, sent: bool) -> None:
        """Fail with the deadline's (or Ctrl-C's) reason once the run must stop calling."""
        if not (self.deadline.cancelled or self.deadline.expired):
            return
        problem = self.deadline.describe()
        if write:
            problem += f", {_MAY_HAVE_BEEN_APPLIED}" if sent else ", the write was not sent"
        raise VtexApiError(method, self.redact(path), problem)

    def _attempt(self, method: str, path: str, json_body: Any, write: bool) -> _Reply:
        with self._lock:
            self.request_count += 1
            self._start_watchdog()
        # Each attempt's timeouts (connect, each read) capped by what is left of the run.
        timeout = httpx.Timeout(max(0.001, min(self._timeout, self.deadline.remaining())))
        # json=None sends no body: the GETs and the salespolicy POST have none.
        request = self._http.build_request(
            method, path, json=json_body, timeout=timeout, extensions={"trace": self._trace}
        )
        response = self._http.send(request, stream=True)
        status = response.status_code
        try:
            # A write's answer is not read: callers re-read to verify.
            content = None if write else self._read_body(method, path, response)
        finally:
            response.close()
        if content is None and not write and 200 <= status < 300:
            limit = _size(self._max_body_bytes)
            problem = f"VTEX answered {status} with a body larger than {limit}; not read"
            raise VtexApiError(method, self.redact(path), problem, status)
        # An error's body is never quoted (_fetch), so an oversized one is just dropped.
        return _Reply(status, response.headers, content or b"")

    def _read_body(self, method: str, path: str, response: httpx.Response) -> bytes | None:
        """The body, chunk by chunk; None once it passes the size cap. Abandoned once the
        deadline passes (httpx's read timeout restarts with every chunk, however small)."""
        limit = self._max_body_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in _decoded(response):
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
                self._check_time(method, path, False, sent=True)
        except zlib.error:
            problem = f"VTEX answered {response.status_code} with a body that does not decompress"
            raise VtexApiError(method, self.redact(path), problem, response.status_code) from None
        return b"".join(chunks)

    def _trace(self, event: str, info: Mapping[str, Any]) -> None:
        # httpcore's `trace` request extension: each new connection (TCP, then TLS) is
        # reported with its stream, whose socket cancel() and the watchdog may shut down.
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        get_extra_info = getattr(info.get("return_value"), "get_extra_info", None)
        sock = get_extra_info("socket") if callable(get_extra_info) else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.add(sock)
            if self.deadline.cancelled or self.deadline.expired:
                _shut(sock)  # opened as the run was being stopped

    def _cut_connections(self) -> None:
        """Shut down every connection: a thread blocked reading one gets an error at once."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def _start_watchdog(self) -> None:
        # Called under self._lock, on the first attempt of a client whose run has a deadline.
        if self._watchdog is not None or self.deadline.seconds is None:
            return
        self._watchdog = threading.Thread(target=self._watch, name="vtex-deadline", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        while not self._closed.is_set():
            left = self.deadline.remaining()  # frozen while paused: then this waits again
            if left <= 0:
                self._cut_connections()
                return
            self._closed.wait(left)

    def _backoff(self, attempt: int) -> float:
        # No jitter: the shared token bucket already spaces out the retries of a thread pool.
        return float(min(self._backoff_base * 2**attempt, self._max_wait))

    def _retry_wait(self, attempt: int, response: _Reply, write: bool) -> float | None:
        """How long to wait before re-sending after this answer; None when it is not to be
        re-sent: not a retryable status, or `Retry-After` asks for more than `max_wait`
        (retrying sooner would only be refused again)."""
        if not _is_retryable(response.status_code, write):
            return None
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
        if retry_after is not None and retry_after > self._max_wait:
            return None
        backoff = self._backoff(attempt)
        wait = backoff if retry_after is None else max(retry_after, backoff)
        return min(wait, self._max_wait)

    @staticmethod
    def _parse(adapter: TypeAdapter[T], body: Any, method: str, path: str) -> T:
        try:
            return adapter.validate_python(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = field_path(first["loc"]) or "body"
            problem = f"unexpected response shape at {where} ({first['type']})"
            raise VtexApiError(method, path, problem) from None


@dataclass(frozen=True)
class _Reply:
    """One HTTP answer, its body read (within the size cap and the deadline)."""

    status_code: int
    headers: httpx.Headers
    content: bytes


def _decode(method: str, path: str, response: _Reply) -> Any:
    status = response.status_code
    if not response.content.strip():
        # Never "not found" (that is a 404) and never a confirmation: nothing was said.
        raise VtexApiError(method, path, f"VTEX answered {status} with an empty body", status)
    try:
        return json.loads(response.content)
    except RecursionError:
        problem = f"VTEX answered {status} with JSON nested too deeply to read"
        raise VtexApiError(method, path, problem, status) from None
    except ValueError:  # includes UnicodeDecodeError
        problem = f"VTEX answered {status} with a body that is not JSON"
        raise VtexApiError(method, path, problem, status) from None


# Decompressed in slices of this size: httpx inflates each chunk read whole, and 64 KB of a
# gzip bomb inflates to some 64 MB (per request in flight) before any size check could run.
_INFLATE_SLICE = 64 * 1024


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body's bytes, gzip or deflate inflated a slice at a time. Other encodings (br and
    zstd, which httpx offers only when their packages are installed) go through httpx."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    # A body already in memory (a test transport's) has nothing left to stream raw.
    if encoding not in ("gzip", "x-gzip", "deflate") or response.is_stream_consumed:
        yield from response.iter_bytes()
        return
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or a zlib header
    for raw in response.iter_raw():
        pending = raw
        while pending and not inflater.eof:
            yield inflater.decompress(pending, _INFLATE_SLICE)
            pending = inflater.unconsumed_tail
    yield inflater.flush()


def _shut(sock: socket.socket) -> None:
    # OSError: already closed, or the raw socket a TLS one took over.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _size(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit // mib} MB" if limit % mib == 0 else f"{limit} bytes"
