"""The checks: what the order context and, online, VTEX's read-only APIs say about each cause.

Each check yields a `CheckResult`: the `checks[]` entry of the report and, through `fact()`, a
fact for the rules engine. The rules decide what a result means; this module only observes.

Outcomes: `pass`/`fail` (observed), `error` (the API call failed: the cause stays suspected,
never confirmed or cleared) and `skipped` (offline, not enough context, or an earlier link of
the article's tree is broken). A skip that leaves the cause open is `undecided`; a skip because
an earlier link is broken ("blocked") is not: the broken link is the finding.

Online, every lookup goes through one memo (a failed call is not retried by a later check) and
the independent ones are fetched concurrently first, so an order costs one request per distinct
lookup and about one round trip per level of the tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.errors import VtexApiError
from assistant.models import Item, OrderContext, Outcome

if TYPE_CHECKING:  # the client (and httpx) load only when a diagnosis goes online
    from assistant.vtex import Dock, SkuContext, SkuInventory, VtexClient, Warehouse

OFFLINE_DETAIL = "offline: needs the VTEX API"
# VTEX SKU ids are positive int32 values without leading zeros (Catalog API: max 2,147,483,647;
# SKU registration article: leading zeros are not read).
_VTEX_SKU_ID = re.compile(r"^[1-9][0-9]{0,9}$")
_MAX_SKU_ID = 2_147_483_647
# Simulation item availability when the item is sellable but no carrier reaches the address.
_DELIVERY_AVAILABILITY = {"available", "cannotbedelivered"}
_UNLIMITED = 10**9


def is_vtex_sku_id(sku_id: str) -> bool:
    return bool(_VTEX_SKU_ID.match(sku_id)) and int(sku_id) <= _MAX_SKU_ID


@dataclass(frozen=True)
class CheckResult:
    name: str
    index: int | None  # the item's position for per-SKU checks; None for order checks
    sku_id: str | None
    outcome: Outcome
    detail: str
    undecided: bool = False
    facts: Mapping[str, Any] = field(default_factory=dict)

    def fact(self) -> dict[str, Any]:
        return {
            "kind": "check",
            "name": self.name,
            "index": -1 if self.index is None else self.index,
            "outcome": self.outcome,
            "undecided": self.undecided,
            **self.facts,
        }


def operator_result(unchecked: CheckResult, passes: bool) -> CheckResult:
    """A check the API could not answer, answered by the operator in a guided session.

    A "passes" answer clears the cause like a passing check. A "fails" answer stays
    `undecided` as well, so the error's candidate rules still name the cause even when the
    confirmation rule needs details only the API gives (which warehouse, which reason).
    """
    if passes:
        return CheckResult(
            unchecked.name, unchecked.index, unchecked.sku_id, "pass", "the operator says it passes"
        )
    return CheckResult(
        unchecked.name,
        unchecked.index,
        unchecked.sku_id,
        "fail",
        "the operator says it fails",
        undecided=True,
    )


class _Skip(Exception):
    """Raised inside a check: it cannot decide; `blocked` when an earlier link is broken."""

    def __init__(self, detail: str, *, blocked: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.blocked = blocked


@dataclass(frozen=True)
class _Observation:
    outcome: Outcome
    detail: str
    facts: Mapping[str, Any] = field(default_factory=dict)


def _passed(detail: str, **facts: Any) -> _Observation:
    return _Observation("pass", detail, facts)


def _failed(detail: str, **facts: Any) -> _Observation:
    return _Observation("fail", detail, facts)


# ---- offline --------------------------------------------------------------------------------


def sku_id_format(item: Item) -> _Observation:
    if is_vtex_sku_id(item.sku_id):
        return _passed(f"'{item.sku_id}' is a valid VTEX SKU id (an integer)")
    if re.fullmatch(r"[0-9]+", item.sku_id):
        why = "has leading zeros" if item.sku_id.startswith("0") else "is larger than 2147483647"
        return _failed(f"'{item.sku_id}' {why}, so it cannot be a VTEX SKU id")
    return _failed(f"'{item.sku_id}' is not an integer, so it cannot be a VTEX SKU id")


class Checker:
    """Runs the named checks for one order. Offline without a client; online with one."""

    def __init__(
        self,
        context: OrderContext,
        client: VtexClient | None = None,
        *,
        params: Mapping[str, str] | None = None,
        workers: int = 8,
        answers: Mapping[tuple[str, str | None], bool] | None = None,
    ) -> None:
        self.context = context
        self.client = client
        self.params = dict(params or {})  # what the message names (seller, sales channel)
        self.workers = workers
        # What the operator answered in a guided session for checks that could not run:
        # (check name, SKU id or None) -> passes.
        self.answers = dict(answers or {})
        self._memo: dict[tuple[Any, ...], Any] = {}

    @property
    def online(self) -> bool:
        return self.client is not None

    def run(self, names: Sequence[str], scopes: Mapping[str, str]) -> list[CheckResult]:
        if self.client is not None:
            self._prefetch(set(names))
        results = []
        for name in names:
            per_item = scopes[name] == "sku"
            if per_item and self.context.items:
                for index, item in enumerate(self.context.items):
                    results.append(self._one(name, index, item, per_item))
            else:
                results.append(self._one(name, None, None, per_item))
        return results

    # ---- what a guided session needs to name things ------------------------------------------

    def resolve_sku(self, index: int) -> SkuContext | None:
        """The catalog's SKU for the item (by id, else by RefId); None when unknown or offline."""
        if self.client is None:
            return None
        result: SkuContext | None = self._quiet(self._sku, index)
        return result

    def trade_policy_id(self) -> str | None:
        """Amazon's trade policy: from the context, else (online) from the affiliate."""
        if self.context.sales_channel is not None:
            return self.context.sales_channel
        if self.client is None:
            return None
        result: str | None = self._quiet(self._trade_policy_id)
        return result

    # ---- running one check ------------------------------------------------------------------

    def _one(self, name: str, index: int | None, item: Item | None, per_item: bool) -> CheckResult:
        result = self._observe(name, index, item, per_item)
        if result.outcome in ("skipped", "error") and self.answers:
            answered = self.answers.get((name, result.sku_id))
            if answered is not None:
                return operator_result(result, answered)
        return result

    def _observe(
        self, name: str, index: int | None, item: Item | None, per_item: bool
    ) -> CheckResult:
        sku_id = item.sku_id if item else None
        observe = _OBSERVERS.get(name)
        if self.client is None and name not in _LOCAL and observe is not None:
            # The common offline case, without raising (a backlog runs this per SKU and check).
            return CheckResult(name, index, sku_id, "skipped", OFFLINE_DETAIL, undecided=True)
        try:
            if observe is None:
                raise _Skip(f"no check named {name!r} in this version")
            if per_item and item is None:
                raise _Skip("no SKU in the order context")
            if name not in _LOCAL and self.client is None:
                raise _Skip(OFFLINE_DETAIL)
            observation = observe(self, index, item)
        except _Skip as skip:
            return CheckResult(
                name, index, sku_id, "skipped", skip.detail, undecided=not skip.blocked
            )
        except VtexApiError as exc:
            return CheckResult(
                name, index, sku_id, "error", self._redact(exc.message), undecided=True
            )
        return CheckResult(
            name,
            index,
            sku_id,
            observation.outcome,
            self._redact(observation.detail),
            facts=observation.facts,
        )

    def _redact(self, text: str) -> str:
        return self.client.redact(text) if self.client is not None else text

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Each lookup once per order, its failure included: a later check that needs the same
        lookup gets the same error instead of another round of retries."""
        key = (function.__name__, *args)
        if key not in self._memo:
            try:
                self._memo[key] = function(*args)
            except VtexApiError as exc:
                self._memo[key] = exc
        value = self._memo[key]
        if isinstance(value, VtexApiError):
            raise value
        return value

    def _prefetch(self, names: set[str]) -> None:
        """Fetch independent lookups concurrently, level by level of the dependency tree; the
        checks then read the memo. Errors are memoised and surface in the check that needs it."""
        assert self.client is not None
        client = self.client
        ids = [item.sku_id for item in self.context.items]
        level1: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        if names & _NEEDS_SKU:
            level1 += [(client.get_sku, (sku,)) for sku in ids if is_vtex_sku_id(sku)]
            level1 += [
                (client.get_sku_id_by_ref_id, (sku,)) for sku in ids if not is_vtex_sku_id(sku)
            ]
        if (
            names & _NEEDS_TRADE_POLICY
            and self.context.sales_channel is None
            and self.context.affiliate_id
        ):
            level1.append((client.get_affiliate, (self.context.affiliate_id,)))
        if names & _NEEDS_LOGISTICS:
            level1 += [(client.list_docks, ()), (client.list_warehouses, ())]
            level1 += [(client.get_inventory, (sku,)) for sku in ids if is_vtex_sku_id(sku)]
        self._fetch_all(level1)
        level2: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        if names & _NEEDS_TRADE_POLICY:
            trade_policy = self._quiet(self._trade_policy_id)
            if trade_policy:
                level2.append((client.get_trade_policy, (trade_policy,)))
        if names & (_NEEDS_PRODUCT_POLICIES | _NEEDS_LOGISTICS):
            for index in range(len(ids)):
                sku = self._quiet(lambda i=index: self._sku(i))
                if sku is not None and names & _NEEDS_PRODUCT_POLICIES:
                    level2.append((client.get_product_sales_policies, (sku.ProductId,)))
                if sku is not None and names & _NEEDS_LOGISTICS:
                    level2.append((client.get_inventory, (sku.Id,)))
        self._fetch_all(level2)

    def _fetch_all(self, calls: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        pending = [(f, a) for f, a in calls if (f.__name__, *a) not in self._memo]
        if not pending:
            return
        if self.workers <= 1:  # bulk triage: the concurrency is across orders
            for function, args in pending:
                self._quiet(self._call, function, *args)
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for future in [pool.submit(self._quiet, self._call, f, *a) for f, a in pending]:
                future.result()

    @staticmethod
    def _quiet(function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except (VtexApiError, _Skip):
            return None

    # ---- resolved facts shared by several checks ---------------------------------------------

    def _sku(self, index: int) -> SkuContext:
        """The SKU Amazon sent, resolved by id, else by RefId; _Skip(blocked) if neither."""
        sku_id = self.context.items[index].sku_id
        assert self.client is not None
        if is_vtex_sku_id(sku_id):
            found = self._call(self.client.get_sku, sku_id)
            if found is not None:
                return found  # type: ignore[no-any-return]
        by_ref = self._call(self.client.get_sku_id_by_ref_id, sku_id)
        if by_ref is not None:
            found = self._call(self.client.get_sku, by_ref)
            if found is not None:
                return found  # type: ignore[no-any-return]
        raise _Skip(f"SKU '{sku_id}' is not in the catalog", blocked=True)

    def _trade_policy_id(self) -> str:
        if self.context.sales_channel is not None:
            return self.context.sales_channel
        if self.context.affiliate_id is None:
            raise _Skip("no trade policy: give sales_channel or affiliate_id in the order context")
        assert self.client is not None
        affiliate = self._call(self.client.get_affiliate, self.context.affiliate_id)
        if affiliate is None or affiliate.salesChannel is None:
            raise _Skip(
                f"affiliate '{self.context.affiliate_id}' not found, so Amazon's trade "
                "policy is unknown: give sales_channel"
            )
        return str(affiliate.salesChannel)

    def _simulate(
        self,
        request: tuple[tuple[str, int], ...],
        postal_code: str,
        country: str,
        trade_policy_id: str,
    ) -> Any:
        assert self.client is not None
        from assistant.vtex import SimulationItem

        # Seller "1" is the store itself, as in VTEX's own simulation examples.
        items = [
            SimulationItem(id=sku_id, quantity=quantity, seller="1") for sku_id, quantity in request
        ]
        return self.client.simulate(
            items, postal_code, country, trade_policy_id, self.context.affiliate_id
        )

    def _reachable_warehouses(self, trade_policy: str) -> tuple[set[str], set[str]]:
        """(warehouses reachable through an active dock linked to the trade policy, those
        docks). Docks name no warehouse: the warehouse's `warehouseDocks` holds the link."""
        assert self.client is not None
        docks: list[Dock] = self._call(self.client.list_docks)
        warehouses: list[Warehouse] = self._call(self.client.list_warehouses)
        linked = {
            dock.id
            for dock in docks
            if dock.isActive is not False
            and trade_policy
            in {*dock.salesChannels, *([dock.salesChannel] if dock.salesChannel else [])}
        }
        reachable = {
            warehouse.id
            for warehouse in warehouses
            if warehouse.isActive is not False
            and any(link.dockId in linked for link in warehouse.warehouseDocks)
        }
        return reachable, linked


# ---- the observers: one per check name -------------------------------------------------------


def _check_sku_id_format(checker: Checker, index: int | None, item: Item | None) -> _Observation:
    assert item is not None
    return sku_id_format(item)


def _check_sku_exists(checker: Checker, index: int | None, item: Item | None) -> _Observation:
    assert item is not None
    assert index is not None
    assert checker.client is not None
    client = checker.client
    if is_vtex_sku_id(item.sku_id) and checker._call(client.get_sku, item.sku_id) is not None:
        return _passed(f"SKU {item.sku_id} exists", by_ref_id=False)
    ref_match = checker._call(client.get_sku_id_by_ref_id, item.sku_id)
    if ref_match is not None:
        return _failed(
            f"no SKU has the id '{item.sku_id}'; it is the RefId (reference code) of SKU "
            f"{ref_match}",
            by_ref_id=True,
            vtex_sku_id=str(ref_match),
        )
    return _failed(f"no SKU has the id or RefId '{item.sku_id}'", by_ref_id=False)


def _check_sku_active(checker: Checker, index: int | None, item: Item | None) -> _Observation:
    assert index is not None
    sku = checker._sku(index)
    if sku.IsActive:
        return _passed(f"SKU {sku.Id}: IsActive=true")
    hint = "" if sku.Images else " (it has no image: VTEX activates a SKU only with one)"
    return _failed(f"SKU {sku.Id}: IsActive=false{hint}")


def _check_product_active(checker: Checker, index: int | None, item: Item | None) -> _Observation:
    assert index is not None
    sku = checker._sku(index)
    if sku.IsProductActive is False:
        return _failed(f"product {sku.ProductId} of SKU {sku.Id}: IsProductActive=false")
    return _passed(f"product {sku.ProductId} of SKU {sku.Id} is active")


def _check_trade_policy_active(
    checker: Checker, index: int | None, item: Item | None
) -> _Observation:
    assert checker.client is not None
    trade_policy_id = checker._trade_policy_id()
    policy = checker._call(checker.client.get_trade_policy, trade_policy_id)
    if policy is None:
        return _failed(f"trade policy {trade_policy_id} does not exist", exists=False)
    if not policy.IsActive:
        return _failed(
            f"trade policy {trade_policy_id} ({policy.Name}): IsActive=false", exists=True
        )
    return _passed(f"trade policy {trade_policy_id} ({policy.Name}) is active", exists=True)


def _check_sales_channel_active(
    checker: Checker, index: int | None, item: Item | None
) -> _Observation:
    # The sales channel named in "Unauthorized access from seller x to sales channel y".
    assert checker.client is not None
    channel = checker.params.get("sales_channel")
    if not channel:
        raise _Skip("the message names no sales channel")
    policy = checker._call(checker.client.get_trade_policy, channel)
    if policy is None:
        return _failed(f"sales channel {channel} named in the message does not exist", exists=False)
    if not policy.IsActive:
        return _failed(f"sales channel {channel} ({policy.Name}): IsActive=false", exists=True)
    return _passed(f"sales channel {channel} ({policy.Name}) exists and is active", exists=True)


def _check_sku_in_trade_policy(
    checker: Checker, index: int | None, item: Item | None
) -> _Observation:
    assert index is not None
    assert checker.client is not None
    sku = checker._sku(index)
    trade_policy_id = checker._trade_policy_id()
    policies = checker._call(checker.client.get_product_sales_policies, sku.ProductId)
    linked = {policy.StoreId for policy in policies}
    if trade_policy_id in linked or (not linked and trade_policy_id in sku.SalesChannels):
        return _passed(f"product {sku.ProductId} is linked to trade policy {trade_policy_id}")
    if not linked and not sku.SalesChannels:
        # "If no trade policy is ticked, the SKU is available to all of them" (associate-a-SKU).
        return _passed(f"product {sku.ProductId} has no trade policy ticked: it is in all of them")
    return _failed(
        f"product {sku.ProductId} (SKU {sku.Id}) is linked to trade policies "
        f"{sorted(linked) or sku.SalesChannels}, not {trade_policy_id}"
    )


@dataclass(frozen=True)
class _Logistics:
    """What the dock and stock checks both read about one SKU."""

    sku: SkuContext
    trade_policy_id: str
    reachable: set[str]  # warehouses on an active dock linked to the trade policy
    docks: set[str]  # those docks
    inventory: SkuInventory


def _logistics(checker: Checker, index: int | None) -> _Logistics:
    assert index is not None
    assert checker.client is not None
    sku = checker._sku(index)
    trade_policy_id = checker._trade_policy_id()
    reachable, docks = checker._reachable_warehouses(trade_policy_id)
    inventory = checker._call(checker.client.get_inventory, sku.Id)
    return _Logistics(sku, trade_policy_id, reachable, docks, inventory)


def _check_dock_linked(checker: Checker, index: int | None, item: Item | None) -> _Observation:
    seen = _logistics(checker, index)
    sku, trade_policy_id, reachable, docks = (
        seen.sku,
        seen.trade_policy_id,
        seen.reachable,
        seen.docks,
    )
    holding = {balance.warehouseId for balance in seen.inventory.balance}
    if not docks:
        return _failed(f"no active loading dock is linked to trade policy {trade_policy_id}")
    if holding and not holding & reachable:
        return _failed(
            f"SKU {sku.Id}'s warehouses {sorted(holding)} are not reachable through an active "
            f"dock linked to trade policy {trade_policy_id} (linked docks: {sorted(docks)}; "
            "check that the warehouses are active and on those docks)"
        )
    return _passed(
        f"dock(s) {sorted(docks)} linked to trade policy {trade_policy_id} serve "
        f"SKU {sku.Id}'s warehouses"
    )


def _check_inventory_available(
    checker: Checker, index: int | None, item: Item | None
) -> _Observation:
    assert item is not None
    seen = _logistics(checker, index)
    sku, trade_policy_id = seen.sku, seen.trade_policy_id
    here = [b for b in seen.inventory.balance if b.warehouseId in seen.reachable]
    elsewhere = [b for b in seen.inventory.balance if b.warehouseId not in seen.reachable]
    available = _available(here)
    # Negative inventory is a cause only where it leaves the order short (out-of-stock
    # article); an unlimited balance has no meaningful reserved count.
    negative = (
        [b.warehouseId for b in here if b.available_quantity < 0 and not b.hasUnlimitedQuantity]
        if available < item.quantity
        else []
    )
    stock_elsewhere = _available(elsewhere) > 0
    facts = {
        "negative": bool(negative),
        "shortfall": available < item.quantity,
        "stock_elsewhere": stock_elsewhere and available < item.quantity,
    }
    if negative:
        return _failed(
            f"SKU {sku.Id}: reserved exceeds the quantity in warehouse(s) "
            f"{sorted(negative)} reachable by trade policy {trade_policy_id}",
            **facts,
        )
    if available >= item.quantity:
        shown = "unlimited" if available >= _UNLIMITED else str(available)
        return _passed(
            f"SKU {sku.Id}: {shown} available for trade policy {trade_policy_id}, "
            f"{item.quantity} ordered",
            **facts,
        )
    where = (
        f"; {_available(elsewhere)} more in warehouses not reachable by it"
        if stock_elsewhere
        else ""
    )
    return _failed(
        f"SKU {sku.Id}: {available} available for trade policy {trade_policy_id}, "
        f"{item.quantity} ordered{where}",
        **facts,
    )


def _available(balances: Iterable[Any]) -> int:
    total = 0
    for balance in balances:
        if balance.hasUnlimitedQuantity:
            return _UNLIMITED
        total += max(balance.available_quantity, 0)
    return total


def _check_fulfillment_simulation(
    checker: Checker, index: int | None, item: Item | None
) -> _Observation:
    assert checker.client is not None
    context = checker.context
    if not context.items:
        raise _Skip("no SKU in the order context")
    if context.postal_code is None or context.country is None:
        raise _Skip("needs postal_code and country in the order context")
    trade_policy_id = checker._trade_policy_id()
    # (id, quantity) pairs: hashable, so the simulation is memoised like the GETs.
    request = tuple(
        (checker._sku(position).Id, item.quantity) for position, item in enumerate(context.items)
    )
    simulation = checker._call(
        checker._simulate, request, context.postal_code, context.country, trade_policy_id
    )
    without_sla = [
        position for position in range(len(request)) if not simulation.slas_for(position)
    ]
    if not without_sla:
        return _passed(
            f"simulation for trade policy {trade_policy_id} and postal code "
            f"{context.postal_code}: every item has an SLA"
        )
    unavailable = [
        position
        for position in without_sla
        if (found := simulation.item_for(position)) is None
        or (found.availability or "").lower() not in _DELIVERY_AVAILABILITY
    ]
    reason = "unavailable" if unavailable else "no_sla_for_postal_code"
    skus = ", ".join(request[p][0] for p in without_sla)
    return _failed(
        f"simulation for trade policy {trade_policy_id} and postal code "
        f"{context.postal_code}: no SLA for SKU {skus}",
        reason=reason,
    )


_OBSERVERS: Mapping[str, Callable[[Checker, int | None, Item | None], _Observation]] = {
    "sku_id_format": _check_sku_id_format,
    "sku_exists": _check_sku_exists,
    "sku_active": _check_sku_active,
    "product_active": _check_product_active,
    "trade_policy_active": _check_trade_policy_active,
    "sales_channel_active": _check_sales_channel_active,
    "sku_in_trade_policy": _check_sku_in_trade_policy,
    "dock_linked": _check_dock_linked,
    "inventory_available": _check_inventory_available,
    "fulfillment_simulation": _check_fulfillment_simulation,
}
_LOCAL = frozenset({"sku_id_format"})
_NEEDS_SKU = frozenset(
    {
        "sku_exists",
        "sku_active",
        "product_active",
        "sku_in_trade_policy",
        "dock_linked",
        "inventory_available",
        "fulfillment_simulation",
    }
)
_NEEDS_TRADE_POLICY = frozenset(
    {
        "trade_policy_active",
        "sku_in_trade_policy",
        "dock_linked",
        "inventory_available",
        "fulfillment_simulation",
    }
)
_NEEDS_PRODUCT_POLICIES = frozenset({"sku_in_trade_policy"})
_NEEDS_LOGISTICS = frozenset({"dock_linked", "inventory_available"})
