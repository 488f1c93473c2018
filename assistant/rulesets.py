"""The rulebook: what the declarative rulesets (`rulesets/*.yaml` and a user's `--rules-dir`) say,
in the form the classifier, the engine and the renderers use.

A ruleset file holds any of four sections:

    findings:   finding code -> title, owner, playbook, admin_path, help
    checks:     check name -> title, scope (sku | order)
    error:      one error code: title, message patterns (Python `re`), params, checks, next steps
    rules:      rule name -> our metadata (finding, status, evidence) beside durable_rules'
                own keys (all/any/pri/...), which are handed to the engine unchanged

Files are validated as they are read by assistant.ruleset_schema (pydantic models, durable_rules'
grammar, names resolved across files), and every problem is reported with its file and key.
The shipped rulesets alone are also validated ahead of time: `builtin_rulebook.json` holds the
rulebook they make, keyed by the digests of their texts and of the validating code
(assistant.snapshot), so a one-order run neither imports nor runs the validation (about 20 ms of
start-up). A user's folder, an edited shipped file or validator, and `rules validate` are
validated as they are read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from assistant import snapshot
from assistant.resources import builtin_dir

UNRECOGNIZED = "unrecognized"
OWNERS = ("store", "amazon", "vtex_support")
STATUSES = ("confirmed", "suspected", "reported")
SCOPES = ("sku", "order")
# The alias whose matched fact makes a finding per SKU.
ITEM_ALIAS = "item"

# The rulebook's records are NamedTuples, not frozen dataclasses: as immutable, and they cost
# nothing to define, where each frozen dataclass compiles six generated methods at import
# (about 0.5 ms each, on every start-up).


class FindingSpec(NamedTuple):
    code: str
    title: str
    owner: str
    playbook: str
    source: str
    admin_path: str | None = None
    help: str | None = None


class CheckSpec(NamedTuple):
    name: str
    title: str
    scope: str
    source: str


class ErrorSpec(NamedTuple):
    code: str
    title: str
    # The message patterns as written; compiled (case-insensitive) when first matched against.
    pattern_texts: tuple[str, ...]
    params: tuple[str, ...]
    checks: tuple[str, ...]
    next_steps: tuple[str, ...]
    source: str
    help: str | None = None
    admin_path: str | None = None
    summary: str | None = None
    # Per pattern (same order): the finding codes a wording names, to list first among the
    # candidates. Naming a cause never confirms it: only the checks do.
    named_causes: tuple[tuple[str, ...], ...] = ()

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_compiled(text) for text in self.pattern_texts)


class RuleSpec(NamedTuple):
    name: str
    finding: str
    status: str
    evidence: str
    pri: int
    condition: Mapping[str, Any]  # durable_rules keys only, ready for the engine
    per_item: bool
    source: str


class RuleBook(NamedTuple):
    errors: Mapping[str, ErrorSpec]
    findings: Mapping[str, FindingSpec]
    checks: Mapping[str, CheckSpec]
    rules: Mapping[str, RuleSpec]
    sources: tuple[str, ...] = ()

    def rules_for(self, error_code: str) -> list[RuleSpec]:
        """Rules whose order pattern names this error code (for `rules show`)."""
        return [r for r in self.rules.values() if _mentions_error(r.condition, error_code)]


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """Message patterns are compiled when first matched against (a message usually matches
    before the last error's patterns are reached), once per process."""
    return re.compile(pattern, re.IGNORECASE)


def _mentions_error(node: Any, code: str) -> bool:
    if isinstance(node, Mapping):
        if node.get("error_code") == code:  # also inside {$eq: {error_code: ...}}
            return True
        return any(_mentions_error(v, code) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_error(v, code) for v in node)
    return False


# ---- loading -------------------------------------------------------------------------------


def load_rulebook(extra_dirs: Sequence[Path] = (), *, use_snapshot: bool = True) -> RuleBook:
    """The built-in rulesets plus a user's folders; raises RulesetError listing every problem.
    `use_snapshot=False` validates the shipped files even when their snapshot is current."""
    shipped = builtin_dir("rulesets")
    folders = [shipped]
    seen = {shipped.resolve()}
    for directory in extra_dirs:
        if directory.resolve() not in seen:  # the same folder twice is one folder
            seen.add(directory.resolve())
            folders.append(directory)
    if use_snapshot and folders == [shipped]:
        document = snapshot.validated_rulebook(shipped)
        if document is not None:
            try:
                return rulebook_from_document(document, shipped)
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # a snapshot of another shape: validate the files instead
    from assistant.ruleset_schema import validate_rulesets

    return validate_rulesets(folders)


def rulebook_document(rulebook: RuleBook) -> dict[str, Any]:
    """The rulebook as JSON-ready data, its sources named by file name (the snapshot's form:
    every source is a shipped file, wherever the package is installed)."""
    return {
        "errors": [
            {
                "code": e.code,
                "title": e.title,
                "pattern_texts": list(e.pattern_texts),
                "params": list(e.params),
                "checks": list(e.checks),
                "next_steps": list(e.next_steps),
                "source": Path(e.source).name,
                "help": e.help,
                "admin_path": e.admin_path,
                "summary": e.summary,
                "named_causes": [list(names) for names in e.named_causes],
            }
            for e in rulebook.errors.values()
        ],
        "findings": [
            {**f._asdict(), "source": Path(f.source).name} for f in rulebook.findings.values()
        ],
        "checks": [
            {**c._asdict(), "source": Path(c.source).name} for c in rulebook.checks.values()
        ],
        "rules": [{**r._asdict(), "source": Path(r.source).name} for r in rulebook.rules.values()],
        "sources": [Path(source).name for source in rulebook.sources],
    }


def rulebook_from_document(document: Any, folder: Path) -> RuleBook:
    """The inverse of rulebook_document, each source a file in `folder`. Raises ValueError for
    a document that validation could not have produced (a damaged or hand-edited snapshot):
    every field of every record present and of its type, and the names it refers to defined."""
    if not isinstance(document, dict) or set(document) != set(_SECTIONS) | {"sources"}:
        raise ValueError("not a rulebook document")
    # Each record's first field is its name (code or name), the key of its section.
    records = {
        section: {
            record[0]: record
            for record in (_record(kind, e, folder) for e in _list(document[section]))
        }
        for section, kind in _SECTIONS.items()
    }
    if any(len(records[section]) != len(document[section]) for section in _SECTIONS):
        raise ValueError("a name defined twice")
    sources = _list(document["sources"])
    if not all(isinstance(name, str) and _plain_name(name) for name in sources):
        raise ValueError("a source that is not a file name")
    rulebook = RuleBook(
        errors=records["errors"],
        findings=records["findings"],
        checks=records["checks"],
        rules=records["rules"],
        sources=tuple(str(folder / name) for name in sources),
    )
    _check_references(rulebook)
    return rulebook


_SECTIONS: Mapping[str, type[Any]] = {
    "errors": ErrorSpec,
    "findings": FindingSpec,
    "checks": CheckSpec,
    "rules": RuleSpec,
}


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# What a record field holds in the snapshot's JSON, by the field's annotation, and the value the
# record takes (JSON has lists where the records have tuples).
_JSON_FIELDS: Mapping[str, tuple[Any, Any]] = {
    "str": (lambda v: isinstance(v, str), lambda v: v),
    "str | None": (lambda v: v is None or isinstance(v, str), lambda v: v),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), lambda v: v),
    "bool": (lambda v: isinstance(v, bool), lambda v: v),
    "Mapping[str, Any]": (lambda v: isinstance(v, dict), lambda v: v),
    "tuple[str, ...]": (_strings, tuple),
    "tuple[tuple[str, ...], ...]": (
        lambda v: isinstance(v, list) and all(_strings(item) for item in v),
        lambda v: tuple(tuple(item) for item in v),
    ),
}


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("a section that is not a list")
    return value


def _plain_name(name: str) -> bool:
    return bool(name) and Path(name).name == name


def _record(kind: type[Any], entry: Any, folder: Path) -> Any:
    """One record of `kind` from its JSON entry: the same fields, each of its annotated type."""
    if not isinstance(entry, dict) or set(entry) != set(kind._fields):
        raise ValueError(f"a {kind.__name__} with other fields")
    values = {}
    for name, annotation in kind.__annotations__.items():
        # NamedTuple keeps a postponed annotation as a ForwardRef: its text is the key.
        text = str(getattr(annotation, "__forward_arg__", annotation))
        accepts, converted = _JSON_FIELDS[text]
        if not accepts(entry[name]):
            raise ValueError(f"{kind.__name__}.{name} of another type")
        values[name] = converted(entry[name])
    if not _plain_name(values["source"]):
        raise ValueError("a source that is not a file name")
    values["source"] = str(folder / values["source"])
    return kind(**values)


def _check_references(rulebook: RuleBook) -> None:
    """What validation guarantees across records, so a snapshot cannot break a diagnosis."""
    if UNRECOGNIZED not in rulebook.errors:
        raise ValueError(f"no {UNRECOGNIZED!r} fallback")
    for error in rulebook.errors.values():
        if len(error.named_causes) != len(error.pattern_texts):
            raise ValueError(f"error {error.code}: one list of named causes per pattern")
        named = {code for names in error.named_causes for code in names}
        if not set(error.checks) <= set(rulebook.checks) or not named <= set(rulebook.findings):
            raise ValueError(f"error {error.code} names an undefined check or finding")
    if not {rule.finding for rule in rulebook.rules.values()} <= set(rulebook.findings):
        raise ValueError("a rule names an undefined finding")
