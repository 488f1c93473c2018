"""The two store-side fixes the API allows: activate a SKU, link a product to a trade policy.

Each fix is first *planned*: the live state is read again, and the plan says either that
nothing needs writing (the state is already right: the fix is idempotent) or exactly which
request would be sent. The guide shows the plan, sends it only with `--apply` and a
confirmation, then verifies by reading again. Offline, the plan can only describe the request.

Activating a SKU is a read-modify-write of the whole record: VTEX's SKU PUT is a full replace,
and a field left out of the body is cleared (a missing `IsActive` even deactivates the SKU).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.vtex import VtexClient

SKU_RECORD_PATH = "/api/catalog/pvt/stockkeepingunit/{sku_id}"
PRODUCT_POLICY_PATH = "/api/catalog/pvt/product/{product_id}/salespolicy/{trade_policy_id}"


@dataclass(frozen=True)
class WriteRequest:
    method: str
    path: str
    body: Mapping[str, Any] | None = None
    summary: str = ""  # what changes, in words


@dataclass(frozen=True)
class FixPlan:
    """What a fix would do now. `request` is None when the state is already right."""

    request: WriteRequest | None
    state: str  # the state as read, in words
    send: Callable[[], None] = field(default=lambda: None, compare=False)


def describe_offline(action: str, values: Mapping[str, str]) -> WriteRequest:
    """The request a fix would send, when the API cannot be read (offline): ids may be
    unknown, and then appear as <placeholders>."""
    if action == "activate_sku":
        sku_id = values.get("vtex_sku_id") or "<vtex_sku_id>"
        return WriteRequest(
            "PUT",
            SKU_RECORD_PATH.format(sku_id=sku_id),
            None,
            f"the full SKU record as read by GET {SKU_RECORD_PATH.format(sku_id=sku_id)}, "
            "sent back with IsActive: true",
        )
    product_id = values.get("product_id") or "<product_id>"
    trade_policy_id = values.get("trade_policy_id") or "<trade_policy_id>"
    return WriteRequest(
        "POST",
        PRODUCT_POLICY_PATH.format(product_id=product_id, trade_policy_id=trade_policy_id),
        None,
        f"link product {product_id} to trade policy {trade_policy_id} (no body)",
    )


def plan_activate_sku(client: VtexClient, sku_id: str) -> FixPlan:
    record = client.get_sku_record(sku_id)
    if record is None:
        raise LookupError(f"SKU {sku_id} is not in the catalog: there is nothing to activate")
    if record.get("IsActive") is True:
        return FixPlan(None, f"SKU {sku_id} is already active")
    from assistant.vtex import SKU_RECORD_REQUIRED

    missing = [name for name in SKU_RECORD_REQUIRED if name not in record]
    if missing:
        # Sent back without them, VTEX would clear those fields: never send a partial body.
        raise ValueError(
            f"the SKU record VTEX returned lacks {', '.join(missing)}; sending it back would "
            "clear them, so activate the SKU in the Admin instead"
        )
    updated = {**record, "IsActive": True}

    def send() -> None:
        client.update_sku(sku_id, updated)

    return FixPlan(
        WriteRequest(
            "PUT",
            SKU_RECORD_PATH.format(sku_id=sku_id),
            updated,
            f"IsActive: false -> true; the other {len(record) - 1} fields are sent back as read",
        ),
        f"SKU {sku_id} is inactive",
        send,
    )


def plan_link_trade_policy(client: VtexClient, product_id: str, trade_policy_id: str) -> FixPlan:
    # The trade policy is read first: a failed read stops the write (the error propagates).
    policy = client.get_trade_policy(trade_policy_id)
    if policy is None:
        raise ValueError(f"trade policy {trade_policy_id} does not exist: nothing to link to")
    if policy.ProductClusterId is not None:
        # Its products come from a collection: a link does not put the product in it.
        raise ValueError(
            f"trade policy {trade_policy_id} takes its products from collection "
            f"{policy.ProductClusterId}: add the product to that collection in the Admin; a "
            "trade-policy link would not"
        )
    linked = {row.StoreId for row in client.get_product_sales_policies(product_id)}
    if not linked:
        # No trade policy ticked means every trade policy (Associate a SKU to a trade policy):
        # a link would narrow the product to Amazon's and take it off every other store.
        raise ValueError(
            f"product {product_id} has no trade policy ticked, so it is already in every trade "
            f"policy, {trade_policy_id} included; linking one would take it off all the others. "
            "If the catalog does not show it in the trade policy, save the product again so it "
            "is reindexed"
        )
    if trade_policy_id in linked:
        return FixPlan(
            None, f"product {product_id} is already linked to trade policy {trade_policy_id}"
        )

    def send() -> None:
        client.link_product_to_trade_policy(product_id, trade_policy_id)

    return FixPlan(
        WriteRequest(
            "POST",
            PRODUCT_POLICY_PATH.format(product_id=product_id, trade_policy_id=trade_policy_id),
            None,
            f"link product {product_id} to trade policy {trade_policy_id} (no body)",
        ),
        f"product {product_id} is linked to trade policies {sorted(linked) or 'none'}",
        send,
    )
