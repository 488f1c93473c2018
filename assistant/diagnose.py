"""Order context -> classification -> checks -> facts -> rules engine -> Diagnosis.

One order, one pass, no caches: the facts come from assistant.facts, the findings from
assistant.findings, the verdict and exit codes from assistant.verdict. Triage, which diagnoses
many orders that repeat the same situations, adds its caches around these steps
(assistant.triage.cache).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.checks import Checker
from assistant.classify import Classification, classify
from assistant.engine import EngineError, Hit, RuleEngine, check_rules
from assistant.errors import Problem, RulesetError
from assistant.facts import rule_facts
from assistant.findings import findings_from
from assistant.models import AdminLink, Check, Diagnosis, ErrorInfo, Finding, Mode, OrderContext
from assistant.rulesets import ITEM_ALIAS, ErrorSpec, RuleBook, load_rulebook

# The verdict and exit-code policy moved to assistant.verdict; these names stay importable
# from here while callers move over.
from assistant.verdict import VERDICT_EXIT_CODES as VERDICT_EXIT_CODES
from assistant.verdict import diagnosis_exit_code as diagnosis_exit_code
from assistant.verdict import judge as judge
from assistant.verdict import verify_report as verify_report

if TYPE_CHECKING:
    from assistant.vtex import VtexClient


class Diagnoser:
    """A loaded RuleBook and its compiled engine: diagnoses one order at a time.

    `classify` and `evaluate` are the steps a caller may wrap (triage caches them); `engine`
    may be shared with another Diagnoser of the same rulebook, since durable_rules cannot
    unload a compiled ruleset.
    """

    def __init__(self, rulebook: RuleBook, engine: RuleEngine | None = None) -> None:
        self.rulebook = rulebook
        self.engine = engine if engine is not None else RuleEngine(engine_rules(rulebook))
        # Triage diagnoses from several threads.
        self._count_lock = threading.Lock()
        self._evaluations = 0

    @property
    def evaluations(self) -> int:
        """Rules-engine evaluations so far (for tests and benchmarks)."""
        return self._evaluations

    def classify(self, message: str) -> Classification:
        return classify(message, self.rulebook)

    def evaluate(self, facts: list[dict[str, Any]]) -> list[Hit]:
        with self._count_lock:
            self._evaluations += 1
        return self.engine.evaluate(facts)  # the engine has its own lock

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
        mode: Mode = "online" if client is not None else "offline"
        classification = self.classify(context.error_message)
        error_spec = self.rulebook.errors[classification.code]
        scopes = {name: self.rulebook.checks[name].scope for name in error_spec.checks}
        checks = Checker(
            context, client, params=classification.params, workers=workers, answers=answers
        ).run(error_spec.checks, scopes)
        hits = self.evaluate(rule_facts(context, classification, mode, checks))
        findings = findings_from(hits, self.rulebook, context, classification, checks)
        return Diagnosis(
            order_id=context.order_id,
            mode=mode,
            error=ErrorInfo(
                code=classification.code,
                title=error_spec.title,
                message=context.error_message,
                params=dict(classification.params),
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


def engine_rules(
    rulebook: RuleBook, names: Sequence[str] | None = None
) -> dict[str, tuple[Mapping[str, Any], str | None]]:
    """The rules (all, or those named) as the engine compiles them: condition and item alias."""
    return {
        name: (rule.condition, ITEM_ALIAS if rule.per_item else None)
        for name, rule in rulebook.rules.items()
        if names is None or name in names
    }


def compile_rulebook(extra_dirs: Sequence[Path] = (), *, use_snapshot: bool = True) -> Diagnoser:
    """Load and validate the rulesets, then let the engine compile them. An engine rejection
    is traced back to the rule (file and key) that causes it. `use_snapshot=False` validates
    the shipped files even when their validated snapshot is current."""
    rulebook = load_rulebook(extra_dirs, use_snapshot=use_snapshot)
    try:
        return Diagnoser(rulebook)
    except EngineError as whole:
        problems = [
            Problem(rule.source, f"rules.{name}", reason)
            for name, rule in rulebook.rules.items()
            if (reason := check_rules(engine_rules(rulebook, [name])))
        ]
        raise RulesetError(problems or [Problem("rulesets", "", str(whole))]) from None
