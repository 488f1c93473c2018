"""Pydantic models of the VTEX responses the checks read, and of the simulation request.

Field names are VTEX's own (`IsActive`, `salesChannels`, `hasUnlimitedQuantity`), so a model reads
like the spec it comes from (`shared/domain/vtex-openapi/`, operation ids in the docstrings).
The models are lenient where VTEX is inconsistent, and only there:

- ids come as integers in some APIs and strings in others (Catalog `SalesChannels` and the
  product salespolicy `StoreId` are integers, the affiliate and dock `salesChannel(s)` are
  strings): every id is normalised to `str`, so `"1" == 1` holds after parsing;
- simulation `messages` are typed `string[]` in the Checkout spec, objects
  `{messageId, messageText, messageType}` in the Marketplace Protocol spec, and reported as
  `{code, text, status}` in practice: all three become a `SimulationMessage`;
- optional fields may be missing or `null` (lists then read as empty); unknown fields are ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _id_as_text(value: Any) -> Any:
    # Not booleans: Python counts them as integers, and `true` is never a VTEX id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _none_as_empty_list(value: Any) -> Any:
    return [] if value is None else value


VtexId = Annotated[str, BeforeValidator(_id_as_text)]
IdList = Annotated[list[VtexId], BeforeValidator(_none_as_empty_list)]
TextList = Annotated[list[str], BeforeValidator(_none_as_empty_list)]


class VtexModel(BaseModel):
    # Not strict: VTEX types the same value differently across APIs (see the module docstring).
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---- Catalog ---------------------------------------------------------------------------------


class SkuSeller(VtexModel):
    SellerId: VtexId
    StockKeepingUnitId: VtexId | None = None
    SellerStockKeepingUnitId: VtexId | None = None
    IsActive: bool | None = None


class SkuImage(VtexModel):
    ImageUrl: str | None = None
    FileId: VtexId | None = None


class SkuAlternateIds(VtexModel):
    Ean: str | None = None
    RefId: str | None = None


class SkuContext(VtexModel):
    """`GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/{skuId}` (operation `SkuContext`).

    The SKU context has no top-level `RefId`: the SKU's RefId is `AlternateIds.RefId` and the
    product's is `ProductRefId` (schema `GetSKUandContext`).
    """

    Id: VtexId
    ProductId: VtexId
    IsActive: bool
    IsProductActive: bool | None = None
    ProductIsVisible: bool | None = None
    NameComplete: str | None = None
    ProductRefId: str | None = None
    # "The sales channels that are related to the product": trade-policy membership is set on
    # the product, so every SKU of the product shares it. None when the answer lacks the field
    # (or gives null): unknown, which is not the same as an empty index.
    SalesChannels: list[VtexId] | None = None
    SkuSellers: Annotated[list[SkuSeller], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )
    # Since 2021 an SKU only activates once it has an image (Catalog SKUs guide).
    Images: Annotated[list[SkuImage], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )
    AlternateIds: SkuAlternateIds | None = None
    IsKit: bool | None = None
    # When set, only carriers with this modal can ship the SKU: a hidden cause of "no SLA".
    ModalType: str | None = None

    @property
    def ref_id(self) -> str | None:
        return self.AlternateIds.RefId if self.AlternateIds else None


class ProductSalesPolicy(VtexModel):
    """One row of `GET /api/catalog/pvt/product/{productId}/salespolicy`; `StoreId` is the
    trade-policy id."""

    ProductId: VtexId
    StoreId: VtexId


class TradePolicy(VtexModel):
    """`GET /api/catalog_system/pub/saleschannel/{salesChannelId}` (`SalesChannelbyId`)."""

    Id: VtexId
    Name: str | None = None
    IsActive: bool
    CountryCode: str | None = None
    CurrencyCode: str | None = None
    Origin: str | None = None
    Position: int | None = None
    # The access condition of a restricted trade policy.
    ConditionRule: str | None = None
    # Set when the trade policy takes its assortment from a collection ("product cluster")
    # instead of the trade policies ticked on each product.
    ProductClusterId: VtexId | None = None


class CollectionProduct(VtexModel):
    ProductId: VtexId
    SkuId: VtexId | None = None


class CollectionPage(VtexModel):
    """One page of `GET /api/catalog/pvt/collection/{collectionId}/products`."""

    Page: int = 1
    # None when the answer lacks it: then pages are read until one comes back short.
    TotalPage: int | None = None
    Data: Annotated[list[CollectionProduct], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )


# ---- Marketplace (affiliates) ----------------------------------------------------------------


class Affiliate(VtexModel):
    """`GET /api/fulfillment/pvt/affiliates/{affiliateId}` (Marketplace APIs).

    `salesChannel` is the trade policy that the affiliate's (Amazon's) orders use.
    """

    id: VtexId
    name: str | None = None
    salesChannel: VtexId | None = None


# ---- Logistics -------------------------------------------------------------------------------


class InventoryBalance(VtexModel):
    warehouseId: VtexId
    warehouseName: str | None = None
    totalQuantity: int = 0
    reservedQuantity: int = 0
    hasUnlimitedQuantity: bool = False
    leadTime: str | None = None

    @property
    def available_quantity(self) -> int:
        """Total minus reserved: the spec has no `available` field here, and a negative result
        (more reserved than in stock) is itself a documented out-of-stock cause."""
        return self.totalQuantity - self.reservedQuantity


class SkuInventory(VtexModel):
    """`GET /api/logistics/pvt/inventory/skus/{skuId}` (operation `InventoryBySku`)."""

    skuId: VtexId
    balance: Annotated[list[InventoryBalance], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )


class Dock(VtexModel):
    """One dock of `GET /api/logistics/pvt/configuration/docks` (operation `AllDocks`).

    A dock names no warehouse: the warehouse side holds the link (`Warehouse.warehouseDocks`).
    """

    id: VtexId
    name: str | None = None
    isActive: bool | None = None
    priority: int | None = None
    # The dock <-> trade-policy link. `salesChannel` (singular) is absent from some spec
    # examples; `salesChannels` is the list to read.
    salesChannels: IdList = Field(default_factory=list)
    salesChannel: VtexId | None = None
    freightTableIds: IdList = Field(default_factory=list)


class WarehouseDock(VtexModel):
    dockId: VtexId
    time: str | None = None
    cost: float | None = None


class Warehouse(VtexModel):
    """One warehouse of `GET /api/logistics/pvt/configuration/warehouses` (`AllWarehouses`)."""

    id: VtexId
    name: str | None = None
    isActive: bool | None = None
    priority: int | None = None
    warehouseDocks: Annotated[list[WarehouseDock], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )
    pickupPointIds: IdList = Field(default_factory=list)


class ShippingPolicy(VtexModel):
    """`GET /api/logistics/pvt/shipping-policies/{id}`: the carrier a dock's `freightTableIds`
    names. Only `isActive` decides anything; the limits are shown as evidence, since the API
    cannot say which of them excluded a carrier."""

    id: VtexId
    name: str | None = None
    isActive: bool
    deliveryChannel: str | None = None
    modalSettings: dict[str, Any] | None = None


class FreightValue(VtexModel):
    """One row of `GET /api/logistics/pvt/configuration/freights/{carrierId}/{postalCode}/values`:
    a postal-code range (and weight range) the carrier delivers to."""

    zipCodeStart: str | None = None
    zipCodeEnd: str | None = None
    weightStart: float | None = None
    weightEnd: float | None = None
    country: str | None = None
    # "Postal codes where the delivery is restricted" within the range (Logistics spec).
    restrictedFreights: IdList = Field(default_factory=list)


# ---- Checkout: fulfillment simulation --------------------------------------------------------


class SimulationItem(VtexModel):
    """One item of the simulation request body; all three fields are required by the spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: VtexId
    quantity: Annotated[int, Field(ge=1)]
    seller: VtexId


class SimulationMessage(BaseModel):
    """A simulation message, whichever shape VTEX sent it in (see the module docstring)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str
    code: str | None = None
    status: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_any_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"text": value}
        if isinstance(value, dict):
            return {
                "text": _first_text(value, "text", "messageText") or "",
                "code": _first_text(value, "code", "messageId"),
                "status": _first_text(value, "status", "messageType"),
            }
        return value


def _first_text(value: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        found = value.get(key)
        if found is not None:
            return str(found)
    return None


MessageList = Annotated[list[SimulationMessage], BeforeValidator(_none_as_empty_list)]


class SimulationResultItem(VtexModel):
    id: VtexId
    requestIndex: int | None = None
    quantity: int | None = None
    seller: VtexId | None = None
    # No enum in the spec, and known to read `available` even without stock (VTEX known issue):
    # never conclude from it alone; the SLAs and the inventory decide.
    availability: str | None = None
    price: int | None = None
    sellingPrice: int | None = None


class DeliveryId(VtexModel):
    courierId: VtexId | None = None
    courierName: str | None = None
    warehouseId: VtexId | None = None
    dockId: VtexId | None = None
    quantity: int | None = None


class Sla(VtexModel):
    id: str
    name: str | None = None
    deliveryChannel: str | None = None
    shippingEstimate: str | None = None
    price: int | None = None
    deliveryIds: Annotated[list[DeliveryId], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )
    pickupPointId: str | None = None
    polygonName: str | None = None


class LogisticsInfo(VtexModel):
    itemIndex: int
    quantity: int | None = None
    shipsTo: TextList = Field(default_factory=list)
    # An empty list for an item is the reliable "no SLA" signal.
    slas: Annotated[list[Sla], BeforeValidator(_none_as_empty_list)] = Field(default_factory=list)
    # The Checkout spec's schema nests `messages` here rather than at the top level (its example
    # has them at the top level); read both.
    messages: MessageList = Field(default_factory=list)


class Simulation(VtexModel):
    """`POST /api/checkout/pub/orderForms/simulation` (operation `CartSimulation`)."""

    items: Annotated[list[SimulationResultItem], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )
    logisticsInfo: Annotated[list[LogisticsInfo], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list
    )
    messages: MessageList = Field(default_factory=list)
    postalCode: str | None = None
    country: str | None = None

    def _position(self, request_index: int) -> int | None:
        """Where the request's item at `request_index` sits in the response's `items`: by
        `requestIndex`, or by position when VTEX left `requestIndex` out altogether."""
        if all(item.requestIndex is None for item in self.items):
            return request_index if request_index < len(self.items) else None
        return next(
            (
                position
                for position, item in enumerate(self.items)
                if item.requestIndex == request_index
            ),
            None,
        )

    def item_for(self, request_index: int) -> SimulationResultItem | None:
        """The response item for the request's item at `request_index`; None when VTEX left it
        out: the SKU is not sellable in that trade policy (delivery-validation guide)."""
        position = self._position(request_index)
        return None if position is None else self.items[position]

    def slas_for(self, request_index: int) -> list[Sla] | None:
        """The SLAs offered for the request's item at `request_index` ([] when none reaches the
        postal code); None when the item is missing from the response altogether."""
        position = self._position(request_index)
        if position is None:
            return None
        # `logisticsInfo[].itemIndex` points into the response's `items`.
        info = next((li for li in self.logisticsInfo if li.itemIndex == position), None)
        return list(info.slas) if info else []

    @property
    def all_messages(self) -> list[SimulationMessage]:
        return [*self.messages, *(m for li in self.logisticsInfo for m in li.messages)]
