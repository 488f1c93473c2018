"""Validation of ruleset files: the pydantic models of a file's shape, durable_rules' grammar,
and the names one file refers to and another defines, resolved once every file is read.

Each file is validated by the models below (`_RulesetFile` and its entries); what the types
cannot say (message patterns that compile and cannot run away, durable_rules' grammar, fact
attributes, evidence templates) is checked by their validators. Every problem is reported with
its file and key by the one formatter (assistant.validation); nothing here raises a bare
exception. The result is an assistant.rulesets.RuleBook; only assistant.rulesets imports this
module, and only when a file must be validated as it is read.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from assistant.errors import Problem, RulesetError
from assistant.facts import FACT_ATTRIBUTES, FACT_KINDS, ORDER_PASSED_PREFIX
from assistant.regexsafety import backtracking_problem
from assistant.rulesets import (
    ITEM_ALIAS,
    OWNERS,
    SCOPES,
    STATUSES,
    UNRECOGNIZED,
    CheckSpec,
    ErrorSpec,
    FindingSpec,
    RuleBook,
    RuleSpec,
)
from assistant.validation import file_problems, key_path, problem, problems
from assistant.yamlio import DocumentError, load_declarative

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
# The fields a rule's evidence template may name.
EVIDENCE_FIELDS = frozenset({"sku", "sku_id", "quantity", "order_id", "error_code"})

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PLAYBOOK_ID = re.compile(r"^[a-z][a-z0-9-]*$")

# ---- the file's shape: pydantic models ------------------------------------------------------
# Every message a validator raises is the user's message, shown at its key by the one formatter
# (assistant.validation); the durable_rules checks below the models are validators too.

Loc = tuple[int | str, ...]


def _text(value: Any) -> str:
    if value is None:
        raise problem("is required")
    if not isinstance(value, str) or not value.strip():
        raise problem("must be a non-empty string")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _none_is_empty(value: Any) -> Any:
    return () if value is None else value


def _steps(steps: tuple[str, ...]) -> tuple[str, ...]:
    if not steps:
        raise problem("needs at least one step")
    return steps


def _one_of(choices: Sequence[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise problem(f"must be one of {', '.join(choices)}")
        return str(value)

    return check


def _name(label: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not _ID.match(value):
            raise problem(f"{label} must be lower_snake_case")
        return value

    return check


def _playbook_id(value: Any) -> str:
    if not _PLAYBOOK_ID.match(_text(value)):
        raise problem("must be a lower-case-dashed playbook id")
    return str(value)


def _evidence(value: Any) -> str:
    """A rule's evidence template: plain {name} fields that a finding can fill."""
    template = _text(value)
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as exc:
        raise problem(f"bad template: {exc}") from None
    found: list[tuple[Loc, str]] = []
    for name, spec, conversion in fields:
        if spec or conversion or not _ID.match(name):
            # Format specs, conversions and attribute/index access would fail or reach
            # into Python objects at run time: only plain {name} fields are allowed.
            found.append(((), f"template field {{{name}}} must be a plain name"))
        elif name not in EVIDENCE_FIELDS and not name.startswith(("param_", "check_")):
            found.append(
                (
                    (),
                    f"unknown template field {{{name}}}; use "
                    f"{', '.join(sorted(EVIDENCE_FIELDS))}, param_<name> or check_<name>",
                )
            )
    if found:
        raise problems(found, value)
    return template


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def _given(value: Any) -> Any:
    if value is None:  # `error:` with nothing under it
        raise problem("must be a mapping")
    return value


Text = Annotated[str, PlainValidator(_text)]
OptionalText = Annotated[str | None, PlainValidator(_optional_text)]
Texts = Annotated[tuple[Text, ...], BeforeValidator(_none_is_empty)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Finding(_Model):
    title: Text
    owner: Annotated[str, PlainValidator(_one_of(OWNERS))]
    playbook: Annotated[str, PlainValidator(_playbook_id)]
    admin_path: OptionalText = None
    help: OptionalText = None


class _Check(_Model):
    title: Text
    scope: Annotated[str, PlainValidator(_one_of(SCOPES))]


def _regex(value: Any) -> str:
    """A message pattern: it compiles, and cannot run away on a message that nearly matches."""
    text = _text(value)
    try:
        re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise problem(f"does not compile: {exc}") from None
    # Checked before any message meets it: `re` has no time limit to fall back on.
    runaway = backtracking_problem(text)
    if runaway is not None:
        raise problem(runaway)
    return text


class _Pattern(_Model):
    pattern: Annotated[str, PlainValidator(_regex)]
    names: Texts = ()  # finding codes the wording names


def _pattern_entry(value: Any) -> _Pattern:
    """A pattern is written as its text (its problems are the entry's), or as {pattern, names}."""
    if isinstance(value, dict):
        return _Pattern.model_validate(value)
    return _Pattern.model_construct(pattern=_regex(value), names=())


class _Error(_Model):
    # Field order matters: `patterns` is checked against the `code` and `params` before it.
    code: Annotated[str, PlainValidator(_name("error code"))]
    title: Text
    summary: OptionalText = None
    params: Texts = ()
    patterns: Annotated[
        tuple[Annotated[_Pattern, PlainValidator(_pattern_entry)], ...],
        BeforeValidator(_none_is_empty),
    ] = Field(default=(), validate_default=True)
    checks: Texts = ()
    next_steps: Annotated[Texts, AfterValidator(_steps)] = Field(default=(), validate_default=True)
    help: OptionalText = None
    admin_path: OptionalText = None

    @field_validator("patterns")
    @classmethod
    def _compiled(
        cls, patterns: tuple[_Pattern, ...], info: ValidationInfo
    ) -> tuple[_Pattern, ...]:
        code = info.data.get("code")
        if code == UNRECOGNIZED:
            if patterns:
                raise problem("the unrecognized fallback takes no patterns")
            return patterns
        if not patterns:
            raise problem("needs at least one pattern")
        params = set(info.data.get("params", ()))
        found = []
        for index, entry in enumerate(patterns):
            groups = set(re.compile(entry.pattern, re.IGNORECASE).groupindex)
            if "params" in info.data and groups != params:
                text = f"named groups {sorted(groups)} must equal error.params {sorted(params)}"
                found.append(((index,), text))
        if found:
            raise problems(found, patterns)
        return patterns

    @field_validator("checks")
    @classmethod
    def _once_each(cls, checks: tuple[str, ...]) -> tuple[str, ...]:
        found = [
            ((index,), f"{name!r} is listed twice")
            for index, name in enumerate(checks)
            if name in checks[:index]
        ]
        if found:
            raise problems(found, checks)
        return checks


class _Rule(_Model):
    # Ours:
    finding: Text
    status: Annotated[str, PlainValidator(_one_of(STATUSES))]
    evidence: Annotated[str, PlainValidator(_evidence)]
    description: OptionalText = None
    # durable_rules' (its C validator rejects any other key with error 105):
    all: list[Any] | None = None
    any: list[Any] | None = None
    pri: StrictInt = 0
    count: Any = None
    cap: Any = None
    dist: Any = None

    @field_validator("all", "any", mode="plain")
    @classmethod
    def _durable(cls, value: Any, info: ValidationInfo) -> list[Any]:
        grammar = _Grammar(str(info.field_name))
        grammar.patterns(value)
        if grammar.found:
            raise problems(grammar.found, value)
        return list(value)

    @field_validator("count", "cap", mode="plain")
    @classmethod
    def _unsupported(cls, value: Any) -> Any:
        raise problem("is not supported: one finding per match")

    @model_validator(mode="after")
    def _one_group(self) -> _Rule:
        if ("all" in self.model_fields_set) == ("any" in self.model_fields_set):
            raise problems([((), "needs exactly one of `all` or `any`")], None)
        if self.status == "confirmed" and "check" not in self.kinds().values():
            raise problems(
                [
                    (
                        ("status",),
                        "only a check can confirm a cause: "
                        "a confirmed rule needs a pattern of kind check",
                    )
                ],
                self.status,
            )
        return self

    @property
    def group(self) -> str:
        return "all" if self.all is not None else "any"

    def patterns(self) -> list[Any]:
        return self.all if self.all is not None else (self.any or [])

    def kinds(self) -> dict[str, str]:
        """alias -> the kind of fact its pattern matches."""
        return {
            alias: str(_positive_kind(expression))
            for pattern in self.patterns()
            for alias, expression in pattern.items()
        }

    def condition(self) -> dict[str, Any]:
        """durable_rules' keys only, ready for the engine."""
        return {
            key: getattr(self, key)
            for key in ("all", "any", "pri", "dist")
            if key in self.model_fields_set
        }


class _RulesetFile(_Model):
    findings: Annotated[
        dict[Annotated[str, PlainValidator(_name("finding code"))], _Finding],
        BeforeValidator(_or_empty),
    ] = {}
    checks: Annotated[
        dict[Annotated[str, PlainValidator(_name("check name"))], _Check],
        BeforeValidator(_or_empty),
    ] = {}
    error: Annotated[_Error | None, BeforeValidator(_given)] = None
    rules: Annotated[
        dict[Annotated[str, PlainValidator(_name("rule name"))], _Rule],
        BeforeValidator(_or_empty),
    ] = {}


# ---- durable_rules' grammar --------------------------------------------------------------------


class _Grammar:
    """Static checks of the durable grammar that the C engine would reject with a bare error
    code, accept and then loop on (a pattern without a positive discriminator can match the
    session state the engine re-asserts after every action: durable_rules issues #222 and
    #288), or accept and silently never (or always) fire. `found` holds each problem at its
    place below the rule's `all`/`any`; `error_codes` the error codes its patterns compare
    with, for the cross-reference check once every file is read."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.found: list[tuple[Loc, str]] = []
        self.error_codes: list[tuple[Loc, Any]] = []
        self.kinds: dict[str, str] = {}

    def patterns(self, value: Any) -> None:
        if not isinstance(value, list) or not value:
            self.found.append(((), "must be a non-empty list of {alias: expression}"))
            return
        for index, pattern in enumerate(value):
            self._pattern((index,), pattern)

    def _pattern(self, where: Loc, pattern: Any) -> None:
        if not isinstance(pattern, dict) or len(pattern) != 1:
            self.found.append((where, "must be a mapping with exactly one alias"))
            return
        ((alias, expression),) = pattern.items()
        if not isinstance(alias, str) or not _ID.match(alias):
            self.found.append((where, "alias must be a plain lower_snake_case name"))
            return
        where = (*where, alias)
        problem_text = self._alias_problem(alias, _positive_kind(expression))
        if problem_text is not None:
            self.found.append((where, problem_text))
            return
        kind = str(_positive_kind(expression))
        self._expression(where, expression, kind, set(self.kinds), 0)
        self.kinds[alias] = kind

    def _alias_problem(self, alias: str, kind: str | None) -> str | None:
        if alias in RESERVED_ALIASES:
            return "alias collides with durable_rules' action context"
        if alias in self.kinds:
            return "alias used twice in one rule"
        if kind is None or kind not in FACT_KINDS:
            return (
                "needs a positive `kind` discriminator ({kind: order|item|check}), "
                "else the engine can match its own state and loop"
            )
        if (alias == ITEM_ALIAS) != (kind == "item"):
            return "a kind: item pattern must be aliased `item` (one finding per SKU), and only it"
        if alias == ITEM_ALIAS and self.group == "any":
            return "per-SKU rules (alias `item`) need `all`, not `any`"
        return None

    def _expression(self, key: Loc, node: Any, kind: str, earlier: set[str], depth: int) -> None:
        """One pattern's expression: operators we know, attributes the facts of `kind` have,
        scalar values (a join names an earlier alias), bounded depth."""
        if depth > MAX_DEPTH:
            self.found.append((key, f"nested more than {MAX_DEPTH} levels deep"))
            return
        if not isinstance(node, dict) or not node:
            self.found.append((key, "must be a non-empty mapping"))
            return
        for name, value in node.items():
            where = (*key, str(name))
            if not isinstance(name, str):
                self.found.append((where, "keys must be strings"))
            elif name in {"$and", "$or"}:
                if not isinstance(value, list) or not value:
                    self.found.append((where, "must be a non-empty list of expressions"))
                    continue
                for index, part in enumerate(value):
                    self._expression((*where, index), part, kind, earlier, depth + 1)
            elif name in {"$eq", "$neq", "$lt", "$lte", "$gt", "$gte", "$ex", "$nex"}:
                self._expression(where, value, kind, earlier, depth + 1)
            elif name in {"$iany", "$iall"}:
                if not isinstance(value, dict) or len(value) != 1:
                    self.found.append((where, "must map one array attribute to an expression"))
                    continue
                (attribute,) = value
                self._attribute(where, attribute, kind)
            elif name.startswith("$"):
                hint = " (match messages with error.patterns)" if name in {"$mt", "$imt"} else ""
                self.found.append((where, f"unknown durable key{hint}"))
            else:
                self._attribute(where, name, kind)
                self._value(where, name, value, earlier)

    def _attribute(self, key: Loc, attribute: str, kind: str) -> None:
        if kind == "order" and attribute.startswith(ORDER_PASSED_PREFIX):
            return
        if attribute not in FACT_ATTRIBUTES[kind]:
            self.found.append(
                (
                    key,
                    f"a {kind} fact has no attribute {attribute!r} "
                    f"(it has: {', '.join(sorted(FACT_ATTRIBUTES[kind]))})",
                )
            )

    def _value(self, key: Loc, attribute: str, value: Any, earlier: set[str]) -> None:
        if isinstance(value, dict):
            # A join: {attribute: {earlier_alias: its_attribute}}.
            if len(value) == 1 and next(iter(value)) in earlier:
                return
            self.found.append(
                (
                    key,
                    "a value must be a scalar, or {alias: attribute} naming an earlier "
                    "pattern's alias",
                )
            )
        elif value is None or isinstance(value, list):
            self.found.append((key, "a value must be a string, number or boolean"))
        elif attribute == "error_code":
            self.error_codes.append((key, value))


# ---- files and cross references ----------------------------------------------------------------

# A section's label in "duplicate ... (also in FILE)".
_LABELS = {"findings": "finding code", "checks": "check name", "rules": "rule name"}


class _Builder:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.errors: dict[str, ErrorSpec] = {}
        self.findings: dict[str, FindingSpec] = {}
        self.checks: dict[str, CheckSpec] = {}
        self.rules: dict[str, RuleSpec] = {}
        self.sources: list[str] = []
        # Every name a file declares, valid or not, and where: duplicates are found across
        # files, and a reference to a name whose own entry is broken is not reported again.
        self._declared: dict[str, dict[str, str]] = {
            "findings": {},
            "checks": {},
            "rules": {},
            "error": {},
        }
        # Cross-references are resolved after every file is read: a user's rule may name a
        # finding defined in the built-in catalogue and vice versa.
        self._references: list[
            tuple[str, str, str, str, str]
        ] = []  # path, key, section, name, problem

    def add(self, path: str, key: str, message: str) -> None:
        self.problems.append(Problem(path, key, message))

    def add_dir(self, directory: Path, *, shipped: bool = False) -> None:
        if not directory.is_dir():
            self.add(str(directory), "", "is not a directory")
            return
        files = sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"})
        if not files:
            self.add(str(directory), "", "holds no *.yaml ruleset files")
        for path in files:
            self.add_file(path, shipped=shipped)

    def add_file(self, file: Path, *, shipped: bool = False) -> None:
        path = str(file)
        self.sources.append(path)
        try:
            document = load_declarative(
                file, shipped=shipped, sections="findings/checks/error/rules"
            )
        except DocumentError as exc:
            self.add(path, "", str(exc))
            return
        fresh = self._declare(path, document)
        try:
            ruleset = _RulesetFile.model_validate(document)
        except ValidationError as exc:
            self.problems.extend(file_problems(path, exc, _RulesetFile))
            return
        self._take(path, ruleset, fresh)

    def _declare(self, path: str, document: dict[Any, Any]) -> dict[str, set[str]]:
        """Record the names the file declares; report those another file declared first.
        Returns the new ones by section."""
        names = {
            section: [n for n in document[section] if isinstance(n, str)]
            for section in _LABELS
            if isinstance(document.get(section), dict)
        }
        error = document.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            names["error"] = [error["code"]]
        fresh: dict[str, set[str]] = {section: set() for section in self._declared}
        for section, declared in names.items():
            for name in declared:
                earlier = self._declared[section].get(name)
                if earlier is None:
                    self._declared[section][name] = path
                    fresh[section].add(name)
                elif section == "error":
                    self.add(
                        path, "error.code", f"duplicate error code {name!r} (also in {earlier})"
                    )
                else:
                    self.add(
                        path,
                        f"{section}.{name}",
                        f"duplicate {_LABELS[section]} (also in {earlier})",
                    )
        return fresh

    def _take(self, path: str, ruleset: _RulesetFile, fresh: Mapping[str, set[str]]) -> None:
        for code, finding in ruleset.findings.items():
            if code in fresh["findings"]:
                self.findings[code] = FindingSpec(
                    code,
                    finding.title,
                    finding.owner,
                    finding.playbook,
                    path,
                    finding.admin_path,
                    finding.help,
                )
        for name, check in ruleset.checks.items():
            if name in fresh["checks"]:
                self.checks[name] = CheckSpec(name, check.title, check.scope, path)
        if ruleset.error is not None and ruleset.error.code in fresh["error"]:
            self._take_error(path, ruleset.error)
        for name, rule in ruleset.rules.items():
            if name in fresh["rules"]:
                self._take_rule(path, name, rule)

    def _take_error(self, path: str, error: _Error) -> None:
        for index, entry in enumerate(error.patterns):
            for position, finding in enumerate(entry.names):
                key = f"error.patterns[{index}].names[{position}]"
                self._references.append(
                    (path, key, "findings", finding, f"unknown finding code {finding!r}")
                )
        for check in error.checks:
            self._references.append(
                (
                    path,
                    "error.checks",
                    "checks",
                    check,
                    f"unknown check {check!r} (error {error.code})",
                )
            )
        self.errors[error.code] = ErrorSpec(
            code=error.code,
            title=error.title,
            pattern_texts=tuple(entry.pattern for entry in error.patterns),
            named_causes=tuple(entry.names for entry in error.patterns),
            params=error.params,
            checks=error.checks,
            next_steps=error.next_steps,
            source=path,
            help=error.help,
            admin_path=error.admin_path,
            summary=error.summary,
        )

    def _take_rule(self, path: str, name: str, rule: _Rule) -> None:
        key = f"rules.{name}"
        self._references.append(
            (
                path,
                f"{key}.finding",
                "findings",
                rule.finding,
                f"unknown finding code {rule.finding!r}",
            )
        )
        grammar = _Grammar(rule.group)
        grammar.patterns(rule.patterns())
        for loc, code in grammar.error_codes:
            where = key_path(loc, f"{key}.{rule.group}")
            self._references.append(
                (path, where, "error", str(code), f"unknown error code {code!r}")
            )
        self.rules[name] = RuleSpec(
            name,
            rule.finding,
            rule.status,
            rule.evidence,
            rule.pri,
            rule.condition(),
            ITEM_ALIAS in grammar.kinds,
            path,
        )

    def finish(self) -> RuleBook:
        for path, key, section, name, message in self._references:
            if name not in self._declared[section]:
                self.add(path, key, message)
        for rule in self.rules.values():
            # {check_<name>} renders that check's detail: an unknown name would print nothing.
            for _, placeholder, _, _ in string.Formatter().parse(rule.evidence):
                if not placeholder or not placeholder.startswith("check_"):
                    continue
                check = placeholder.removeprefix("check_")
                if check not in self.checks:
                    self.add(
                        rule.source,
                        f"rules.{rule.name}.evidence",
                        f"template field {{{placeholder}}} names no declared check {check!r}",
                    )
        if UNRECOGNIZED not in self._declared["error"]:
            self.add(
                self.sources[0] if self.sources else "rulesets",
                "error.code",
                f"no error file defines the {UNRECOGNIZED!r} fallback",
            )
        if self.problems:
            raise RulesetError(self.problems)
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


def validate_rulesets(folders: Sequence[Path]) -> RuleBook:
    """Validate the shipped folder (first) and a user's folders together; raises RulesetError
    listing every problem."""
    builder = _Builder()
    shipped, *extra = folders
    builder.add_dir(shipped, shipped=True)
    for directory in extra:
        builder.add_dir(directory)
    return builder.finish()
