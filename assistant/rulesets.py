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


def rulebook_from_document(document: Mapping[str, Any], folder: Path) -> RuleBook:
    """The inverse of rulebook_document, each source a file in `folder`."""

    def located(entry: Mapping[str, Any]) -> dict[str, Any]:
        return {**entry, "source": str(folder / entry["source"])}

    errors = {}
    for entry in document["errors"]:
        spec = located(entry)
        for key in ("pattern_texts", "params", "checks", "next_steps"):
            spec[key] = tuple(spec[key])
        spec["named_causes"] = tuple(tuple(names) for names in spec["named_causes"])
        errors[spec["code"]] = ErrorSpec(**spec)
    return RuleBook(
        errors=errors,
        findings={f["code"]: FindingSpec(**located(f)) for f in document["findings"]},
        checks={c["name"]: CheckSpec(**located(c)) for c in document["checks"]},
        rules={r["name"]: RuleSpec(**located(r)) for r in document["rules"]},
        sources=tuple(str(folder / name) for name in document["sources"]),
    )
