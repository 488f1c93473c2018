"""VTEX: the read-only API client (the only HTTP in order-assistant) and its response models."""

from assistant.errors import VtexApiError, VtexConfigError, VtexPermissionError
from assistant.vtex.client import (
    DEFAULT_ENVIRONMENT,
    RateLimiter,
    VtexClient,
    VtexConfig,
    parse_retry_after,
)
from assistant.vtex.models import (
    Affiliate,
    Dock,
    InventoryBalance,
    LogisticsInfo,
    ProductSalesPolicy,
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
    "Affiliate",
    "Dock",
    "InventoryBalance",
    "LogisticsInfo",
    "ProductSalesPolicy",
    "RateLimiter",
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
