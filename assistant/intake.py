"""Order contexts from a JSON/YAML file, stdin (`-`) or command-line flags.

Every failure becomes an InputError naming the source and the field: one line, exit code 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from pydantic import ValidationError

from assistant.errors import InputError
from assistant.models import ITEM_FIELDS, ORDER_CONTEXT_FIELDS, OrderContext
from assistant.safetext import printable
from assistant.validation import describe, describe_value, field_path
from assistant.yamlio import DocumentError, decode, parse_document, read_capped, read_file_capped

STDIN_NAME = "<stdin>"
FLAGS_NAME = "command line"
_SKU_FLAG = re.compile(r"^(?P<sku>.*):(?P<quantity>[^:]*)$")


class FlagValues(NamedTuple):
    """Order-context fields given as flags; they override the same fields of a file."""

    message: str | None = None
    skus: Sequence[str] = ()
    order_id: str | None = None
    postal_code: str | None = None
    sales_channel: str | None = None
    affiliate_id: str | None = None
    country: str | None = None

    def given(self) -> bool:
        return any(self)  # a field given (an empty --sku list is not)

    def as_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.message is not None:
            fields["error_message"] = self.message
        if self.skus:
            fields["items"] = [parse_sku_flag(value) for value in self.skus]
        for name in ("order_id", "postal_code", "sales_channel", "affiliate_id", "country"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields


class Intake(NamedTuple):
    context: OrderContext
    source: str
    warnings: list[str]


def parse_sku_flag(value: str) -> dict[str, Any]:
    """`--sku ID` or `--sku ID:QTY`; the quantity is the part after the last colon."""
    match = _SKU_FLAG.match(value)
    if not match:
        return {"sku_id": value}
    if not match.group("sku"):
        raise InputError(
            FLAGS_NAME,
            f"'{printable(value)}' has no SKU id before the colon (use ID or ID:QTY)",
            field="--sku",
        )
    quantity_text = match.group("quantity")
    if not re.fullmatch(r"[0-9]+", quantity_text):
        raise InputError(
            FLAGS_NAME,
            f"quantity '{printable(quantity_text)}' in '{printable(value)}' "
            "is not a whole number (use ID or ID:QTY)",
            field="--sku",
        )
    if len(quantity_text) > 7:  # int() of thousands of digits is slow, then refused anyway
        raise InputError(
            FLAGS_NAME, f"quantity in '{printable(value)}' is more than 1000000", field="--sku"
        )
    return {"sku_id": match.group("sku"), "quantity": int(quantity_text)}


def read_document(source: str, stdin: BinaryIO | None) -> Any:
    try:
        if source == "-":
            if stdin is None:
                raise DocumentError("no standard input")
            return parse_document(decode(read_capped(stdin)), STDIN_NAME)
        if not source:
            raise DocumentError("no file name given")
        path = Path(source)
        return parse_document(decode(read_file_capped(path)), source)
    except DocumentError as exc:
        raise InputError(STDIN_NAME if source == "-" else source, str(exc)) from None


def load_context(source: str | None, flags: FlagValues, stdin: BinaryIO | None = None) -> Intake:
    name = FLAGS_NAME if source is None else (STDIN_NAME if source == "-" else source)
    data: dict[str, Any] = {}
    if source is not None:
        document = read_document(source, stdin)
        if not isinstance(document, Mapping):
            raise InputError(
                name,
                "must be one object (a mapping) with order_id and error_message, "
                f"not {_kind(document)}",
            )
        data = dict(document)
    overrides = flags.as_fields()
    data.update(overrides)
    warnings = _unknown_field_warnings(name, data)
    try:
        context = OrderContext.model_validate(data)
    except ValidationError as exc:
        raise _input_error(name, exc, overrides) from None
    return Intake(context, name, warnings)


def _kind(value: Any) -> str:
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _unknown_field_warnings(name: str, data: Mapping[Any, Any]) -> list[str]:
    warnings = [
        f"{name}: unknown field '{printable(str(key))}' ignored"
        for key in data
        if key not in ORDER_CONTEXT_FIELDS
    ]
    items = data.get("items")
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                warnings += [
                    f"{name}: unknown field items[{index}].{printable(str(key))} ignored"
                    for key in item
                    if key not in ITEM_FIELDS
                ]
    return warnings


_FLAG_FOR_FIELD = {
    "error_message": "--message",
    "order_id": "--order-id",
    "postal_code": "--postal-code",
    "sales_channel": "--sales-channel",
    "affiliate_id": "--affiliate-id",
    "country": "--country",
    "items": "--sku",
}


def _input_error(name: str, exc: ValidationError, overrides: Mapping[str, Any]) -> InputError:
    error = exc.errors(include_url=False)[0]
    location = field_path(error["loc"])
    top = str(error["loc"][0]) if error["loc"] else ""
    source = FLAGS_NAME if top in overrides else name
    if top in overrides and top in _FLAG_FOR_FIELD:
        location = f"{_FLAG_FOR_FIELD[top]} ({location})"
    return InputError(source, validation_problem(error), field=location)


def validation_problem(error: Mapping[str, Any]) -> str:
    """validation.describe, naming the flag that gives a missing field and the form a country
    code takes."""
    kind = error["type"]
    if kind == "missing":
        field_name = str(error["loc"][-1]) if error["loc"] else "field"
        flag = _FLAG_FOR_FIELD.get(field_name)
        return "is required" + (f" (or pass {flag})" if flag else "")
    if kind == "string_pattern_mismatch" and error["loc"][-1:] == ("country",):
        value = describe_value(error.get("input"))
        return f"must be an ISO 3166-1 alpha-3 code such as BRA (got {value})"
    return describe(error)
