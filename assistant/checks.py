"""The checks: what the order context and, online, VTEX's read-only APIs say about each cause.

Each check yields a `CheckResult`: the `checks[]` entry of the report and, through
`assistant.facts`, a fact for the rules engine. The rules decide what a result means; this
module only observes.

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
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from assistant.errors import VtexApiError
from assistant.models import Item, OrderContext, Outcome, canonical_trade_policy_id

if TYPE_CHECKING:  # the client (and httpx) load only when a diagnosis goes online
    from assistant.vtex import (
        Dock,
        ShippingPolicy,
        SkuContext,
        SkuInventory,
        TradePolicy,
        VtexClient,
        Warehouse,
    )

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
    facts: Mapping[str, Any] = field(default_factory=dict)  # more for the rules (facts.py)


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


class _Observation(NamedTuple):
    outcome: Outcome
    detail: str
    facts: Mapping[str, Any] = MappingProxyType({})


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

    @property
    def api(self) -> VtexClient:
        """The client, for the observers that run only online (they are skipped offline)."""
        assert self.client is not None
        return self.client

    def item(self, index: int | None) -> Item:
        """The order's item a per-SKU observer looks at (they run only for an item)."""
        assert index is not None
        return self.context.items[index]

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
        """Amazon's trade policy: online, the affiliate's, checked against the context's (None
        when they disagree); offline, the context's."""
        if self.client is None:
            return self.context.sales_channel
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
        if self.client is None and self._needs_api(name) and observe is not None:
            # The common offline case, without raising (a backlog runs this per SKU and check).
            return CheckResult(name, index, sku_id, "skipped", OFFLINE_DETAIL, undecided=True)
        try:
            if observe is None:
                raise _Skip(f"no check named {name!r} in this version")
            if per_item and item is None:
                raise _Skip("no SKU in the order context")
            if self._needs_api(name) and self.client is None:
                raise _Skip(OFFLINE_DETAIL)
            observation = observe(self, index)
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

    def _needs_api(self, name: str) -> bool:
        # FBA's step 0 does not apply to other orders, which the order id alone tells.
        return name not in _LOCAL and not (name == "fba_logistics" and not self.context.is_fba)

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
            # The EAN lookup waits for the RefId one: most ids that are not VTEX ids are
            # RefIds, and a hit there makes it unneeded.
            level1 += [
                (client.get_sku_id_by_ref_id, (sku,)) for sku in ids if not is_vtex_sku_id(sku)
            ]
        if names & _NEEDS_TRADE_POLICY and self.context.affiliate_id:
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
        self._prefetch_routes(names)

    def _prefetch_routes(self, names: set[str]) -> None:
        """The third and fourth levels: the collection and the serving docks' shipping policies,
        then the active ones' freight values for the postal code."""
        assert self.client is not None
        client = self.client
        level3: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        if "sku_in_collection" in names:
            policy = self._quiet(self._trade_policy)
            if policy is not None and policy.ProductClusterId is not None:
                level3.append((client.get_collection_product_ids, (policy.ProductClusterId,)))
        routes = [
            found
            for index in range(len(self.context.items))
            if names & _NEEDS_SHIPPING
            and (found := self._quiet(_serving_docks, self, index)) is not None
        ]
        tables = sorted(
            {table for _, docks in routes for dock in docks for table in dock.freightTableIds}
        )
        level3 += [(client.get_shipping_policy, (table,)) for table in tables]
        self._fetch_all(level3)
        postal_code = self.context.postal_code
        if "postal_code_covered" not in names or postal_code is None:
            return
        active = [
            table
            for table in tables
            if (policy := self._quiet(self._call, client.get_shipping_policy, table)) is not None
            and policy.isActive
        ]
        self._fetch_all([(client.get_freight_values, (table, postal_code)) for table in active])

    def _fetch_all(self, calls: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        # One request per distinct lookup: two SKUs on one dock name the same shipping policy.
        unique = {(f.__name__, *a): (f, a) for f, a in calls}
        pending = [(f, a) for key, (f, a) in unique.items() if key not in self._memo]
        if not pending:
            return
        if self.workers <= 1:  # bulk triage: the concurrency is across orders
            for function, args in pending:
                self._quiet(self._call, function, *args)
            return
        assert self.client is not None
        # Imported here: only online lookups run in threads, and concurrent.futures (with the
        # logging it imports) costs the offline start-up some 6 ms.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(self._quiet, self._call, f, *a) for f, a in pending]
            try:
                for future in futures:
                    future.result()
            except KeyboardInterrupt:
                # Leaving the pool waits for its threads: cut their lookups short first.
                self.client.cancel()
                raise

    @staticmethod
    def _quiet(function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except (VtexApiError, _Skip):
            return None

    # ---- resolved facts shared by several checks ---------------------------------------------

    def _sku(self, index: int) -> SkuContext:
        """The SKU Amazon sent, resolved by id, else by RefId, else by EAN; _Skip(blocked) if
        none of them knows it."""
        sku_id = self.context.items[index].sku_id
        assert self.client is not None
        for candidate in (sku_id, _without_leading_zeros(sku_id)):
            if candidate is not None and is_vtex_sku_id(candidate):
                found = self._call(self.client.get_sku, candidate)
                if found is not None:
                    return found  # type: ignore[no-any-return]
        by_ref = self._call(self.client.get_sku_id_by_ref_id, sku_id)
        if by_ref is not None:
            found = self._call(self.client.get_sku, by_ref)
            if found is not None:
                return found  # type: ignore[no-any-return]
        by_ean = self._call(self.client.get_sku_by_ean, sku_id)
        if by_ean is not None:
            return by_ean  # type: ignore[no-any-return]
        raise _Skip(f"SKU '{sku_id}' is not in the catalog", blocked=True)

    def _trade_policy(self) -> TradePolicy:
        """Amazon's trade policy as the catalog has it; _Skip(blocked) if it does not exist
        (trade_policy_active says so)."""
        assert self.client is not None
        trade_policy_id = self._trade_policy_id()
        policy: TradePolicy | None = self._call(self.client.get_trade_policy, trade_policy_id)
        if policy is None:
            raise _Skip(f"trade policy {trade_policy_id} does not exist", blocked=True)
        return policy

    def _trade_policy_id(self) -> str:
        """Amazon's trade policy. The affiliate is what Amazon's orders really use: when the order
        context also names one and they differ, nothing that rests on the trade policy can be
        decided (a link to the wrong one would put the product on another store)."""
        given = self.context.sales_channel
        if self.context.affiliate_id is None:
            if given is None:
                raise _Skip(
                    "no trade policy: give sales_channel or affiliate_id in the order context"
                )
            return given
        assert self.client is not None
        try:
            affiliate = self._call(self.client.get_affiliate, self.context.affiliate_id)
        except VtexApiError:
            if given is not None:
                return given  # the affiliate cannot be read: the operator's word stands
            raise
        read = (
            None
            if affiliate is None or affiliate.salesChannel is None
            else canonical_trade_policy_id(str(affiliate.salesChannel))
        )
        if read is None:
            if given is not None:
                return given
            raise _Skip(
                f"affiliate '{self.context.affiliate_id}' not found, so Amazon's trade "
                "policy is unknown: give sales_channel"
            )
        if given is not None and given != read:
            raise _Skip(
                f"the order context says trade policy {given}, but Amazon's affiliate "
                f"'{self.context.affiliate_id}' uses trade policy {read}: correct sales_channel "
                "(or drop it) and run again"
            )
        return read

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


def _check_sku_id_format(checker: Checker, index: int | None) -> _Observation:
    item = checker.item(index)
    return sku_id_format(item)


def _check_sku_exists(checker: Checker, index: int | None) -> _Observation:
    """By id, then as a RefId, then as an EAN: `sku_not_found` needs all of them to miss (an
    error in any lookup leaves the check in error, never "not found"). A match counts only
    when the SKU it names exists."""
    item = checker.item(index)
    client = checker.api
    sku_id = item.sku_id
    if is_vtex_sku_id(sku_id) and checker._call(client.get_sku, sku_id) is not None:
        return _passed(f"SKU {sku_id} exists", **_matched(None))
    unpadded = _without_leading_zeros(sku_id)
    if unpadded is not None and checker._call(client.get_sku, unpadded) is not None:
        return _failed(
            f"'{sku_id}' has leading zeros, which VTEX does not read as a SKU id; SKU "
            f"{unpadded} exists",
            vtex_sku_id=unpadded,
            **_matched("leading_zeros"),
        )
    ref_match = checker._call(client.get_sku_id_by_ref_id, sku_id)
    if ref_match is not None and checker._call(client.get_sku, ref_match) is not None:
        return _failed(
            f"no SKU has the id '{sku_id}'; it is the RefId (reference code) of SKU {ref_match}",
            vtex_sku_id=str(ref_match),
            **_matched("ref_id"),
        )
    ean_match = checker._call(client.get_sku_by_ean, sku_id)
    if ean_match is not None:
        return _failed(
            f"no SKU has the id '{sku_id}'; it is the EAN (bar code) of SKU {ean_match.Id}",
            vtex_sku_id=str(ean_match.Id),
            **_matched("ean"),
        )
    looked_up = "id, RefId or EAN" if is_vtex_sku_id(sku_id) else "RefId or EAN"
    stale = (
        f" (the RefId lookup named SKU {ref_match}, which does not exist)"
        if ref_match is not None
        else ""
    )
    prefix = "" if is_vtex_sku_id(sku_id) else f"'{sku_id}' is not a VTEX SKU id, and "
    return _failed(f"{prefix}no SKU has the {looked_up} '{sku_id}'{stale}", **_matched(None))


def _without_leading_zeros(sku_id: str) -> str | None:
    """ "01070" -> "1070": the SKU registration article says leading zeros are not read."""
    if not (sku_id.isascii() and sku_id.isdigit() and sku_id.startswith("0")):
        return None
    unpadded = sku_id.lstrip("0")
    return unpadded if unpadded and is_vtex_sku_id(unpadded) else None


def _matched(alternate: str | None) -> dict[str, Any]:
    # `by_ref_id` is kept for rulesets written before the EAN lookup; `alternate_id` is the
    # fact the shipped rules read: the id Amazon sent names a VTEX SKU another way.
    return {
        "alternate_id": alternate is not None,
        "by_ref_id": alternate == "ref_id",
        "matched_by": alternate or "none",
    }


def _check_sku_active(checker: Checker, index: int | None) -> _Observation:
    assert index is not None
    sku = checker._sku(index)
    if sku.IsActive:
        return _passed(f"SKU {sku.Id}: IsActive=true")
    hint = "" if sku.Images else " (it has no image: VTEX activates a SKU only with one)"
    return _failed(f"SKU {sku.Id}: IsActive=false{hint}")


def _check_product_active(checker: Checker, index: int | None) -> _Observation:
    assert index is not None
    sku = checker._sku(index)
    if sku.IsProductActive is False:
        return _failed(f"product {sku.ProductId} of SKU {sku.Id}: IsProductActive=false")
    return _passed(f"product {sku.ProductId} of SKU {sku.Id} is active")


def _check_trade_policy_active(checker: Checker, index: int | None) -> _Observation:
    trade_policy_id = checker._trade_policy_id()
    policy = checker._call(checker.api.get_trade_policy, trade_policy_id)
    if policy is None:
        return _failed(f"trade policy {trade_policy_id} does not exist", exists=False)
    if not policy.IsActive:
        return _failed(
            f"trade policy {trade_policy_id} ({policy.Name}): IsActive=false", exists=True
        )
    return _passed(f"trade policy {trade_policy_id} ({policy.Name}) is active", exists=True)


def _check_sales_channel_active(checker: Checker, index: int | None) -> _Observation:
    # The sales channel named in "Unauthorized access from seller x to sales channel y".
    channel = checker.params.get("sales_channel")
    if not channel:
        raise _Skip("the message names no sales channel")
    policy = checker._call(checker.api.get_trade_policy, channel)
    if policy is None:
        return _failed(f"sales channel {channel} named in the message does not exist", exists=False)
    if not policy.IsActive:
        return _failed(f"sales channel {channel} ({policy.Name}): IsActive=false", exists=True)
    return _passed(f"sales channel {channel} ({policy.Name}) exists and is active", exists=True)


class _ProductPolicies(NamedTuple):
    """What the trade-policy checks read about one SKU's product."""

    sku: SkuContext
    trade_policy: TradePolicy
    linked: set[str]  # the product's ticked trade policies; empty means all of them

    @property
    def trade_policy_id(self) -> str:
        return str(self.trade_policy.Id)

    @property
    def open_to_policy(self) -> bool:
        # "If no trade policy is ticked, the SKU is available to all of them" (Associate a
        # SKU to a trade policy).
        return not self.linked or self.trade_policy_id in self.linked

    @property
    def collection(self) -> str | None:
        return self.trade_policy.ProductClusterId


def _product_policies(checker: Checker, index: int | None) -> _ProductPolicies:
    assert index is not None
    sku = checker._sku(index)
    policy = checker._trade_policy()
    rows = checker._call(checker.api.get_product_sales_policies, sku.ProductId)
    return _ProductPolicies(sku, policy, {row.StoreId for row in rows})


def _check_sku_in_trade_policy(checker: Checker, index: int | None) -> _Observation:
    """Fails only when the product's list is not empty and lacks Amazon's trade policy: that
    alone proves the missing link. An empty list is every trade policy (linking one would take
    the product off all the others), and a collection-based assortment is sku_in_collection's."""
    seen = _product_policies(checker, index)
    sku, policy_id = seen.sku, seen.trade_policy_id
    if seen.collection is not None:
        return _passed(
            f"trade policy {policy_id} takes its products from collection {seen.collection}, "
            f"not from the trade policies ticked on product {sku.ProductId} "
            f"({_listed(seen.linked)}): see the collection check",
            collection=True,
        )
    if not seen.linked:
        return _passed(
            f"product {sku.ProductId} has no trade policy ticked: VTEX makes it available in "
            f"every trade policy, {policy_id} included",
            collection=False,
        )
    if policy_id in seen.linked:
        return _passed(
            f"product {sku.ProductId} is linked to trade policy {policy_id}", collection=False
        )
    return _failed(
        f"product {sku.ProductId} (SKU {sku.Id}) is linked to trade policies "
        f"{_listed(seen.linked)}, not {policy_id}",
        collection=False,
    )


def _check_sku_indexed_in_trade_policy(checker: Checker, index: int | None) -> _Observation:
    """The product is open to Amazon's trade policy, yet the catalog's index (the SKU's
    `SalesChannels`) lacks it: the known issue of trade-policy changes that are not reindexed
    until the product is saved again."""
    seen = _product_policies(checker, index)
    sku, policy_id = seen.sku, seen.trade_policy_id
    if not seen.open_to_policy:
        raise _Skip(
            f"product {sku.ProductId} is not linked to trade policy {policy_id}", blocked=True
        )
    if sku.SalesChannels is None:
        raise _Skip(f"the SKU context of SKU {sku.Id} gives no SalesChannels: the index is unknown")
    indexed = {str(channel) for channel in sku.SalesChannels}
    if seen.collection is not None:
        return _passed(
            f"not compared: trade policy {policy_id} takes its products from collection "
            f"{seen.collection}"
        )
    if policy_id in indexed:
        return _passed(f"the catalog's index lists SKU {sku.Id} in trade policy {policy_id}")
    if not indexed and not seen.linked:
        # Nothing ticked and nothing indexed: no evidence that the index is behind.
        return _passed(
            f"product {sku.ProductId} has no trade policy ticked and the index lists none for "
            f"SKU {sku.Id}: nothing contradicts 'every trade policy'"
        )
    ticked = (
        "has no trade policy ticked (so every one)"
        if not seen.linked
        else f"is linked to trade policy {policy_id}"
    )
    return _failed(
        f"product {sku.ProductId} {ticked}, but the catalog's index lists SKU {sku.Id} only in "
        f"trade policies {_listed(indexed)}: the product has not been reindexed"
    )


def _check_sku_in_collection(checker: Checker, index: int | None) -> _Observation:
    policy = checker._trade_policy()
    collection = policy.ProductClusterId
    if collection is None:
        return _passed(
            f"trade policy {policy.Id} takes no collection: its products are the ones ticked "
            "for it (or with no trade policy ticked)"
        )
    sku = checker._sku(_index(index))
    products = checker._call(checker.api.get_collection_product_ids, collection)
    if sku.ProductId in products:
        return _passed(
            f"product {sku.ProductId} of SKU {sku.Id} is in collection {collection}, which "
            f"trade policy {policy.Id} takes its products from"
        )
    return _failed(
        f"trade policy {policy.Id} takes its products from collection {collection}, and "
        f"product {sku.ProductId} of SKU {sku.Id} is not in it"
    )


def _index(index: int | None) -> int:
    assert index is not None
    return index


def _listed(ids: Iterable[str]) -> str:
    return "[" + ", ".join(sorted(ids, key=lambda i: (len(i), i))) + "]"


class _Logistics(NamedTuple):
    """What the dock and stock checks both read about one SKU."""

    sku: SkuContext
    trade_policy_id: str
    reachable: set[str]  # warehouses on an active dock linked to the trade policy
    docks: set[str]  # those docks
    inventory: SkuInventory


def _logistics(checker: Checker, index: int | None) -> _Logistics:
    assert index is not None
    sku = checker._sku(index)
    trade_policy_id = checker._trade_policy_id()
    reachable, docks = checker._reachable_warehouses(trade_policy_id)
    inventory = checker._call(checker.api.get_inventory, sku.Id)
    _consistent(checker, inventory)
    return _Logistics(sku, trade_policy_id, reachable, docks, inventory)


def _consistent(checker: Checker, inventory: SkuInventory) -> None:
    """Stock in a warehouse the warehouse list does not name, or a warehouse on a dock the dock
    list does not name, is data that contradicts itself: no proof of an unlinked dock."""
    warehouses: list[Warehouse] = checker._call(checker.api.list_warehouses)
    docks: list[Dock] = checker._call(checker.api.list_docks)
    named = {warehouse.id: warehouse for warehouse in warehouses}
    unknown = sorted({b.warehouseId for b in inventory.balance} - set(named))
    if unknown:
        raise VtexApiError(
            "GET",
            "/api/logistics/pvt/configuration/warehouses",
            f"the inventory of SKU {inventory.skuId} is in warehouse(s) {unknown}, which the "
            "warehouse list does not name: the logistics data contradicts itself",
        )
    dock_ids = {dock.id for dock in docks}
    on_unknown = sorted(
        {
            link.dockId
            for balance in inventory.balance
            for link in named[balance.warehouseId].warehouseDocks
        }
        - dock_ids
    )
    if on_unknown:
        raise VtexApiError(
            "GET",
            "/api/logistics/pvt/configuration/docks",
            f"the warehouses holding SKU {inventory.skuId} are on dock(s) {on_unknown}, which "
            "the dock list does not name: the logistics data contradicts itself",
        )


def _check_dock_linked(checker: Checker, index: int | None) -> _Observation:
    seen = _logistics(checker, index)
    sku, trade_policy_id, reachable, docks = (
        seen.sku,
        seen.trade_policy_id,
        seen.reachable,
        seen.docks,
    )
    holding = {balance.warehouseId for balance in seen.inventory.balance}
    if not docks:
        inactive = _inactive_linked_docks(checker, trade_policy_id)
        why = (
            f": dock(s) {_listed(inactive)} are linked to it but inactive, activate them"
            if inactive
            else ""
        )
        return _failed(f"no active loading dock is linked to trade policy {trade_policy_id}{why}")
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


def _inactive_linked_docks(checker: Checker, trade_policy_id: str) -> list[str]:
    docks: list[Dock] = checker._call(checker.api.list_docks)
    return [
        dock.id
        for dock in docks
        if dock.isActive is False
        and trade_policy_id
        in {*dock.salesChannels, *([dock.salesChannel] if dock.salesChannel else [])}
    ]


def _check_inventory_available(checker: Checker, index: int | None) -> _Observation:
    item = checker.item(index)
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


def _serving_docks(checker: Checker, index: int | None) -> tuple[_Logistics, list[Dock]]:
    """The active docks linked to Amazon's trade policy that are on a warehouse holding the
    SKU (all such docks when the SKU has no balance row): the routes a carrier can take.
    _Skip(blocked) when there is none: dock_linked already says so."""
    seen = _logistics(checker, index)
    holding = {balance.warehouseId for balance in seen.inventory.balance} & seen.reachable
    warehouses: list[Warehouse] = checker._call(checker.api.list_warehouses)
    on_holding = {
        link.dockId
        for warehouse in warehouses
        if warehouse.id in holding
        for link in warehouse.warehouseDocks
    }
    docks: list[Dock] = checker._call(checker.api.list_docks)
    wanted = seen.docks & on_holding if seen.inventory.balance else seen.docks
    serving = [dock for dock in docks if dock.id in wanted]
    if not serving:
        raise _Skip(
            f"no active dock linked to trade policy {seen.trade_policy_id} serves "
            f"SKU {seen.sku.Id}'s warehouses",
            blocked=True,
        )
    return seen, serving


def _shipping_policies(
    checker: Checker, index: int | None
) -> tuple[_Logistics, list[Dock], dict[str, ShippingPolicy | None]]:
    seen, docks = _serving_docks(checker, index)
    ids = sorted({table for dock in docks for table in dock.freightTableIds})
    found = {table: checker._call(checker.api.get_shipping_policy, table) for table in ids}
    return seen, docks, found


def _check_shipping_policy_active(checker: Checker, index: int | None) -> _Observation:
    seen, docks, policies = _shipping_policies(checker, index)
    dock_ids = _listed(dock.id for dock in docks)
    if not policies:
        return _failed(
            f"dock(s) {dock_ids} of trade policy {seen.trade_policy_id} serving SKU "
            f"{seen.sku.Id} have no shipping policy linked"
        )
    active = sorted(pid for pid, policy in policies.items() if policy and policy.isActive)
    if active:
        return _passed(
            f"active shipping policy(ies) {_listed(active)} on dock(s) {dock_ids} of trade "
            f"policy {seen.trade_policy_id}"
        )
    states = ", ".join(
        f"{pid} ({'inactive' if policy else 'not found'})" for pid, policy in policies.items()
    )
    return _failed(
        f"the shipping policies of dock(s) {dock_ids} serving SKU {seen.sku.Id} for trade "
        f"policy {seen.trade_policy_id} are not active: {states}"
    )


def _check_postal_code_covered(checker: Checker, index: int | None) -> _Observation:
    """Reads the freight values of each active shipping policy on the serving docks for the
    postal code: no covering row in any of them proves the coverage gap. Weight, size, value
    and modal limits are not judged here (the API cannot say which one excluded a carrier)."""
    context = checker.context
    if context.postal_code is None:
        raise _Skip("needs postal_code in the order context")
    seen, _docks, policies = _shipping_policies(checker, index)
    active = sorted(pid for pid, policy in policies.items() if policy and policy.isActive)
    if not active:
        raise _Skip("no active shipping policy serves the SKU", blocked=True)
    for policy_id in active:
        rows = checker._call(checker.api.get_freight_values, policy_id, context.postal_code)
        covering = [row for row in rows if _covers(row, context.postal_code, context.country)]
        if covering:
            row = covering[0]
            return _passed(
                f"shipping policy {policy_id} has freight values for postal code "
                f"{context.postal_code} (range {row.zipCodeStart}–{row.zipCodeEnd})"
            )
    return _failed(
        f"none of the active shipping policies {_listed(active)} serving SKU {seen.sku.Id} for "
        f"trade policy {seen.trade_policy_id} has freight values covering postal code "
        f"{context.postal_code}"
    )


def _covers(row: Any, postal_code: str, country: str | None) -> bool:
    """A freight row returned for the postal code covers it, unless it lists the code as
    restricted or its range plainly says otherwise: the range is compared only when both ends
    and the code are digits of one length (formats differ by country), and the country only
    when both are given."""
    if country and row.country and row.country.upper() != country.upper():
        return False
    digits = re.sub(r"[^0-9]", "", postal_code)
    restricted = {re.sub(r"[^0-9]", "", code) or code for code in row.restrictedFreights}
    if (digits or postal_code) in restricted:
        return False  # inside the range, but the carrier does not deliver there
    start, end = (re.sub(r"[^0-9]", "", x or "") for x in (row.zipCodeStart, row.zipCodeEnd))
    if digits and len(start) == len(end) == len(digits):
        return start <= digits <= end
    return True


def _check_fba_logistics(checker: Checker, index: int | None) -> _Observation:
    """Step 0 of the SLA tree for FBA orders: a dedicated dock on Amazon's trade policy with a
    warehouse of unlimited inventory. The connector's own FBA settings (its Dock ID) are not
    readable through any API: the rules keep that part suspected."""
    context = checker.context
    if not context.is_fba:
        return _passed("not an FBA order (no _FBA or FBAOS suffix): step 0 does not apply")
    trade_policy_id = checker._trade_policy_id()
    reachable, docks = checker._reachable_warehouses(trade_policy_id)
    if not docks:
        return _failed(
            f"no active loading dock is linked to trade policy {trade_policy_id}, "
            "so the dedicated FBA dock is not on it"
        )
    missing = []
    for position in range(len(context.items)):
        sku = checker._sku(position)
        inventory = checker._call(checker.api.get_inventory, sku.Id)
        if not any(
            b.hasUnlimitedQuantity and b.warehouseId in reachable for b in inventory.balance
        ):
            missing.append(sku.Id)
    if missing:
        return _failed(
            f"no warehouse on the docks {_listed(docks)} of trade policy "
            f"{trade_policy_id} has unlimited inventory for SKU {', '.join(missing)} (FBA needs "
            "the dedicated warehouse with unlimited inventory)"
        )
    return _passed(
        f"a warehouse with unlimited inventory on dock(s) {_listed(docks)} of trade "
        f"policy {trade_policy_id} holds every SKU"
    )


def _check_fulfillment_simulation(checker: Checker, index: int | None) -> _Observation:
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
    # `availability` is printed, never relied on: VTEX's known issue says it can read
    # "available" without stock. The reason fact stays for rulesets that read it.
    reason = "unavailable" if unavailable else "no_sla_for_postal_code"
    skus = ", ".join(_described(simulation, request, p) for p in without_sla)
    return _failed(
        f"simulation for trade policy {trade_policy_id} and postal code "
        f"{context.postal_code}: no SLA for SKU {skus}",
        reason=reason,
    )


def _described(simulation: Any, request: tuple[tuple[str, int], ...], position: int) -> str:
    found = simulation.item_for(position)
    if found is None:
        return f"{request[position][0]} (not in the simulation's items)"
    if found.availability:
        return f"{request[position][0]} (availability: {found.availability})"
    return request[position][0]


_OBSERVERS: Mapping[str, Callable[[Checker, int | None], _Observation]] = {
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
    "sku_indexed_in_trade_policy": _check_sku_indexed_in_trade_policy,
    "sku_in_collection": _check_sku_in_collection,
    "shipping_policy_active": _check_shipping_policy_active,
    "postal_code_covered": _check_postal_code_covered,
    "fba_logistics": _check_fba_logistics,
}
_LOCAL = frozenset({"sku_id_format"})
# What each API check reads, for the prefetch (Checker._prefetch): the SKU, the trade policy,
# the product's trade policies, the logistics (docks, warehouses, inventory), the shipping
# policies. One row per check, so a new check is one line here.
_READS: Mapping[str, frozenset[str]] = {
    "sku_exists": frozenset({"sku"}),
    "sku_active": frozenset({"sku"}),
    "product_active": frozenset({"sku"}),
    "trade_policy_active": frozenset({"trade_policy"}),
    "sku_in_trade_policy": frozenset({"sku", "trade_policy", "product_policies"}),
    "sku_indexed_in_trade_policy": frozenset({"sku", "trade_policy", "product_policies"}),
    "sku_in_collection": frozenset({"sku", "trade_policy"}),
    "dock_linked": frozenset({"sku", "trade_policy", "logistics"}),
    "inventory_available": frozenset({"sku", "trade_policy", "logistics"}),
    "shipping_policy_active": frozenset({"sku", "trade_policy", "logistics", "shipping"}),
    "postal_code_covered": frozenset({"sku", "trade_policy", "logistics", "shipping"}),
    "fba_logistics": frozenset({"sku", "trade_policy", "logistics"}),
    "fulfillment_simulation": frozenset({"sku", "trade_policy"}),
}


def _reading(what: str) -> frozenset[str]:
    return frozenset(name for name, reads in _READS.items() if what in reads)


_NEEDS_SKU = _reading("sku")
_NEEDS_TRADE_POLICY = _reading("trade_policy")
_NEEDS_PRODUCT_POLICIES = _reading("product_policies")
_NEEDS_SHIPPING = _reading("shipping")
_NEEDS_LOGISTICS = _reading("logistics")
