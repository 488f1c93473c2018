"""Order context -> classification -> facts -> rules engine -> Diagnosis.

The engine sees a projection of the context (flags and per-item facts, no free text and no ids),
so identical situations are one engine evaluation however many orders share them; the ids are
put back into the findings afterwards.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.checks import Checker, CheckResult, is_vtex_sku_id
from assistant.classify import Classification, classify
from assistant.engine import EngineError, Hit, RuleEngine, check_rules
from assistant.errors import (
    EXIT_ACTION_NEEDED,
    EXIT_OK,
    EXIT_UNDECIDED,
    Problem,
    RulesetError,
)
from assistant.models import (
    AdminLink,
    Check,
    Diagnosis,
    ErrorInfo,
    Finding,
    Mode,
    OrderContext,
    Verdict,
    VerifyReport,
)
from assistant.rulesets import (
    ITEM_ALIAS,
    ORDER_PASSED_PREFIX,
    ErrorSpec,
    RuleBook,
    load_rulebook,
)

if TYPE_CHECKING:
    from assistant.vtex import VtexClient

_STATUS_STRENGTH = {"confirmed": 3, "reported": 2, "suspected": 1}
NAMED_EVIDENCE = "The error message names this cause (the checks decide whether it is the one)"
_CACHE_SIZE = 4096
# The simulation is the final witness of the SLA tree: rules compare it with the other checks.
_WITNESS = "fulfillment_simulation"


def order_fact(
    context: OrderContext,
    classification: Classification,
    mode: str,
    checks: Sequence[CheckResult] = (),
) -> dict[str, Any]:
    links = [check for check in checks if check.name != _WITNESS]
    passed: dict[str, bool] = {}
    for check in checks:
        key = f"{ORDER_PASSED_PREFIX}{check.name}"
        passed[key] = passed.get(key, True) and check.outcome == "pass"
    return {
        "kind": "order",
        "error_code": classification.code,
        "mode": mode,
        "item_count": len(context.items),
        "fba": context.is_fba,
        "has_postal_code": context.postal_code is not None,
        "has_trade_policy": context.sales_channel is not None,
        "checks_failed": sum(check.outcome == "fail" for check in links),
        "checks_undecided": sum(check.undecided for check in links),
        **passed,
    }


def item_facts(context: OrderContext) -> list[dict[str, Any]]:
    if not context.items:
        # An order without items is evaluated with one unnamed item, so that per-SKU rules
        # still give their finding (with no sku_id).
        return [
            {"kind": "item", "index": -1, "known": False, "sku_id_is_vtex_id": False, "quantity": 1}
        ]
    return [
        {
            "kind": "item",
            "index": index,
            "known": True,
            "sku_id_is_vtex_id": is_vtex_sku_id(item.sku_id),
            "quantity": item.quantity,
        }
        for index, item in enumerate(context.items)
    ]


@dataclass
class Diagnoser:
    """Holds a loaded RuleBook and its compiled engine; evaluate many orders with one."""

    rulebook: RuleBook
    use_cache: bool = True

    def __post_init__(self) -> None:
        # Facts are projected onto what the rules can test, so orders that differ only in
        # attributes no rule reads share one cached evaluation.
        self._relevant = _names_in([rule.condition for rule in self.rulebook.rules.values()]) | {
            "kind",
            "index",
        }
        self.engine = RuleEngine(
            {
                name: (rule.condition, ITEM_ALIAS if rule.per_item else None)
                for name, rule in self.rulebook.rules.items()
            }
        )
        self._cache: OrderedDict[str, list[Hit]] = OrderedDict()
        self._classified: dict[str, Classification] = {}
        self._offline_cache: dict[tuple[Any, ...], Diagnosis] = {}
        self._evidence_names_order = any(
            "{order_id}" in rule.evidence for rule in self.rulebook.rules.values()
        )
        # Bulk triage diagnoses from several threads; the caches are shared.
        self._lock = threading.Lock()
        self.evaluations = 0

    def evaluate(self, facts: list[dict[str, Any]]) -> list[Hit]:
        if not self.use_cache:
            with self._lock:
                self.evaluations += 1
            return self.engine.evaluate(facts)
        facts = [{k: v for k, v in fact.items() if k in self._relevant} for fact in facts]
        key = json.dumps(facts, sort_keys=True)
        with self._lock:
            hits = self._cache.get(key)
            if hits is not None:
                self._cache.move_to_end(key)
                return hits
        hits = self.engine.evaluate(facts)  # the engine has its own lock
        with self._lock:
            self.evaluations += 1
            self._cache[key] = hits
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return hits

    def classify(self, message: str) -> Classification:
        """Classification per distinct message text: a backlog repeats a handful of them."""
        found = self._classified.get(message)
        if found is None:
            found = classify(message, self.rulebook)
            with self._lock:
                if len(self._classified) >= _CACHE_SIZE:
                    self._classified.clear()
                self._classified[message] = found
        return found

    def diagnose(
        self,
        context: OrderContext,
        client: VtexClient | None = None,
        *,
        workers: int = 8,
        answers: Mapping[tuple[str, str | None], bool] | None = None,
    ) -> Diagnosis:
        """Offline without a client; online, the error's checks ask VTEX's read-only APIs,
        `workers` lookups at a time. `answers` are the operator's answers, in a guided session,
        to checks that could not run: (check name, SKU id or None) -> passes."""
        if client is None and self.use_cache and not answers:
            return self._offline(context)
        return self._diagnose(context, client, workers, answers)

    def _offline(self, context: OrderContext) -> Diagnosis:
        """Offline, the diagnosis depends on the context but for its order id: a backlog repeats
        the same (message, SKUs, quantities) many times, so each signature is diagnosed once."""
        key = (
            # A custom rule's evidence may name the order: then its diagnosis is its own.
            context.order_id if self._evidence_names_order else None,
            context.error_message,
            context.is_fba,
            context.sales_channel,
            context.affiliate_id,
            context.postal_code,
            context.country,
            context.seller_id,
            tuple((item.sku_id, item.quantity, item.seller_sku) for item in context.items),
        )
        found = self._offline_cache.get(key)
        if found is None:
            found = self._diagnose(context, None, 1)
            with self._lock:
                if len(self._offline_cache) >= _CACHE_SIZE:
                    self._offline_cache.clear()
                self._offline_cache[key] = found
        if found.order_id == context.order_id:
            return found
        return found.model_copy(update={"order_id": context.order_id})

    def _diagnose(
        self,
        context: OrderContext,
        client: VtexClient | None,
        workers: int,
        answers: Mapping[tuple[str, str | None], bool] | None = None,
    ) -> Diagnosis:
        mode: Mode = "online" if client is not None else "offline"
        classification = self.classify(context.error_message)
        error_spec = self.rulebook.errors[classification.code]
        scopes = {name: self.rulebook.checks[name].scope for name in error_spec.checks}
        checks = Checker(
            context, client, params=classification.params, workers=workers, answers=answers
        ).run(error_spec.checks, scopes)
        facts = [
            order_fact(context, classification, mode, checks),
            *item_facts(context),
            *(check.fact() for check in checks),
        ]
        hits = self.evaluate(facts)
        evidence = _Evidence(context, classification, checks)
        findings = self._findings(hits, context, evidence, classification.named)
        return Diagnosis(
            order_id=context.order_id,
            mode=mode,
            error=ErrorInfo(
                code=classification.code,
                title=error_spec.title,
                message=context.error_message,
                params=classification.params,
            ),
            findings=findings,
            checks=[
                Check.model_construct(
                    name=c.name, sku_id=c.sku_id, outcome=c.outcome, detail=c.detail
                )
                for c in checks
            ],
            next_steps=list(error_spec.next_steps),
            summary=error_spec.summary,
            admin_links=_admin_links(self.rulebook, error_spec, findings),
        )

    def _findings(
        self,
        hits: list[Hit],
        context: OrderContext,
        evidence: _Evidence,
        named: Sequence[str] = (),
    ) -> list[Finding]:
        merged: dict[tuple[str, str | None], tuple[tuple[int, int, int, str], Finding]] = {}
        for hit in hits:
            rule = self.rulebook.rules[hit.rule]
            index = hit.item_index if hit.item_index not in (None, -1) else None
            spec = self.rulebook.findings[rule.finding]
            # model_construct: every value comes from validated rulesets and checks; the
            # contract is pinned by the JSON contract test. Validation here cost a fifth of
            # the time of a backlog's distinct orders.
            finding = Finding.model_construct(
                code=spec.code,
                title=spec.title,
                sku_id=context.items[index].sku_id if index is not None else None,
                status=rule.status,  # validated by the ruleset loader
                owner=spec.owner,
                playbook=spec.playbook,
                rule=rule.name,
                evidence=[evidence.render(rule.evidence, index)],
            )
            key = (finding.code, finding.sku_id)
            # A cause the message itself names comes first, in the order it names them.
            first = named.index(spec.code) if spec.code in named else len(named)
            order = (first, rule.pri, -1 if index is None else index, rule.name)
            if key in merged:
                order_before, before = merged[key]
                finding = _merge(before, finding)
                order = min(order, order_before)
            merged[key] = (order, finding)
        ordered = [finding for _, finding in sorted(merged.values(), key=lambda pair: pair[0])]
        if not named:
            return ordered
        return [
            finding.model_copy(update={"evidence": [NAMED_EVIDENCE, *finding.evidence]})
            if finding.code in named and finding.status != "confirmed"
            else finding
            for finding in ordered
        ]


def _names_in(node: Any) -> set[str]:
    """Every key and string value in rule conditions: a superset of the fact attributes the
    rules read (joins name attributes in values)."""
    if isinstance(node, Mapping):
        return {str(k) for k in node} | set().union(*(_names_in(v) for v in node.values()))
    if isinstance(node, list | tuple):
        return set().union(*(_names_in(v) for v in node))
    return {node} if isinstance(node, str) else set()


def _merge(first: Finding, second: Finding) -> Finding:
    strongest = max(first, second, key=lambda f: _STATUS_STRENGTH[f.status])
    evidence = list(dict.fromkeys([*first.evidence, *second.evidence]))
    return strongest.model_copy(update={"evidence": evidence})


def _admin_links(
    rulebook: RuleBook, error_spec: ErrorSpec, findings: Sequence[Finding]
) -> list[AdminLink]:
    """Where to look in the Admin: the error's path, then each finding's, each path once."""
    found = [rulebook.findings[f.code] for f in findings]
    pairs = [(error_spec.admin_path, error_spec.help), *((f.admin_path, f.help) for f in found)]
    links: dict[str, AdminLink] = {}
    for path, link in pairs:
        if path and path not in links:
            links[path] = AdminLink(path=path, help=link)
    return list(links.values())


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class _Evidence:
    """Renders a rule's evidence template for one finding: `{sku}`, `{sku_id}`, `{quantity}`,
    `{order_id}`, `{error_code}`, `{param_<name>}` and `{check_<name>}` (that check's detail
    for the same SKU, or the order-level one)."""

    def __init__(
        self,
        context: OrderContext,
        classification: Classification,
        checks: Sequence[CheckResult],
    ) -> None:
        self.context = context
        self.classification = classification
        self.checks = checks
        self._values: dict[int | None, _Blank] = {}

    def render(self, template: str, index: int | None) -> str:
        return template.format_map(self._values_for(index))

    def _values_for(self, index: int | None) -> _Blank:
        """The template values for one SKU (or the order), built once per diagnosis."""
        found = self._values.get(index)
        if found is not None:
            return found
        item = self.context.items[index] if index is not None else None
        values = _Blank(
            sku=f"SKU {item.sku_id}" if item else "the order's SKU",
            sku_id=item.sku_id if item else "",
            quantity=str(item.quantity) if item else "",
            order_id=self.context.order_id,
            error_code=self.classification.code,
            **{f"param_{k}": v for k, v in self.classification.params.items()},
        )
        for check in self.checks:
            if check.index == index or (
                check.index is None and f"check_{check.name}" not in values
            ):
                values[f"check_{check.name}"] = check.detail
        self._values[index] = values
        return values


def compile_rulebook(extra_dirs: Sequence[Path] = ()) -> Diagnoser:
    """Load and validate the rulesets, then let the engine compile them. An engine rejection
    is traced back to the rule (file and key) that causes it."""
    rulebook = load_rulebook(extra_dirs)
    try:
        return Diagnoser(rulebook)
    except EngineError as whole:
        problems = [
            Problem(rule.source, f"rules.{name}", reason)
            for name, rule in rulebook.rules.items()
            if (
                reason := check_rules(
                    {name: (rule.condition, ITEM_ALIAS if rule.per_item else None)}
                )
            )
        ]
        raise RulesetError(problems or [Problem("rulesets", "", str(whole))]) from None


def judge(diagnosis: Diagnosis) -> tuple[Verdict, str]:
    """Whether the store side still blocks the order, and why, from the findings alone.

    A store-owned finding that a check confirmed needs action. One that stays suspected or
    only reported (its check could not run, or no API can check it) leaves the answer open.
    Otherwise nothing on the store side blocks the order: it was fixed (reprocess it) or the
    fault is Amazon's or VTEX's (the findings say which).
    """
    if not diagnosis.recognised:
        return "undecided", "the error message is not one the assistant knows"
    store = [f for f in diagnosis.findings if f.owner == "store"]
    confirmed = sorted({f.code for f in store if f.status == "confirmed"})
    if confirmed:
        return "action_needed", f"store-side cause confirmed: {', '.join(confirmed)}"
    open_causes = sorted({f.code for f in store})
    if open_causes:
        errored = [c.name for c in diagnosis.checks if c.outcome == "error"]
        why = f"; checks that could not run: {', '.join(sorted(set(errored)))}" if errored else ""
        return "undecided", f"store-side cause not checked: {', '.join(open_causes)}{why}"
    unchecked = sorted({c.name for c in diagnosis.checks if c.outcome in ("error", "skipped")})
    if unchecked:
        # No cause found, but not everything could be looked at: never call that clean.
        return "undecided", f"checks that could not run: {', '.join(unchecked)}"
    failed = sorted({c.name for c in diagnosis.checks if c.outcome == "fail"})
    if failed and not diagnosis.findings:
        # A failed check that no rule explains (a user's ruleset, say) is never "clean".
        return "undecided", f"checks failed with no cause named: {', '.join(failed)}"
    owners = {f.owner for f in diagnosis.findings}
    if "amazon" in owners:
        return "clean", "the store side is clean: the fault is Amazon's (contact Amazon)"
    if "vtex_support" in owners:
        return "clean", "the store side is clean: open a VTEX support ticket with the evidence"
    if diagnosis.checks:
        return (
            "clean",
            "every check passes: nothing on the store side blocks the order; reprocess it",
        )
    return "clean", "nothing on the store side is known to block the order"


def diagnosis_exit_code(diagnosis: Diagnosis) -> int:
    """0 when diagnosed; 3 when the message is unknown, or a check that the answer depends on
    could not run: an API error with no confirmed cause, or beside an unconfirmed one."""
    if not diagnosis.recognised:
        return EXIT_UNDECIDED
    if any(check.outcome == "error" for check in diagnosis.checks) and (
        not any(f.status == "confirmed" for f in diagnosis.findings)
        or any(f.status != "confirmed" for f in diagnosis.findings)
    ):
        return EXIT_UNDECIDED
    return EXIT_OK


VERDICT_EXIT_CODES: Mapping[Verdict, int] = {
    "clean": EXIT_OK,
    "action_needed": EXIT_ACTION_NEEDED,
    "undecided": EXIT_UNDECIDED,
}


def verify_report(diagnosis: Diagnosis) -> VerifyReport:
    verdict, reason = judge(diagnosis)
    clean = {"clean": True, "action_needed": False, "undecided": None}[verdict]
    # dict(), not model_dump(): the dump would drop the renderers' fields.
    return VerifyReport(**dict(diagnosis), verdict=verdict, store_side_clean=clean, reason=reason)
