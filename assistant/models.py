"""Pydantic models at the edges: the order context we read and the diagnosis we print.

The diagnosis models are the JSON contract of `--json` (schema_version 1): other tools parse it,
so field names and types here change only with the schema version.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

SCHEMA_VERSION: Literal[1] = 1

MAX_ID_LENGTH = 128
MAX_MESSAGE_LENGTH = 4000
MAX_ITEMS = 1000

# Characters that would reach a terminal or a report as something other than text: C0/C1
# controls (ANSI escapes start with ESC), format characters (bidi overrides, zero-width joiners),
# surrogates, and the Unicode line/paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_MESSAGE_WHITESPACE = {"\t", "\n", "\r"}


def _first_refused_char(value: str, allowed: set[str]) -> str | None:
    if value.isprintable():
        # Fast path (C): a printable string holds none of the refused categories.
        return None
    for char in value:
        if char not in allowed and unicodedata.category(char) in _REFUSED_CATEGORIES:
            return char
    return None


def _clean_identifier(value: str) -> str:
    bad = _first_refused_char(value, set())
    if bad is not None:
        raise ValueError(f"contains the control character U+{ord(bad):04X}")
    if not value.strip():
        raise ValueError("is blank")
    return value.strip()


def _clean_message(value: str) -> str:
    bad = _first_refused_char(value, _MESSAGE_WHITESPACE)
    if bad is not None:
        raise ValueError(f"contains the control character U+{ord(bad):04X}")
    if not value.strip():
        raise ValueError("is blank")
    return value


def _integer_id_as_text(value: Any) -> Any:
    # Trade policy ids are integers in some VTEX APIs and strings in others; accept both here
    # (but not booleans, which Python counts as integers).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Identifier = Annotated[
    str, StringConstraints(max_length=MAX_ID_LENGTH), AfterValidator(_clean_identifier)
]
ErrorText = Annotated[
    str, StringConstraints(max_length=MAX_MESSAGE_LENGTH), AfterValidator(_clean_message)
]


def canonical_trade_policy_id(value: str) -> str:
    """Trade policy ids are integers: "03" is trade policy 3, and the docks, the affiliate and
    the catalog write it "3". Compared as text, "03" would match nothing and confirm a cause."""
    digits = value.strip()
    if digits.isascii() and digits.isdigit():
        return str(int(digits))
    return value


TradePolicyId = Annotated[
    Identifier,
    BeforeValidator(_integer_id_as_text),
    AfterValidator(canonical_trade_policy_id),
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class _Input(BaseModel):
    # strict: JSON `true` is not a quantity and a number is not an order id.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Item(_Input):
    sku_id: Identifier
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    seller_sku: Identifier | None = None


class OrderContext(_Input):
    order_id: Identifier
    error_message: ErrorText
    items: Annotated[list[Item], Field(max_length=MAX_ITEMS)] = Field(default_factory=list)
    sales_channel: TradePolicyId | None = None
    affiliate_id: Identifier | None = None
    postal_code: Identifier | None = None
    country: CountryCode | None = None
    seller_id: Identifier | None = None

    @property
    def is_fba(self) -> bool:
        """FBA Classic orders end in `_FBA`, FBA Onsite ones in `FBAOS` (Amazon FBA articles)."""
        return self.order_id.upper().endswith(("_FBA", "FBAOS"))


ORDER_CONTEXT_FIELDS = frozenset(OrderContext.model_fields)
ITEM_FIELDS = frozenset(Item.model_fields)


# ---- output: the --json contract -------------------------------------------------------------

Status = Literal["confirmed", "suspected", "reported"]
Owner = Literal["store", "amazon", "vtex_support"]
Outcome = Literal["pass", "fail", "error", "skipped"]
Mode = Literal["online", "offline"]


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorInfo(_Output):
    code: str
    title: str
    message: str
    params: dict[str, str] = Field(default_factory=dict)


class Finding(_Output):
    code: str
    title: str
    sku_id: str | None = None
    status: Status
    owner: Owner
    playbook: str
    rule: str
    evidence: list[str] = Field(default_factory=list)


class Check(_Output):
    name: str
    sku_id: str | None = None
    outcome: Outcome
    detail: str


class AdminLink(_Output):
    """Where in the VTEX Admin to look, and the help article about it."""

    path: str
    help: str | None = None


class Diagnosis(_Output):
    schema_version: Literal[1] = SCHEMA_VERSION
    order_id: str
    mode: Mode
    error: ErrorInfo
    findings: list[Finding]
    checks: list[Check]
    next_steps: list[str]
    # For the renderers, not the contract: left out of every JSON dump (schema_version 1 is
    # fixed), so a diagnosis read back from JSON has them empty. The error's summary and the
    # Admin paths of the error and its findings, each once, from the rulebook the diagnosis
    # was made with: a renderer needs no rulebook.
    summary: str | None = Field(default=None, exclude=True)
    admin_links: list[AdminLink] = Field(default_factory=list, exclude=True)

    @property
    def recognised(self) -> bool:
        return self.error.code != "unrecognized"


Verdict = Literal["clean", "action_needed", "undecided"]


class VerifyReport(Diagnosis):
    """`verify --json`: the diagnosis plus whether anything on the store side blocks the order
    (for "dry-run before contacting Amazon": `store_side_clean` true means the store is clear)."""

    # Built when `verify` first makes one: every other command imports this module for the
    # models above, and building this one's validator costs their start-up about 1 ms.
    model_config = ConfigDict(defer_build=True)

    verdict: Verdict
    store_side_clean: bool | None
    reason: str
