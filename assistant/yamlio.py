"""Reading YAML and JSON documents safely, with errors that name the file and the line.

Order contexts come from operators' files and pipes: anchors and aliases are refused outright
(an alias bomb is refused before anything is expanded), sizes are capped before parsing, and
JSON duplicates or NaN are refused rather than silently resolved.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import yaml

# PyYAML is imported where a YAML text is parsed: a JSON order and the shipped rulesets (read
# from their snapshot, assistant/snapshot.py) never need it, and it costs start-up ~13 ms.

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
# Python's parsers give up on deep nesting with a RecursionError; no order, answer or recording
# nests more than a few levels.
NESTED_TOO_DEEPLY = "nested too deeply (lists or objects inside each other hundreds of levels deep)"


class DocumentError(Exception):
    """A document that cannot be read or parsed; the message is ready for the user."""


@functools.cache
def _no_alias_loader() -> type[yaml.SafeLoader]:
    import yaml

    class _NoAliasSafeLoader(yaml.SafeLoader):
        """SafeLoader that refuses anchors/aliases and duplicate keys: order contexts never need
        them, and refusing them at compose time means a billion-laughs file is never expanded."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.MarkedYAMLError(
                    None, None, "YAML aliases are not allowed here", event.start_mark
                )
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if getattr(event, "anchor", None):
                raise yaml.MarkedYAMLError(
                    None, None, "YAML anchors are not allowed here", event.start_mark
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable key: let the base class report it
                    break
                if duplicate:
                    raise yaml.MarkedYAMLError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _NoAliasSafeLoader


def read_capped(stream: BinaryIO, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise DocumentError(f"larger than {limit // (1024 * 1024)} MB; refusing to read it")
    return data


def read_file_capped(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    try:
        if path.is_dir():
            raise DocumentError("is a directory, not a file")
        with path.open("rb") as stream:
            return read_capped(stream, limit)
    except FileNotFoundError:
        raise DocumentError("no such file") from None
    except PermissionError:
        raise DocumentError("permission denied") from None
    except OSError as exc:
        raise DocumentError(f"cannot be read ({exc.strerror or exc})") from None


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"is not UTF-8 text (byte {exc.start})") from None


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_json(text: str) -> Any:
    try:
        # NaN and Infinity are parsed (as floats) on purpose: no field takes a float, so strict
        # validation refuses them and names the field, which a parse error could not.
        return json.loads(text, object_pairs_hook=_unique_object)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise DocumentError(f"invalid JSON: {NESTED_TOO_DEEPLY}") from None
    except ValueError as exc:
        raise DocumentError(f"invalid JSON: {exc}") from None


def parse_yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_no_alias_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "malformed"
        raise DocumentError(f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise DocumentError(f"invalid YAML: {NESTED_TOO_DEEPLY}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise DocumentError(
            f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else 'malformed'}"
        ) from None


def parse_document(text: str, hint: str) -> Any:
    """Parse by file extension; for stdin and other names, JSON when it looks like JSON, and
    YAML when it looked like JSON but is a YAML flow mapping (`{order_id: a, ...}`)."""
    suffix = Path(hint).suffix.lower()
    if suffix == ".json":
        return parse_json(text)
    if suffix in {".yaml", ".yml"} or not text.lstrip().startswith(("{", "[")):
        return parse_yaml(text)
    try:
        return parse_json(text)
    except DocumentError as json_error:
        try:
            return parse_yaml(text)
        except DocumentError:
            raise json_error from None


def load_declarative(path: Path, *, shipped: bool, sections: str) -> dict[Any, Any]:
    """A ruleset or playbook file as its mapping; an empty file or another kind of document
    is a DocumentError saying what it must hold (`sections`)."""
    document = load_ruleset_yaml(path, shipped=shipped)
    if document is None:
        raise DocumentError("is empty")
    if not isinstance(document, dict):
        raise DocumentError(f"must be a mapping with {sections}")
    return document


def load_ruleset_yaml(path: Path, *, shipped: bool, snapshot: bool = True) -> Any:
    """A ruleset file. The shipped ones take the fast C loader (start-up time); a user's
    folder gets the same alias-refusing loader as order files, so an alias bomb in it is
    refused instead of expanded. Raises DocumentError with the line."""
    text = decode(read_file_capped(path))
    if not shipped:
        return parse_yaml(text)
    if snapshot:
        from assistant.snapshot import parsed

        document = parsed(path, text)
        if document is not None:
            return document
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise DocumentError(f"invalid YAML{where}: {problem}") from None
