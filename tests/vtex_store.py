"""A store's state, rendered as the VTEX responses the checks read, for loopback scenarios.

Every response starts from a documented example in tests/fixtures/vtex/ (copied from VTEX's
OpenAPI specs) and changes only the fields the scenario is about: ids, flags, quantities,
links. The healthy store below passes every check; each scenario breaks one link.

Static: `store.scenario()` is a VtexServer scenario, a snapshot of the store's answers.
Stateful: `store.serve()` (or `VtexServer(store=store)`) answers from the store itself and
carries out the two writes of `guide --apply` on it, as VTEX would (Store.apply):

- `PUT /api/catalog/pvt/stockkeepingunit/{skuId}` replaces the SKU record: a field left out
  reads back as null, a missing or false `IsActive` deactivates the SKU, and `IsActive: true`
  activates it only if it has an image (`Sku(images=0)` stays inactive, though VTEX answers
  200: since 2021 it activates a SKU only once it has one). Kits (an active component is also
  needed) are not modelled. Only `IsActive` of the body reaches the other routes: a new RefId
  or ProductId is kept in the record, not applied to the SKU context or the RefId lookup.
- `POST /api/catalog/pvt/product/{productId}/salespolicy/{tradePolicyId}` associates the
  product, so every SKU with that product id, with the trade policy (idempotent; VTEX's answer
  to a repeated link is not documented).

After a write, `GET .../stockkeepingunitbyid/{id}` (IsActive, SalesChannels),
`GET .../pvt/stockkeepingunit/{id}` and `GET .../product/{id}/salespolicy` show it. The
simulation, inventory and docks do not follow the store's writes (they are fixed by `simulation`
and the dock fields).

    store = Store().add(Sku("1070", active=False)).add(Sku("2231", images=0, active=False))
    with store.serve(require_keys=DEFAULT_KEYS) as server:
        ...  # run `guide --apply --yes` with env_for(server)
    assert [(w.method, w.path) for w in server.writes()] == [...]
    assert store.skus["1070"].active and not store.skus["2231"].active
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from tests.vtex_server import VtexServer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vtex"
TRADE_POLICY = "3"
AFFILIATE = "MZN"
AMAZON_DOCK = "dock-amazon"
SITE_DOCK = "dock-site"
AMAZON_WAREHOUSE = "wh-amazon"
SITE_WAREHOUSE = "wh-site"
AMAZON_SHIPPING_POLICY = "sp-amazon"
POSTAL_CODE = "01310-100"
# The postal codes of the examples and tests; the freight routes are rendered for each.
POSTAL_CODES = (POSTAL_CODE, "22041-001")
# Every trade policy of the store: what the index lists for a product with none ticked.
ALL_TRADE_POLICIES = ("1", TRADE_POLICY)


def fixture(name: str) -> Any:
    """A fresh copy of a documented response (callers change it)."""
    return json.loads(_fixture_text(name))


@functools.cache
def _fixture_text(name: str) -> str:
    # Read once: a stateful store re-renders every SKU after each write, and a benchmark's
    # store has hundreds of them.
    return (FIXTURES / f"{name}.json").read_text("utf-8")


@dataclass
class Sku:
    sku_id: str
    active: bool = True
    product_active: bool = True
    trade_policies: list[str] = field(default_factory=lambda: ["1", TRADE_POLICY])
    # warehouse -> (totalQuantity, reservedQuantity)
    stock: dict[str, tuple[int, int]] = field(default_factory=lambda: {AMAZON_WAREHOUSE: (10, 0)})
    ref_id: str | None = None
    # How many images the SKU has; VTEX does not activate a SKU without one.
    images: int = 1
    # The product; by default one product per SKU. SKUs sharing a product share its trade
    # policies: a salespolicy POST links every one of them.
    product: str | None = None
    # The flat record as last written by a PUT (the whole body, as VTEX keeps it); None until
    # then, when it is rendered from the spec example with this SKU's ids and flags.
    record: dict[str, Any] | None = None
    # The catalog's index (the SKU context's SalesChannels). None: up to date, i.e. the ticked
    # trade policies, or every trade policy when none is ticked. A list: a stale index.
    indexed: list[str] | None = None
    ean: str | None = None
    # The SKU's stock is unlimited in every warehouse (the FBA setup).
    unlimited: bool = False

    @property
    def product_id(self) -> str:
        return self.product or f"9{self.sku_id}"


@dataclass
class Store:
    skus: dict[str, Sku] = field(default_factory=dict)
    trade_policy_active: bool = True
    trade_policy_exists: bool = True
    amazon_dock_policies: list[str] = field(default_factory=lambda: ["1", TRADE_POLICY])
    amazon_dock_active: bool = True
    # "sla": every item has an SLA; "no_sla": sellable but no carrier reaches the postal code;
    # "unavailable": the simulation calls the item unavailable and returns no SLA.
    simulation: str = "sla"
    # The collection (ProductClusterId) Amazon's trade policy takes its products from, and the
    # product ids in it; None: the products' own ticked trade policies decide.
    collection: str | None = None
    collection_products: list[str] = field(default_factory=list)
    # The shipping policies on the Amazon dock: id -> active.
    shipping_policies: dict[str, bool] = field(
        default_factory=lambda: {AMAZON_SHIPPING_POLICY: True}
    )
    # Whether their freight values cover the postal codes below (rendered for each of them).
    covered: bool = True
    postal_codes: tuple[str, ...] = POSTAL_CODES

    def add(self, sku: Sku) -> Store:
        self.skus[sku.sku_id] = sku
        return self

    # ---- rendering ----------------------------------------------------------------------------

    def routes(self) -> dict[str, Any]:
        routes: dict[str, Any] = {}
        for sku in self.skus.values():
            routes[f"GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/{_q(sku.sku_id)}"] = {
                "body": self._sku_context(sku)
            }
            routes[f"GET /api/catalog/pvt/stockkeepingunit/{_q(sku.sku_id)}"] = {
                "body": self.sku_record(sku)
            }
            routes[f"GET /api/catalog/pvt/product/{_q(sku.product_id)}/salespolicy"] = {
                "body": [
                    {"ProductId": int(sku.product_id), "StoreId": int(policy)}
                    for policy in sku.trade_policies
                ]
            }
            routes[f"GET /api/logistics/pvt/inventory/skus/{_q(sku.sku_id)}"] = {
                "body": self._inventory(sku)
            }
            if sku.ean:
                routes[f"GET /api/catalog_system/pvt/sku/stockkeepingunitbyean/{_q(sku.ean)}"] = {
                    "body": self._sku_context(sku)
                }
            if sku.ref_id:
                routes[
                    f"GET /api/catalog_system/pvt/sku/stockkeepingunitidbyrefid/{_q(sku.ref_id)}"
                ] = {"body": sku.sku_id}
        if self.trade_policy_exists:
            policy = fixture("trade_policy")
            policy.update(
                Id=int(TRADE_POLICY),
                Name="Amazon",
                IsActive=self.trade_policy_active,
                ProductClusterId=None if self.collection is None else int(self.collection),
            )
            routes[f"GET /api/catalog_system/pub/saleschannel/{TRADE_POLICY}"] = {"body": policy}
        if self.collection is not None:
            routes[f"GET /api/catalog/pvt/collection/{self.collection}/products"] = {
                "body": self._collection()
            }
        for policy_id, active in self.shipping_policies.items():
            shipping = fixture("shipping_policy")
            shipping.update(id=policy_id, name=policy_id, isActive=active)
            routes[f"GET /api/logistics/pvt/shipping-policies/{_q(policy_id)}"] = {"body": shipping}
            for postal_code in self.postal_codes:
                routes[
                    f"GET /api/logistics/pvt/configuration/freights/{_q(policy_id)}/"
                    f"{_q(postal_code)}/values"
                ] = {"body": self._freight_values()}
        affiliate = fixture("affiliate")
        affiliate.update(id=AFFILIATE, name="Amazon", salesChannel=TRADE_POLICY)
        routes[f"GET /api/fulfillment/pvt/affiliates/{AFFILIATE}"] = {"body": affiliate}
        routes["GET /api/logistics/pvt/configuration/docks"] = {"body": self._docks()}
        routes["GET /api/logistics/pvt/configuration/warehouses"] = {"body": self._warehouses()}
        routes["POST /api/checkout/pub/orderForms/simulation"] = {"body": self._simulation()}
        return routes

    def scenario(self, name: str = "") -> dict[str, Any]:
        return {"name": name, "routes": self.routes()}

    def serve(self, **options: Any) -> VtexServer:
        """A VtexServer (not started: `with store.serve() as server:`) answering from this store
        and carrying out writes on it. `options` are VtexServer's (latency, require_keys)."""
        return VtexServer(store=self, **options)

    # ---- writes, as VTEX carries them out -----------------------------------------------------

    def apply(self, method: str, path: str, body: Any) -> tuple[int, Any] | None:
        """Carry out `METHOD path` (percent-encoded, no query) with the parsed JSON `body`:
        (status, JSON body or None) when it is one of the writes modelled here, else None
        (the server then answers from the rendered routes)."""
        if method == "PUT" and (match := _SKU_RECORD.fullmatch(path)):
            return self._put_sku(unquote(match[1]), body)
        if method == "POST" and (match := _SALES_POLICY_LINK.fullmatch(path)):
            return self._link(unquote(match[1]), unquote(match[2]))
        return None

    def _put_sku(self, sku_id: str, body: Any) -> tuple[int, Any]:
        sku = self.skus.get(sku_id)
        if sku is None:
            return 404, {"Message": "SKU not found."}
        if not isinstance(body, dict):
            return 400, {"Message": "The request body must be a SKU (a JSON object)."}
        sku.record = copy.deepcopy(body)
        # A missing or null IsActive deactivates (Catalog spec, "Update SKU"). Activation needs
        # an image (SKUs guide, 2021 Catalog announcement); an active SKU told to stay active
        # stays so.
        wanted = body.get("IsActive") is True
        sku.active = wanted and (sku.active or sku.images > 0)
        return 200, self.sku_record(sku)

    def _link(self, product_id: str, trade_policy_id: str) -> tuple[int, Any]:
        skus = [sku for sku in self.skus.values() if sku.product_id == product_id]
        if not skus:
            return 404, {"Message": "Product not found."}
        if not trade_policy_id.isdigit():
            return 400, {"Message": "The sales channel id must be an integer."}
        policy = str(int(trade_policy_id))
        for sku in skus:
            if policy not in sku.trade_policies:
                sku.trade_policies.append(policy)
        return 200, None  # the spec documents a 200 without a body

    # ---- rendering, continued -----------------------------------------------------------------

    def sku_record(self, sku: Sku) -> dict[str, Any]:
        """The flat SKU record (`GET /api/catalog/pvt/stockkeepingunit/{skuId}`)."""
        template = fixture("sku_record")
        if sku.record is None:
            body = template
            body.update(ProductId=int(sku.product_id), RefId=sku.ref_id or f"REF-{sku.sku_id}")
        else:
            # A full replace: what the last PUT left out reads back as null.
            body = dict.fromkeys(template) | copy.deepcopy(sku.record)
        body.update(Id=int(sku.sku_id), IsActive=sku.active)
        return body  # type: ignore[no-any-return]

    def _sku_context(self, sku: Sku) -> dict[str, Any]:
        body = fixture("sku_context")
        body.update(
            Id=int(sku.sku_id),
            ProductId=int(sku.product_id),
            IsActive=sku.active,
            IsProductActive=sku.product_active,
            SalesChannels=[int(p) for p in self._indexed(sku)],
        )
        images = body.get("Images") or []
        body["Images"] = [
            {**image, "FileId": image["FileId"] + n}
            for n in range(sku.images)
            for image in images[:1]
        ]
        body["AlternateIds"] = {"RefId": sku.ref_id or f"REF-{sku.sku_id}"}
        for seller in body.get("SkuSellers", []):
            seller.update(StockKeepingUnitId=int(sku.sku_id), SellerStockKeepingUnitId=sku.sku_id)
        return body  # type: ignore[no-any-return]

    @staticmethod
    def _indexed(sku: Sku) -> list[str]:
        if sku.indexed is not None:
            return sku.indexed
        return list(sku.trade_policies) or list(ALL_TRADE_POLICIES)

    def _collection(self) -> dict[str, Any]:
        template = fixture("collection_products")
        row = template["Data"][0]
        data = [
            {**row, "ProductId": int(product), "SkuId": None, "Position": n}
            for n, product in enumerate(self.collection_products, 1)
        ]
        template.update(Page=1, Size=len(data), TotalRows=len(data), TotalPage=1, Data=data)
        return template  # type: ignore[no-any-return]

    def _freight_values(self) -> list[dict[str, Any]]:
        if not self.covered:
            return []
        row = fixture("freight_values")[0]
        # One national range: every postal code this store renders falls inside it.
        row.update(zipCodeStart="00000000", zipCodeEnd="99999999")
        return [row]

    def _inventory(self, sku: Sku) -> dict[str, Any]:
        template = fixture("inventory_by_sku")
        row = template["balance"][0]
        balance = []
        for warehouse, (total, reserved) in sku.stock.items():
            entry = copy.deepcopy(row)
            entry.update(
                warehouseId=warehouse,
                warehouseName=warehouse,
                totalQuantity=total,
                reservedQuantity=reserved,
                hasUnlimitedQuantity=sku.unlimited,
            )
            balance.append(entry)
        return {"skuId": sku.sku_id, "balance": balance}

    def _docks(self) -> list[dict[str, Any]]:
        template = fixture("docks")[0]
        amazon, site = copy.deepcopy(template), copy.deepcopy(template)
        amazon.update(
            id=AMAZON_DOCK,
            name="Amazon dock",
            salesChannels=self.amazon_dock_policies,
            isActive=self.amazon_dock_active,
            freightTableIds=list(self.shipping_policies),
        )
        site.update(
            id=SITE_DOCK,
            name="Site dock",
            salesChannels=["1"],
            isActive=True,
            freightTableIds=list(self.shipping_policies),
        )
        return [amazon, site]

    def _warehouses(self) -> list[dict[str, Any]]:
        template = fixture("warehouses")[0]
        amazon, site = copy.deepcopy(template), copy.deepcopy(template)
        amazon.update(
            id=AMAZON_WAREHOUSE,
            name="Amazon warehouse",
            isActive=True,
            warehouseDocks=[{"dockId": AMAZON_DOCK, "time": "1.00:00:00", "cost": 0}],
        )
        site.update(
            id=SITE_WAREHOUSE,
            name="Site warehouse",
            isActive=True,
            warehouseDocks=[{"dockId": SITE_DOCK, "time": "1.00:00:00", "cost": 0}],
        )
        return [amazon, site]

    def _simulation(self) -> dict[str, Any]:
        template = fixture("simulation")
        item_template, logistics_template = template["items"][0], template["logisticsInfo"][0]
        items, logistics = [], []
        for index, sku in enumerate(self.skus.values()):
            item = copy.deepcopy(item_template)
            item.update(
                id=sku.sku_id,
                requestIndex=index,
                availability="withoutStock" if self.simulation == "unavailable" else "available",
            )
            info = copy.deepcopy(logistics_template)
            info.update(itemIndex=index)
            if self.simulation != "sla":
                info["slas"] = []
            items.append(item)
            logistics.append(info)
        template.update(items=items, logisticsInfo=logistics)
        return template  # type: ignore[no-any-return]


_SKU_RECORD = re.compile(r"/api/catalog/pvt/stockkeepingunit/([^/]+)")
_SALES_POLICY_LINK = re.compile(r"/api/catalog/pvt/product/([^/]+)/salespolicy/([^/]+)")


def _q(segment: str) -> str:
    # As the client quotes a path segment.
    return quote(segment, safe="")


def healthy_store(*sku_ids: str) -> Store:
    store = Store()
    for sku_id in sku_ids or ("1070",):
        store.add(Sku(sku_id))
    return store
