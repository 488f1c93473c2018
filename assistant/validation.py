"""pydantic's validation errors as the messages a user reads: the one formatter.

Every file or input validated by a pydantic model (order contexts, backlog rows, ruleset and
playbook files, sessions, plans, VTEX answers) reports its errors through here, so the same
mistake reads the same everywhere: where it is (`rules.r1.all[0]`, `items[2].quantity`) and
what is wrong ("is required", "must be a list (got a str)").

A validator that finds something the types cannot say raises `problem(...)` (one message) or
`problems(...)` (several, each at its own place below the field); their text is shown as is.
pydantic is imported only for those two: reading an error needs nothing from it.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from assistant.errors import Problem
from assistant.safetext import printable

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError
    from pydantic_core import PydanticCustomError

# The error type of our own validators' messages, shown as written.
OURS = "assistant"
# pydantic's type errors, shown with what was given instead.
_TYPE_ERRORS = frozenset(
    {"int_type", "string_type", "list_type", "model_type", "dict_type", "bool_type"}
)


def problem(message: str) -> PydanticCustomError:
    """One problem, raised by a validator at the place it validates."""
    from pydantic_core import PydanticCustomError

    # The text goes in as context: a message with {braces} in it is not a template.
    return PydanticCustomError(OURS, "{problem}", {"problem": message})


def problems(found: Iterable[tuple[tuple[int | str, ...], str]], value: Any) -> ValidationError:
    """Several problems below the value a validator checks, each at its own location."""
    from pydantic import ValidationError
    from pydantic_core import InitErrorDetails

    details = [InitErrorDetails(type=problem(text), loc=loc, input=value) for loc, text in found]
    return ValidationError.from_exception_data("assistant", details)


def field_path(loc: Sequence[int | str]) -> str:
    """`items[2].quantity` from pydantic's ("items", 2, "quantity")."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def key_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """The location below `prefix` (`steps[2]` + ("on_fail",) = `steps[2].on_fail`)."""
    path = field_path(loc)
    if not prefix or not path:
        return prefix or path
    return prefix + (path if path.startswith("[") else f".{path}")


def describe(error: Mapping[str, Any], model: type[BaseModel] | None = None) -> str:
    """One error's message. `model` (the model validated) names the keys an unknown key's
    mapping takes."""
    kind = error["type"]
    value = error.get("input")
    if kind == OURS:
        return str(error["ctx"]["problem"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        expected = _keys_at(model, tuple(error["loc"])[:-1])
        return (
            f"unknown key (expected one of: {', '.join(expected)})" if expected else "unknown key"
        )
    if kind == "invalid_key":
        return "keys must be strings"
    if kind in {"tuple_type", "list_type"}:
        return f"must be a list (got {describe_value(value)})"
    if kind in {"dict_type", "model_type"}:
        return f"must be a mapping (got {describe_value(value)})"
    if kind == "string_type" and isinstance(value, bool):
        return (
            f"input should be a valid string (got {describe_value(value)}); "
            "quote yes/no/on/off/true/false in YAML"
        )
    if kind == "string_type" and is_number(value):
        return f'must be a string; quote it ("{_number(value)}")'
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    if kind in _TYPE_ERRORS:
        return f"{message} (got {describe_value(value)})"
    return message


def file_problems(
    path: str, exc: ValidationError, model: type[BaseModel] | None = None, prefix: str = ""
) -> list[Problem]:
    """Every error of a declarative file, each with the file and its key."""
    found = []
    for error in exc.errors(include_url=False):
        loc = [str(part) if error["type"] == "invalid_key" else part for part in error["loc"]]
        if loc[-1:] == ["[key]"]:
            loc = loc[:-1]  # a mapping's key that fails: the entry is the place
        found.append(Problem(path, key_path(loc, prefix), describe(error, model)))
    return found


def first_problem(exc: ValidationError, whole: str = "(document)") -> tuple[str, str]:
    """The place and message of the first error, for an input reported one error at a time;
    `whole` names the place when it is the document itself."""
    error = exc.errors(include_url=False)[0]
    return field_path(error["loc"]) or whole, describe(error)


def _keys_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model found at `loc` takes (by their YAML names), or none if unknown."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
    fields = getattr(annotation, "model_fields", None)
    if not isinstance(fields, Mapping):
        return []
    return sorted(
        (info.alias or name)
        for name, info in fields.items()
        if not info.exclude and name != "source"
    )


def _step(annotation: Any, part: int | str) -> Any:
    """The type found one step down: a model's field, a sequence's item, a mapping's value."""
    annotation = _unwrap(annotation)
    fields = getattr(annotation, "model_fields", None)
    if isinstance(fields, Mapping):
        by_name = {(info.alias or name): info for name, info in fields.items()}
        info = by_name.get(str(part))
        return info.annotation if info is not None else None
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in {tuple, list} and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _unwrap(annotation: Any) -> Any:
    """`X` from `X | None` and from `Annotated[X, ...]`."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        models = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(models) == 1:
            return _unwrap(models[0])
    return annotation


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: int | float) -> str:
    # YAML reads `0x` + thousands of digits as one int; str() of it raises past 4,300 digits.
    try:
        text = str(value)
    except ValueError:
        return "a very large number"
    return text if len(text) <= 40 else text[:40] + "..."


def describe_value(value: Any) -> str:
    """What was given, short and printable, for "(got ...)"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{printable(value, 40)}'"
    if is_number(value):
        return _number(value)
    return f"a {type(value).__name__}"
