"""Load and validate the declarative rulesets (`rulesets/*.yaml` and a user's `--rules-dir`).

A ruleset file holds any of four sections:

    findings:   finding code -> title, owner, playbook, admin_path, help
    checks:     check name -> title, scope (sku | order)
    error:      one error code: title, message patterns (Python `re`), params, checks, next steps
    rules:      rule name -> our metadata (finding, status, evidence) beside durable_rules'
                own keys (all/any/pri/...), which are handed to the engine unchanged

Every problem is reported with its file and key; nothing here raises a bare exception.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import Problem, RulesetError

# The fact schema lives with the fact builder (assistant.facts); rules are validated against it
# here, and the names stay importable from this module.
from assistant.facts import FACT_ATTRIBUTES as FACT_ATTRIBUTES
from assistant.facts import FACT_KINDS as FACT_KINDS
from assistant.facts import ORDER_PASSED_PREFIX as ORDER_PASSED_PREFIX
from assistant.regexsafety import backtracking_problem
from assistant.resources import builtin_dir
from assistant.yamlio import DocumentError, load_ruleset_yaml

UNRECOGNIZED = "unrecognized"
OWNERS = ("store", "amazon", "vtex_support")
STATUSES = ("confirmed", "suspected", "reported")
SCOPES = ("sku", "order")
TOP_LEVEL_KEYS = ("findings", "checks", "error", "rules")

# durable_rules' rule-level keys (its C validator rejects anything else with error 105).
DURABLE_RULE_KEYS = frozenset({"all", "any", "pri", "count", "cap", "dist"})
OUR_RULE_KEYS = frozenset({"finding", "status", "evidence", "description"})
# The expression operators we accept. `$mt`/`$imt` are left out on purpose: they give silent
# false negatives with alternation; message matching is done in Python (`error.patterns`).
DURABLE_OPERATORS = frozenset(
    {
        "$and",
        "$or",
        "$eq",
        "$neq",
        "$lt",
        "$lte",
        "$gt",
        "$gte",
        "$ex",
        "$nex",
        "$iany",
        "$iall",
        "$add",
        "$sub",
        "$mul",
        "$div",
        "$l",
        "$r",
        "$m",
        "$i",
    }
)
# Aliases that collide with attributes of durable_rules' action context (`c.s` is the state).
RESERVED_ALIASES = frozenset(
    {
        "s",
        "m",
        "host",
        "post",
        "assert_fact",
        "retract_fact",
        "delete_state",
        "get_facts",
        "get_pending_events",
    }
)
MAX_DEPTH = 16
# The alias whose matched fact makes a finding per SKU.
ITEM_ALIAS = "item"
EVIDENCE_FIELDS = frozenset({"sku", "sku_id", "quantity", "order_id", "error_code"})

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PLAYBOOK_ID = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class FindingSpec:
    code: str
    title: str
    owner: str
    playbook: str
    source: str
    admin_path: str | None = None
    help: str | None = None


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    scope: str
    source: str


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    title: str
    patterns: tuple[re.Pattern[str], ...]
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


@dataclass(frozen=True)
class RuleSpec:
    name: str
    finding: str
    status: str
    evidence: str
    pri: int
    condition: Mapping[str, Any]  # durable_rules keys only, ready for the engine
    per_item: bool
    source: str


@dataclass(frozen=True)
class RuleBook:
    errors: Mapping[str, ErrorSpec]
    findings: Mapping[str, FindingSpec]
    checks: Mapping[str, CheckSpec]
    rules: Mapping[str, RuleSpec]
    sources: tuple[str, ...] = field(default=())

    def rules_for(self, error_code: str) -> list[RuleSpec]:
        """Rules whose order pattern names this error code (for `rules show`)."""
        return [r for r in self.rules.values() if _mentions_error(r.condition, error_code)]


def _mentions_error(node: Any, code: str) -> bool:
    if isinstance(node, Mapping):
        if node.get("error_code") == code:  # also inside {$eq: {error_code: ...}}
            return True
        return any(_mentions_error(v, code) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_error(v, code) for v in node)
    return False


class _Collector:
    """Accumulates problems so a user sees all of them at once, each with file and key."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, key: str, message: str) -> None:
        self.problems.append(Problem(path, key, message))


def _text(
    report: _Collector, path: str, key: str, value: Any, *, required: bool = True
) -> str | None:
    if value is None:
        if required:
            report.add(path, key, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        report.add(path, key, "must be a non-empty string")
        return None
    return value


def _text_list(report: _Collector, path: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        report.add(path, key, "must be a list of strings")
        return ()
    out = []
    for index, entry in enumerate(value):
        text = _text(report, path, f"{key}[{index}]", entry)
        if text is not None:
            out.append(text)
    return tuple(out)


def _unknown_keys(
    report: _Collector, path: str, prefix: str, mapping: Mapping[str, Any], allowed: Iterable[str]
) -> None:
    allowed_set = set(allowed)
    for key in mapping:
        if key not in allowed_set:
            report.add(
                path,
                f"{prefix}.{key}" if prefix else str(key),
                f"unknown key (expected one of: {', '.join(sorted(allowed_set))})",
            )


class _Builder:
    def __init__(self) -> None:
        self.report = _Collector()
        self.errors: dict[str, ErrorSpec] = {}
        self.findings: dict[str, FindingSpec] = {}
        self.checks: dict[str, CheckSpec] = {}
        self.rules: dict[str, RuleSpec] = {}
        self.sources: list[str] = []
        # Cross-references are resolved after every file is read: a user's rule may name a
        # finding defined in the built-in catalogue and vice versa.
        self._rule_findings: list[tuple[str, str, str]] = []
        self._error_checks: list[tuple[str, str, str]] = []
        self._named_causes: list[tuple[str, str, str]] = []  # (path, key, finding code)
        self._error_codes: list[tuple[str, str, Any]] = []

    # ---- files -----------------------------------------------------------------------------

    def add_dir(self, directory: Path, *, shipped: bool = False) -> None:
        if not directory.is_dir():
            self.report.add(str(directory), "", "is not a directory")
            return
        files = sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"})
        if not files:
            self.report.add(str(directory), "", "holds no *.yaml ruleset files")
        for path in files:
            self.add_file(path, shipped=shipped)

    def add_file(self, file: Path, *, shipped: bool = False) -> None:
        path = str(file)
        self.sources.append(path)
        try:
            document = load_ruleset_yaml(file, shipped=shipped)
        except DocumentError as exc:
            self.report.add(path, "", str(exc))
            return
        if document is None:
            self.report.add(path, "", "is empty")
            return
        if not isinstance(document, dict):
            self.report.add(path, "", "must be a mapping with findings/checks/error/rules")
            return
        _unknown_keys(self.report, path, "", document, TOP_LEVEL_KEYS)
        self._findings(path, document.get("findings"))
        self._checks(path, document.get("checks"))
        if "error" in document:
            self._error(path, document["error"])
        self._rules(path, document.get("rules"))

    # ---- sections ----------------------------------------------------------------------------

    def _section(self, path: str, name: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.report.add(path, name, "must be a mapping")
            return {}
        return value

    def _entries(
        self, path: str, section_name: str, section: Any, existing: Mapping[str, Any], label: str
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The well-formed entries of a section: a lower_snake_case name not seen before (in
        any file) and a mapping; every other entry is reported and skipped."""
        for name, spec in self._section(path, section_name, section).items():
            key = f"{section_name}.{name}"
            if not isinstance(name, str) or not _ID.match(name):
                self.report.add(path, key, f"{label} must be lower_snake_case")
            elif name in existing:
                self.report.add(path, key, f"duplicate {label} (also in {existing[name].source})")
            elif not isinstance(spec, dict):
                self.report.add(path, key, "must be a mapping")
            else:
                yield name, key, spec

    def _findings(self, path: str, section: Any) -> None:
        for code, key, spec in self._entries(
            path, "findings", section, self.findings, "finding code"
        ):
            _unknown_keys(
                self.report, path, key, spec, ("title", "owner", "playbook", "admin_path", "help")
            )
            title = _text(self.report, path, f"{key}.title", spec.get("title"))
            owner = spec.get("owner")
            if owner not in OWNERS:
                self.report.add(path, f"{key}.owner", f"must be one of {', '.join(OWNERS)}")
            playbook = _text(self.report, path, f"{key}.playbook", spec.get("playbook"))
            if playbook and not _PLAYBOOK_ID.match(playbook):
                self.report.add(path, f"{key}.playbook", "must be a lower-case-dashed playbook id")
            admin_path = _text(
                self.report, path, f"{key}.admin_path", spec.get("admin_path"), required=False
            )
            help_url = _text(self.report, path, f"{key}.help", spec.get("help"), required=False)
            if title and owner in OWNERS and playbook:
                self.findings[code] = FindingSpec(
                    code, title, str(owner), playbook, path, admin_path, help_url
                )

    def _checks(self, path: str, section: Any) -> None:
        for name, key, spec in self._entries(path, "checks", section, self.checks, "check name"):
            _unknown_keys(self.report, path, key, spec, ("title", "scope"))
            title = _text(self.report, path, f"{key}.title", spec.get("title"))
            scope = spec.get("scope")
            if scope not in SCOPES:
                self.report.add(path, f"{key}.scope", f"must be one of {', '.join(SCOPES)}")
            elif title:
                self.checks[name] = CheckSpec(name, title, scope, path)

    def _error(self, path: str, spec: Any) -> None:
        if not isinstance(spec, dict):
            self.report.add(path, "error", "must be a mapping")
            return
        _unknown_keys(
            self.report,
            path,
            "error",
            spec,
            (
                "code",
                "title",
                "summary",
                "patterns",
                "params",
                "checks",
                "next_steps",
                "help",
                "admin_path",
            ),
        )
        code = spec.get("code")
        if not isinstance(code, str) or not _ID.match(code):
            self.report.add(path, "error.code", "is required and must be lower_snake_case")
            return
        if code in self.errors:
            self.report.add(
                path,
                "error.code",
                f"duplicate error code {code!r} (also in {self.errors[code].source})",
            )
            return
        title = _text(self.report, path, "error.title", spec.get("title"))
        params = _text_list(self.report, path, "error.params", spec.get("params"))
        patterns, named_causes = self._patterns(path, spec.get("patterns"), code, set(params))
        names = _text_list(self.report, path, "error.checks", spec.get("checks"))
        for index, name in enumerate(names):
            if name in names[:index]:
                self.report.add(path, f"error.checks[{index}]", f"{name!r} is listed twice")
                continue
            self._error_checks.append((path, code, name))
        next_steps = _text_list(self.report, path, "error.next_steps", spec.get("next_steps"))
        if not next_steps:
            self.report.add(path, "error.next_steps", "needs at least one step")
        if title is None:
            return
        self.errors[code] = ErrorSpec(
            code=code,
            title=title,
            patterns=patterns,
            named_causes=named_causes,
            params=params,
            checks=tuple(name for p, c, name in self._error_checks if c == code),
            next_steps=next_steps,
            source=path,
            help=_text(self.report, path, "error.help", spec.get("help"), required=False),
            admin_path=_text(
                self.report, path, "error.admin_path", spec.get("admin_path"), required=False
            ),
            summary=_text(self.report, path, "error.summary", spec.get("summary"), required=False),
        )

    def _patterns(
        self, path: str, value: Any, code: str, params: set[str]
    ) -> tuple[tuple[re.Pattern[str], ...], tuple[tuple[str, ...], ...]]:
        """Each entry is a pattern, or `{pattern: ..., names: [finding codes]}` for a wording
        that names its cause (the SLA and out-of-stock articles' per-cause labels)."""
        if code == UNRECOGNIZED:
            if value:
                self.report.add(
                    path, "error.patterns", "the unrecognized fallback takes no patterns"
                )
            return (), ()
        if value is None or (isinstance(value, list) and not value):
            self.report.add(path, "error.patterns", "needs at least one pattern")
            return (), ()
        if not isinstance(value, list):
            self.report.add(path, "error.patterns", "must be a list of patterns")
            return (), ()
        compiled = []
        named: list[tuple[str, ...]] = []
        for index, entry in enumerate(value):
            key = f"error.patterns[{index}]"
            text, names = self._pattern_entry(path, key, entry)
            if text is None:
                continue
            try:
                pattern = re.compile(text, re.IGNORECASE)
            except re.error as exc:
                self.report.add(path, key, f"does not compile: {exc}")
                continue
            # Checked before any message meets it: `re` has no time limit to fall back on.
            runaway = backtracking_problem(text)
            if runaway is not None:
                self.report.add(path, key, runaway)
                continue
            groups = set(pattern.groupindex)
            if groups != params:
                self.report.add(
                    path,
                    key,
                    f"named groups {sorted(groups)} must equal error.params {sorted(params)}",
                )
                continue
            compiled.append(pattern)
            named.append(names)
        return tuple(compiled), tuple(named)

    def _pattern_entry(self, path: str, key: str, entry: Any) -> tuple[str | None, tuple[str, ...]]:
        if isinstance(entry, str) or not isinstance(entry, dict):
            return _text(self.report, path, key, entry), ()
        for unknown in sorted(set(entry) - {"pattern", "names"}, key=str):
            self.report.add(
                path, f"{key}.{unknown}", "unknown key (a pattern takes: pattern, names)"
            )
        text = _text(self.report, path, f"{key}.pattern", entry.get("pattern"))
        names = _text_list(self.report, path, f"{key}.names", entry.get("names"))
        for position, name in enumerate(names):
            self._named_causes.append((path, f"{key}.names[{position}]", name))
        return text, names

    def _rules(self, path: str, section: Any) -> None:
        for name, key, spec in self._entries(path, "rules", section, self.rules, "rule name"):
            self._rule(path, name, key, spec)

    def _rule(self, path: str, name: str, key: str, spec: dict[str, Any]) -> None:
        before = len(self.report.problems)
        for unknown in set(spec) - DURABLE_RULE_KEYS - OUR_RULE_KEYS:
            self.report.add(
                path,
                f"{key}.{unknown}",
                "unknown key: neither a durable_rules key (all, any, pri, count, cap, "
                "dist) nor ours (finding, status, evidence, description)",
            )
        finding = _text(self.report, path, f"{key}.finding", spec.get("finding"))
        status = spec.get("status")
        if status not in STATUSES:
            self.report.add(path, f"{key}.status", f"must be one of {', '.join(STATUSES)}")
        evidence = _text(self.report, path, f"{key}.evidence", spec.get("evidence"))
        if evidence:
            self._evidence_template(path, f"{key}.evidence", evidence)
        pri = spec.get("pri", 0)
        if not isinstance(pri, int) or isinstance(pri, bool):
            self.report.add(path, f"{key}.pri", "must be an integer")
        for unsupported in ("count", "cap"):
            if unsupported in spec:
                self.report.add(
                    path, f"{key}.{unsupported}", "is not supported: one finding per match"
                )
        patterns = self._condition(path, key, spec)
        if status == "confirmed" and "check" not in patterns.values():
            self.report.add(
                path,
                f"{key}.status",
                "only a check can confirm a cause: a confirmed rule needs a pattern of kind check",
            )
        if finding:
            self._rule_findings.append((path, name, finding))
        if len(self.report.problems) > before or not (finding and evidence):
            return
        condition = {k: v for k, v in spec.items() if k in DURABLE_RULE_KEYS}
        self.rules[name] = RuleSpec(
            name, finding, str(status), evidence, int(pri), condition, ITEM_ALIAS in patterns, path
        )

    def _evidence_template(self, path: str, key: str, template: str) -> None:
        try:
            fields = [
                (name, spec, conversion)
                for _, name, spec, conversion in string.Formatter().parse(template)
                if name is not None
            ]
        except ValueError as exc:
            self.report.add(path, key, f"bad template: {exc}")
            return
        for name, spec, conversion in fields:
            if spec or conversion or not _ID.match(name):
                # Format specs, conversions and attribute/index access would fail or reach
                # into Python objects at run time: only plain {name} fields are allowed.
                self.report.add(path, key, f"template field {{{name}}} must be a plain name")
            elif name not in EVIDENCE_FIELDS and not name.startswith(("param_", "check_")):
                self.report.add(
                    path,
                    key,
                    f"unknown template field {{{name}}}; use "
                    f"{', '.join(sorted(EVIDENCE_FIELDS))}, param_<name> or check_<name>",
                )

    def _condition(self, path: str, key: str, spec: dict[str, Any]) -> dict[str, str]:
        """Static checks of the durable grammar that the C engine would reject with a bare
        error code, accept and then loop on (a pattern without a positive discriminator can
        match the session state the engine re-asserts after every action: durable_rules
        issues #222 and #288), or accept and silently never (or always) fire.
        Returns alias -> fact kind."""
        groups = [k for k in ("all", "any") if k in spec]
        if len(groups) != 1:
            self.report.add(path, key, "needs exactly one of `all` or `any`")
            return {}
        group = groups[0]
        patterns = spec[group]
        if not isinstance(patterns, list) or not patterns:
            self.report.add(
                path, f"{key}.{group}", "must be a non-empty list of {alias: expression}"
            )
            return {}
        kinds: dict[str, str] = {}
        for index, pattern in enumerate(patterns):
            where = f"{key}.{group}[{index}]"
            if not isinstance(pattern, dict) or len(pattern) != 1:
                self.report.add(path, where, "must be a mapping with exactly one alias")
                continue
            ((alias, expression),) = pattern.items()
            if not isinstance(alias, str) or not _ID.match(alias):
                self.report.add(path, where, "alias must be a plain lower_snake_case name")
                continue
            where = f"{where}.{alias}"
            if alias in RESERVED_ALIASES:
                self.report.add(path, where, "alias collides with durable_rules' action context")
                continue
            if alias in kinds:
                self.report.add(path, where, "alias used twice in one rule")
                continue
            kind = _positive_kind(expression)
            if kind is None or kind not in FACT_KINDS:
                self.report.add(
                    path,
                    where,
                    "needs a positive `kind` discriminator ({kind: order|item|check}), "
                    "else the engine can match its own state and loop",
                )
                continue
            if (alias == ITEM_ALIAS) != (kind == "item"):
                self.report.add(
                    path,
                    where,
                    "a kind: item pattern must be aliased `item` "
                    "(one finding per SKU), and only it",
                )
                continue
            if alias == ITEM_ALIAS and group == "any":
                self.report.add(path, where, "per-SKU rules (alias `item`) need `all`, not `any`")
                continue
            self._expression(path, where, expression, kind, set(kinds), 0)
            kinds[alias] = kind
        return kinds

    def _expression(
        self, path: str, key: str, node: Any, kind: str, earlier: set[str], depth: int
    ) -> None:
        """One pattern's expression: operators we know, attributes the facts of `kind` have,
        scalar values (a join names an earlier alias), bounded depth."""
        if depth > MAX_DEPTH:
            self.report.add(path, key, f"nested more than {MAX_DEPTH} levels deep")
            return
        if not isinstance(node, dict) or not node:
            self.report.add(path, key, "must be a non-empty mapping")
            return
        for name, value in node.items():
            where = f"{key}.{name}"
            if not isinstance(name, str):
                self.report.add(path, where, "keys must be strings")
            elif name in {"$and", "$or"}:
                if not isinstance(value, list) or not value:
                    self.report.add(path, where, "must be a non-empty list of expressions")
                    continue
                for index, part in enumerate(value):
                    self._expression(path, f"{where}[{index}]", part, kind, earlier, depth + 1)
            elif name in {"$eq", "$neq", "$lt", "$lte", "$gt", "$gte", "$ex", "$nex"}:
                self._expression(path, where, value, kind, earlier, depth + 1)
            elif name in {"$iany", "$iall"}:
                if not isinstance(value, dict) or len(value) != 1:
                    self.report.add(path, where, "must map one array attribute to an expression")
                    continue
                (attribute,) = value
                self._attribute(path, where, attribute, kind)
            elif name.startswith("$"):
                hint = " (match messages with error.patterns)" if name in {"$mt", "$imt"} else ""
                self.report.add(path, where, f"unknown durable key{hint}")
            else:
                self._attribute(path, where, name, kind)
                self._value(path, where, name, value, earlier)

    def _attribute(self, path: str, key: str, attribute: str, kind: str) -> None:
        if kind == "order" and attribute.startswith(ORDER_PASSED_PREFIX):
            return
        if attribute not in FACT_ATTRIBUTES[kind]:
            self.report.add(
                path,
                key,
                f"a {kind} fact has no attribute {attribute!r} "
                f"(it has: {', '.join(sorted(FACT_ATTRIBUTES[kind]))})",
            )

    def _value(self, path: str, key: str, attribute: str, value: Any, earlier: set[str]) -> None:
        if isinstance(value, dict):
            # A join: {attribute: {earlier_alias: its_attribute}}.
            if len(value) == 1 and next(iter(value)) in earlier:
                return
            self.report.add(
                path,
                key,
                "a value must be a scalar, or {alias: attribute} naming an earlier pattern's alias",
            )
        elif value is None or isinstance(value, list):
            self.report.add(path, key, "a value must be a string, number or boolean")
        elif attribute == "error_code":
            self._error_codes.append((path, key, value))

    # ---- cross references ---------------------------------------------------------------------

    def finish(self) -> RuleBook:
        for path, rule, finding in self._rule_findings:
            if finding not in self.findings:
                self.report.add(path, f"rules.{rule}.finding", f"unknown finding code {finding!r}")
        for path, key, code in self._error_codes:
            if code not in self.errors:
                self.report.add(path, key, f"unknown error code {code!r}")
        for path, key, finding in self._named_causes:
            if finding not in self.findings:
                self.report.add(path, key, f"unknown finding code {finding!r}")
        for path, code, check in self._error_checks:
            if check not in self.checks:
                self.report.add(path, "error.checks", f"unknown check {check!r} (error {code})")
        if UNRECOGNIZED not in self.errors and not any(
            p.key.startswith("error") for p in self.report.problems
        ):
            self.report.add(
                self.sources[0] if self.sources else "rulesets",
                "error.code",
                f"no error file defines the {UNRECOGNIZED!r} fallback",
            )
        if self.report.problems:
            raise RulesetError(self.report.problems)
        return RuleBook(
            dict(self.errors),
            dict(self.findings),
            dict(self.checks),
            dict(self.rules),
            tuple(self.sources),
        )


def _positive_kind(expression: Any) -> str | None:
    """The `kind` a pattern requires by plain equality at its top level or inside `$and`."""
    if not isinstance(expression, dict):
        return None
    if isinstance(expression.get("kind"), str):
        return str(expression["kind"])
    for part in expression.get("$and", []) if isinstance(expression.get("$and"), list) else []:
        found = _positive_kind(part)
        if found:
            return found
    return None


def load_rulebook(extra_dirs: Sequence[Path] = ()) -> RuleBook:
    """The built-in rulesets plus a user's folders; raises RulesetError listing every problem."""
    builder = _Builder()
    shipped = builtin_dir("rulesets")
    builder.add_dir(shipped, shipped=True)
    seen = {shipped.resolve()}
    for directory in extra_dirs:
        if directory.resolve() not in seen:  # the same folder twice is one folder
            seen.add(directory.resolve())
            builder.add_dir(directory)
    return builder.finish()
