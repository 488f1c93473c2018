"""A store's state, rendered as the VTEX responses the checks read, for loopback scenarios.

Every response starts from a documented example in tests/fixtures/vtex/ (copied from VTEX's
OpenAPI specs) and changes only the fields the scenario is about: ids, flags, quantities,
links. The healthy store below passes every check; each scenario breaks one link.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vtex"
TRADE_POLICY = "3"
AFFILIATE = "MZN"
AMAZON_DOCK = "dock-amazon"
SITE_DOCK = "dock-site"
AMAZON_WAREHOUSE = "wh-amazon"
SITE_WAREHOUSE = "wh-site"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))


@dataclass
class Sku:
    sku_id: str
    active: bool = True
    product_active: bool = True
    trade_policies: list[str] = field(default_factory=lambda: ["1", TRADE_POLICY])
    # warehouse -> (totalQuantity, reservedQuantity)
    stock: dict[str, tuple[int, int]] = field(default_factory=lambda: {AMAZON_WAREHOUSE: (10, 0)})
    ref_id: str | None = None

    @property
    def product_id(self) -> str:
        return f"9{self.sku_id}"


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
            routes[f"GET /api/catalog/pvt/product/{_q(sku.product_id)}/salespolicy"] = {
                "body": [
                    {"ProductId": int(sku.product_id), "StoreId": int(policy)}
                    for policy in sku.trade_policies
                ]
            }
            routes[f"GET /api/logistics/pvt/inventory/skus/{_q(sku.sku_id)}"] = {
                "body": self._inventory(sku)
            }
            if sku.ref_id:
                routes[
                    f"GET /api/catalog_system/pvt/sku/stockkeepingunitidbyrefid/{_q(sku.ref_id)}"
                ] = {"body": sku.sku_id}
        if self.trade_policy_exists:
            policy = fixture("trade_policy")
            policy.update(Id=int(TRADE_POLICY), Name="Amazon", IsActive=self.trade_policy_active)
            routes[f"GET /api/catalog_system/pub/saleschannel/{TRADE_POLICY}"] = {"body": policy}
        affiliate = fixture("affiliate")
        affiliate.update(id=AFFILIATE, name="Amazon", salesChannel=TRADE_POLICY)
        routes[f"GET /api/fulfillment/pvt/affiliates/{AFFILIATE}"] = {"body": affiliate}
        routes["GET /api/logistics/pvt/configuration/docks"] = {"body": self._docks()}
        routes["GET /api/logistics/pvt/configuration/warehouses"] = {"body": self._warehouses()}
        routes["POST /api/checkout/pub/orderForms/simulation"] = {"body": self._simulation()}
        return routes

    def scenario(self, name: str = "") -> dict[str, Any]:
        return {"name": name, "routes": self.routes()}

    def _sku_context(self, sku: Sku) -> dict[str, Any]:
        body = fixture("sku_context")
        body.update(
            Id=int(sku.sku_id),
            ProductId=int(sku.product_id),
            IsActive=sku.active,
            IsProductActive=sku.product_active,
            SalesChannels=[int(p) for p in sku.trade_policies],
        )
        body["AlternateIds"] = {"RefId": sku.ref_id or f"REF-{sku.sku_id}"}
        for seller in body.get("SkuSellers", []):
            seller.update(StockKeepingUnitId=int(sku.sku_id), SellerStockKeepingUnitId=sku.sku_id)
        return body  # type: ignore[no-any-return]

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
                hasUnlimitedQuantity=False,
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
        )
        site.update(id=SITE_DOCK, name="Site dock", salesChannels=["1"], isActive=True)
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


def _q(segment: str) -> str:
    # As the client quotes a path segment.
    return quote(segment, safe="")


def healthy_store(*sku_ids: str) -> Store:
    store = Store()
    for sku_id in sku_ids or ("1070",):
        store.add(Sku(sku_id))
    return store
