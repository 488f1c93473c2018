"""VTEX: the API client (the only HTTP in order-assistant) and its response models.

The client reads for the checks and makes two writes for `guide --apply`: update_sku (the SKU
record PUT, a full replace) and link_product_to_trade_policy (the product salespolicy POST)."""

from assistant.errors import VtexApiError, VtexConfigError, VtexPermissionError
from assistant.vtex.client import (
    DEFAULT_ENVIRONMENT,
    SKU_RECORD_REQUIRED,
    RateLimiter,
    VtexClient,
    VtexConfig,
    parse_retry_after,
)
from assistant.vtex.models import (
    Affiliate,
    CollectionPage,
    Dock,
    FreightValue,
    InventoryBalance,
    LogisticsInfo,
    ProductSalesPolicy,
    ShippingPolicy,
    Simulation,
    SimulationItem,
    SimulationMessage,
    SimulationResultItem,
    SkuContext,
    SkuInventory,
    Sla,
    TradePolicy,
    Warehouse,
)

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "SKU_RECORD_REQUIRED",
    "Affiliate",
    "CollectionPage",
    "Dock",
    "FreightValue",
    "InventoryBalance",
    "LogisticsInfo",
    "ProductSalesPolicy",
    "RateLimiter",
    "ShippingPolicy",
    "Simulation",
    "SimulationItem",
    "SimulationMessage",
    "SimulationResultItem",
    "SkuContext",
    "SkuInventory",
    "Sla",
    "TradePolicy",
    "VtexApiError",
    "VtexClient",
    "VtexConfig",
    "VtexConfigError",
    "VtexPermissionError",
    "Warehouse",
    "parse_retry_after",
]
