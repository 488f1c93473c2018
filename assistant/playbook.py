"""Load and validate the declarative playbooks (`playbooks/*.yaml` and a user's folders).

A playbook is one remediation: an ordered list of steps, each of one kind:

    instruct   what to do in the Admin (`admin_path`, `admin_steps`); `confirm: true` waits
               until the operator says it is done
    check      an automated check from rulesets/catalog.yaml (`check`); offline its yes/no
               `question` is asked instead ("yes" means the check passes); branches with
               `on_pass` / `on_fail`
    ask        a question with `choices`; each choice may branch with its own `next`; a
               choice that names a `finding` is the answer when the diagnosis found that
               cause; a `default` choice is taken by `--yes` only when `safe_default: true`
               says that choosing it without the operator is harmless
    action     one of the two API writes (`action`), with the `admin_steps` that do the same
               by hand (shown in a dry run)
    verify     like check, after a fix
    escalate   a case draft for Amazon or VTEX support (`to`)

Branch targets name a later step or "end": a playbook never loops, so a scripted run always
terminates. A playbook with `fixes: true` ends with the `reprocess` step.

The models check each step by itself (ids, texts and their placeholders, URLs, the fields its
kind takes and needs, its choices); `load_playbooks` and `validate_playbook_dir` check what
spans steps and files (unique ids, branch targets, reachability, the reprocess step, checks and
findings of the rulebook). Each problem is reported with its file and key (`steps[2].on_fail`)
by the one formatter (assistant.validation), never a traceback. A playbook in a user's folder
replaces the shipped one with the same id.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictBool,
    ValidationError,
    model_validator,
)

from assistant.errors import Problem, RulesetError
from assistant.resources import builtin_dir
from assistant.rulesets import RuleBook, load_rulebook
from assistant.validation import file_problems, problem, problems
from assistant.yamlio import DocumentError, load_declarative

StepKind = Literal["instruct", "check", "ask", "action", "verify", "escalate"]
ActionName = Literal["activate_sku", "link_trade_policy"]  # the only two API writes
EscalateTo = Literal["amazon", "vtex_support"]
END = "end"  # a branch target that finishes the playbook
REPROCESS = "reprocess"  # the id of the last step of a playbook that fixes something

PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "order_id",
        "sku_id",  # the id as Amazon sent it
        "vtex_sku_id",
        "product_id",
        "trade_policy_id",
        "affiliate_id",
        "postal_code",
        "country",
        "quantity",
        "error_message",
        "seller",
        "sales_channel",
        "account",
    }
)

# What the reprocess step's text must say (the articles' fix, and the known issue that
# reprocessing does not re-read the order's status on Amazon).
REPROCESS_PHRASES = ("Marketplace > Connections > Orders", "Reprocess")
_CANCELED_ON_AMAZON = re.compile(r"cancel+ed\b.*\bamazon\b|\bamazon\b.*\bcancel+ed\b", re.I | re.S)

_STEP_ID = re.compile(r"^[a-z][a-z0-9-]*$")
_CHOICE_VALUE = re.compile(r"^[a-z][a-z0-9_-]*$")
_PLAYBOOK_ID = re.compile(r"^[a-z][a-z0-9-]*$")
_SUFFIXES = (".yaml", ".yml")


# ---- field checks: each problem is the user's message, at its key (assistant.validation) ---------


def _placeholders(text: str) -> str:
    found = placeholder_problems(text)
    if found:
        raise problems([((), message) for message in found], text)
    return text


def _shown(text: str) -> str:
    """A text shown to the operator: not blank, placeholders known."""
    if not text.strip():
        raise problem("must be a non-empty string")
    return _placeholders(text)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise problem("must be a non-empty string")
    return text


def _https(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in url):
        raise problem("must be an https:// URL")
    return url


def _matching(pattern: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise problem(message)
        return value

    return AfterValidator(check)


def _not_end(value: str) -> str:
    if value == END:
        raise problem(f"{END!r} is reserved: it is the target that finishes")
    return value


Shown = Annotated[str, AfterValidator(_shown)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Choice(_Frozen):
    # What --answers gives.
    value: Annotated[
        str, _matching(_CHOICE_VALUE, "must be a lower-case id like yes, no or not_sure")
    ]
    label: Shown  # shown to the operator
    next: str | None = None  # step id or "end"; None = the following step
    # A finding of this playbook: when the diagnosis brought the guide here for it, this is
    # the answer, and nobody is asked.
    finding: str | None = None


class Step(_Frozen):
    # Unique within the playbook (checked by the loader, which sees them all).
    id: Annotated[
        str,
        AfterValidator(_not_end),
        _matching(_STEP_ID, "must be a lower-case-dashed id like check-active"),
    ]
    kind: StepKind
    title: Shown  # short, shown in the step counter
    text: Annotated[str, AfterValidator(_placeholders)] = ""  # what to do / what this is
    admin_path: Annotated[str, AfterValidator(_not_blank)] | None = None  # from the articles
    help: Annotated[str, AfterValidator(_https)] | None = None  # the article
    next: str | None = None  # step id or "end"; None = the following step (or end if last)
    check: str | None = None  # check/verify: a check name from rulesets/catalog.yaml
    question: Shown | None = None  # check/verify: asked when the check cannot run; yes = pass
    on_pass: str | None = None  # check/verify: branch target when it passes
    on_fail: str | None = None  # check/verify: branch target when it fails
    choices: tuple[Choice, ...] = ()  # ask: >= 2 choices, unique values
    default: str | None = None  # ask: the choice value a runbook would normally take
    safe_default: StrictBool = False  # ask: --yes may take `default` without asking anyone
    action: ActionName | None = None  # action: which write
    admin_steps: tuple[Shown, ...] = ()  # action (and instruct): the manual Admin steps
    to: EscalateTo | None = None  # escalate: who the case draft is for
    confirm: StrictBool = False  # instruct: the operator must say it is done

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Step:
        found = list(_kind_problems(self))
        if found:
            raise problems(found, self.kind)
        return self


class Playbook(_Frozen):
    id: Annotated[  # == file stem
        str, _matching(_PLAYBOOK_ID, "must be a lower-case-dashed id like restock or link-dock")
    ]
    title: Shown
    summary: Shown
    findings: tuple[str, ...]  # finding codes it remedies (the catalog names this playbook)
    fixes: StrictBool  # changes something store-side: then it ends with the reprocess step
    steps: tuple[Step, ...]
    source: str  # the file path (set by the loader, not in YAML)


class PlaybookError(RulesetError):
    """Playbook files that do not load or validate; carries every problem (exit code 2)."""


# Which optional step fields each kind takes (id, kind, title, text, admin_path and help are
# common to all). `next` is left out where the kind branches by other means.
_KIND_FIELDS: Mapping[str, frozenset[str]] = {
    "instruct": frozenset({"next", "admin_steps", "confirm"}),
    "check": frozenset({"check", "question", "on_pass", "on_fail"}),
    "verify": frozenset({"check", "question", "on_pass", "on_fail"}),
    "ask": frozenset({"choices", "default", "safe_default"}),
    "action": frozenset({"next", "action", "admin_steps"}),
    "escalate": frozenset({"next", "to"}),
}
_COMMON_FIELDS = frozenset({"id", "kind", "title", "text", "admin_path", "help"})
_WHY_NOT = {
    "next": "branches with on_pass/on_fail (check, verify) or choices[].next (ask)",
}


def _kind_problems(step: Step) -> Iterator[tuple[tuple[int | str, ...], str]]:
    """What a step of its kind lacks, or has that its kind does not take."""
    allowed = _COMMON_FIELDS | _KIND_FIELDS[step.kind]
    for name in sorted(step.model_fields_set - allowed):
        reason = _WHY_NOT.get(name, f"belongs to {_kinds_taking(name)} steps")
        yield (name,), f"not allowed on {_a(step.kind)} step ({reason})"
    kind = step.kind
    if kind in {"check", "verify"}:
        if step.check is None:
            yield ("check",), f"is required on a {kind} step"
        if step.question is None:
            yield ("question",), f"is required on a {kind} step (asked when the check cannot run)"
    elif kind == "ask":
        yield from _choice_problems(step)
    elif kind == "action":
        if step.action is None:
            yield ("action",), "is required on an action step (activate_sku or link_trade_policy)"
        if not step.admin_steps:
            yield ("admin_steps",), "an action step needs the Admin steps that do the same by hand"
    elif kind == "escalate" and step.to is None:
        yield ("to",), "is required on an escalate step (amazon or vtex_support)"


def _choice_problems(step: Step) -> Iterator[tuple[tuple[int | str, ...], str]]:
    if len(step.choices) < 2:
        yield ("choices",), "an ask step needs at least two choices"
    values: dict[str, int] = {}
    for number, choice in enumerate(step.choices):
        if choice.value in values:
            yield (
                ("choices", number, "value"),
                f"duplicate value (also choices[{values[choice.value]}])",
            )
        else:
            values[choice.value] = number
    if step.default is not None and step.default not in values:
        yield ("default",), f"{step.default!r} is not one of the choices' values"
    if step.safe_default and step.default is None:
        yield ("safe_default",), "needs a default: the choice --yes would take"


# ---- placeholders --------------------------------------------------------------------------


def _fields(template: str) -> Iterator[tuple[str, str | None, str | None, str | None]]:
    return iter(string.Formatter().parse(template))


def placeholder_problems(template: str) -> list[str]:
    """What is wrong with the {placeholders} of one text (empty when nothing is)."""
    try:
        parsed = list(_fields(template))
    except ValueError as exc:
        return [f"malformed placeholder braces ({exc})"]
    problems = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            problems.append(f"placeholder {{{name}}} must be a plain {{name}}")
        elif name not in PLACEHOLDERS:
            problems.append(
                f"unknown placeholder {{{name}}} (known: {', '.join(sorted(PLACEHOLDERS))})"
            )
    return problems


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill the {placeholders}; a missing or empty value shows as "<name>". Never raises: a
    malformed template comes back as written."""
    try:
        parsed = list(_fields(template))
    except ValueError:
        return template
    out = []
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        value = values.get(name) if not spec and not conversion else None
        out.append(str(value) if value not in (None, "") else f"<{name}>")
    return "".join(out)


# ---- validation ------------------------------------------------------------------------------


class _Validator:
    """Checks one playbook file; `problems` holds what is wrong, `playbook` what loaded."""

    def __init__(self, file: Path, rulebook: RuleBook, *, shipped: bool) -> None:
        self.path = str(file)
        self.file = file
        self.rulebook = rulebook
        self.problems: list[Problem] = []
        self.playbook: Playbook | None = None
        self._declared_ids: list[Any] = []
        self._findings: set[str] = set()
        self._read(shipped)

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.path, key, message))

    def _read(self, shipped: bool) -> None:
        try:
            document = load_declarative(
                self.file, shipped=shipped, sections="id, title, summary, findings, fixes, steps"
            )
        except DocumentError as exc:
            self.add("", str(exc))
            return
        if "source" in document:
            self.add("source", "is set by the loader from the file path; remove it")
        header = self._header(document)
        listed = document.get("findings")
        self._findings = (
            {c for c in listed if isinstance(c, str)} if isinstance(listed, list) else set()
        )
        steps = self._steps(document.get("steps"), "steps" in document)
        self._check_header(document)
        if steps is not None:
            self._check_steps(steps, fixes=document.get("fixes") is True)
        if header is not None and steps is not None and not self.problems:
            self.playbook = header.model_copy(update={"steps": tuple(s for _, s in steps)})

    def _header(self, document: dict[Any, Any]) -> Playbook | None:
        fields = {k: v for k, v in document.items() if k not in {"steps", "source"}}
        try:
            return Playbook.model_validate({**fields, "steps": (), "source": self.path})
        except ValidationError as exc:
            self.problems.extend(file_problems(self.path, exc, Playbook))
            return None

    def _steps(self, raw: Any, given: bool) -> list[tuple[int, Step]] | None:
        """The well-formed steps with their index; None when the list itself is unusable.
        A malformed step is reported and left out; the ids it declares still count as
        branch targets, so one typo is not reported again at every jump to it."""
        if not given:
            self.add("steps", "is required")
            return None
        if not isinstance(raw, list):
            self.add("steps", "must be a list of steps")
            return None
        if not raw:
            self.add("steps", "needs at least one step")
            return None
        self._declared_ids = [s.get("id") if isinstance(s, dict) else None for s in raw]
        steps = []
        for index, entry in enumerate(raw):
            if not isinstance(entry, dict):
                self.add(f"steps[{index}]", "must be a mapping")
                continue
            try:
                steps.append((index, Step.model_validate(entry)))
            except ValidationError as exc:
                self.problems.extend(file_problems(self.path, exc, Step, f"steps[{index}]"))
        return steps

    # ---- the playbook --------------------------------------------------------------------------

    def _check_header(self, document: Mapping[Any, Any]) -> None:
        """The top-level fields, from the raw document so that they are checked even when
        another field has the wrong type (those were reported by the model already)."""
        playbook_id = document.get("id")
        if not isinstance(playbook_id, str) or not _PLAYBOOK_ID.match(playbook_id):
            playbook_id = None  # the model said what is wrong with it
        elif playbook_id != self.file.stem:
            self.add("id", f"must equal the file name without .yaml ({self.file.stem!r})")
        listed = document.get("findings")
        if not isinstance(listed, list):
            return
        if not listed:
            self.add("findings", "needs at least one finding code (those that name this playbook)")
        findings = self.rulebook.findings
        for index, code in enumerate(listed):
            key = f"findings[{index}]"
            if not isinstance(code, str):
                continue
            if code in listed[:index]:
                self.add(key, f"{code!r} is listed twice")
            elif code not in findings:
                self.add(key, f"unknown finding code {code!r} (not in the rulesets' findings)")
            elif playbook_id is not None and findings[code].playbook != playbook_id:
                self.add(
                    key,
                    f"the catalog names playbook {findings[code].playbook!r} for {code!r} "
                    f"({findings[code].source}), not {playbook_id!r}",
                )
        missing = [
            code
            for code, spec in findings.items()
            if spec.playbook == playbook_id and code not in listed
        ]
        if missing:
            self.add(
                "findings",
                f"the catalog names this playbook for {', '.join(missing)}: list them here",
            )

    # ---- the steps ---------------------------------------------------------------------------

    def _check_steps(self, steps: list[tuple[int, Step]], *, fixes: bool) -> None:
        position: dict[str, int] = {}
        for index, declared in enumerate(self._declared_ids):
            if isinstance(declared, str) and declared not in position:
                position[declared] = index
        seen: dict[str, int] = {}
        for index, step in steps:
            where = f"steps[{index}]"
            if step.id in seen:
                self.add(f"{where}.id", f"duplicate step id (also steps[{seen[step.id]}])")
            else:
                seen[step.id] = index
            self._check_step(where, index, step, position)
        self._check_reachable(steps, position)
        if fixes:
            self._check_reprocess(steps, len(self._declared_ids))

    def _check_step(self, where: str, index: int, step: Step, position: Mapping[str, int]) -> None:
        """What a step names outside itself: a check of the rulebook, branch targets, the
        playbook's findings (the model checked the step itself)."""
        if step.check is not None and step.check not in self.rulebook.checks:
            self.add(
                f"{where}.check",
                f"unknown check {step.check!r} (known: {', '.join(sorted(self.rulebook.checks))})",
            )
        for name in ("next", "on_pass", "on_fail"):
            self._target(f"{where}.{name}", index, getattr(step, name), position)
        for number, choice in enumerate(step.choices):
            key = f"{where}.choices[{number}]"
            self._target(f"{key}.next", index, choice.next, position)
            if choice.finding is not None and choice.finding not in self._findings:
                self.add(f"{key}.finding", f"{choice.finding!r} is not in this playbook's findings")

    def _target(
        self, key: str, index: int, target: str | None, position: Mapping[str, int]
    ) -> None:
        if target is None or target == END:
            return
        if target not in position:
            self.add(key, f"no step has the id {target!r} (nor is it {END!r})")
        elif position[target] <= index:
            self.add(
                key,
                f"branches back to {target!r} (steps[{position[target]}]): targets must be "
                "later steps, so that every run ends",
            )

    def _check_reachable(self, steps: list[tuple[int, Step]], position: Mapping[str, int]) -> None:
        if len(steps) != len(self._declared_ids):
            return  # a malformed step's branches are unknown
        reached = {0}
        for index, step in steps:
            if index not in reached:
                self.add(f"steps[{index}]", f"step {step.id!r} can never be reached")
                continue
            for target in _successors(step):
                reached.add(index + 1 if target is None else position.get(target, -1))

    def _check_reprocess(self, steps: list[tuple[int, Step]], count: int) -> None:
        last_index = count - 1
        last = next((s for i, s in steps if i == last_index), None)
        if last is None:
            return  # already reported as malformed
        where = f"steps[{last_index}]"
        if last.id != REPROCESS or last.kind != "instruct":
            self.add(
                "fixes",
                f"a playbook that fixes something must end with an instruct step with id "
                f"{REPROCESS!r} (reprocess the order in "
                "Marketplace > Connections > Orders > Actions > Reprocess)",
            )
            return
        for phrase in REPROCESS_PHRASES:
            if phrase not in last.text:
                self.add(f"{where}.text", f"must say {phrase!r}")
        if not _CANCELED_ON_AMAZON.search(last.text):
            self.add(
                f"{where}.text",
                "must say to first confirm that the order is not canceled on Amazon "
                "(reprocessing does not re-read its status: known issue)",
            )


def _successors(step: Step) -> list[str | None]:
    if step.kind in {"check", "verify"}:
        return [step.on_pass, step.on_fail]
    if step.kind == "ask":
        return [choice.next for choice in step.choices]
    return [step.next]


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _kinds_taking(name: str) -> str:
    kinds = [kind for kind, fields in _KIND_FIELDS.items() if name in fields]
    return "/".join(kinds) if kinds else "no"


# ---- loading -----------------------------------------------------------------------------------


def _files(directory: Path) -> tuple[list[Path], list[Problem]]:
    if not directory.is_dir():
        return [], [Problem(str(directory), "", "is not a directory")]
    files = sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    if not files:
        return [], [Problem(str(directory), "", "holds no *.yaml playbook files")]
    problems = []
    stems: dict[str, Path] = {}
    for file in files:
        if file.stem in stems:
            problems.append(
                Problem(str(file), "id", f"duplicate playbook id (also {stems[file.stem].name})")
            )
        stems.setdefault(file.stem, file)
    return files, problems


def _load_dir(
    directory: Path, rulebook: RuleBook, *, shipped: bool
) -> tuple[dict[str, Playbook], list[Problem]]:
    files, problems = _files(directory)
    playbooks: dict[str, Playbook] = {}
    for file in files:
        validator = _Validator(file, rulebook, shipped=shipped)
        problems.extend(validator.problems)
        if validator.playbook is not None and validator.playbook.id not in playbooks:
            playbooks[validator.playbook.id] = validator.playbook
    return playbooks, problems


def validate_playbook_dir(path: Path, rulebook: RuleBook | None = None) -> list[Problem]:
    """Every problem of the playbook files in one folder (for `playbooks validate DIR`). Only
    the files in it are checked: whether each finding has a playbook is a question for the
    shipped set (`load_playbooks`)."""
    _, problems = _load_dir(path, rulebook or load_rulebook(), shipped=False)
    return problems


def load_playbooks(
    extra_dirs: Sequence[Path] = (), rulebook: RuleBook | None = None
) -> dict[str, Playbook]:
    """The shipped playbooks plus a user's folders, by id. A user's playbook replaces the
    shipped one (or an earlier folder's) with the same id. Every finding of the shipped
    rulesets must have a playbook. Raises PlaybookError listing every problem."""
    rulebook = rulebook or load_rulebook()
    shipped = builtin_dir("playbooks")
    playbooks, problems = _load_dir(shipped, rulebook, shipped=True)
    seen = {shipped.resolve()}
    for directory in extra_dirs:
        if directory.resolve() in seen:  # the same folder twice is one folder
            continue
        seen.add(directory.resolve())
        found, more = _load_dir(directory, rulebook, shipped=False)
        playbooks.update(found)
        problems.extend(more)
    rulesets = builtin_dir("rulesets").resolve()
    for code, finding in rulebook.findings.items():
        if finding.playbook in playbooks or Path(finding.source).resolve().parent != rulesets:
            continue
        if any(Path(p.path).stem == finding.playbook for p in problems):
            continue  # its file exists and its problems are reported
        problems.append(
            Problem(
                finding.source,
                f"findings.{code}.playbook",
                f"no playbook file {finding.playbook}.yaml in {shipped}",
            )
        )
    if problems:
        raise PlaybookError(problems)
    return playbooks
