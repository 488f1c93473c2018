"""Order context -> classification -> facts -> rules engine -> Diagnosis.

The engine sees a projection of the context (flags and per-item facts, no free text and no ids),
so identical situations are one engine evaluation however many orders share them; the ids are
put back into the findings afterwards.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.classify import Classification, classify
from assistant.engine import EngineError, Hit, RuleEngine, check_rules
from assistant.errors import Problem, RulesetError
from assistant.models import Check, Diagnosis, ErrorInfo, Finding, Item, OrderContext, Outcome
from assistant.rulesets import ITEM_ALIAS, RuleBook, RuleSpec, load_rulebook

_STATUS_STRENGTH = {"confirmed": 3, "reported": 2, "suspected": 1}
_CACHE_SIZE = 4096
_VTEX_SKU_ID = re.compile(r"^[1-9][0-9]{0,18}$")
OFFLINE_DETAIL = "offline: needs the VTEX API"
SKIPPED_OFFLINE: tuple[Outcome, str] = ("skipped", OFFLINE_DETAIL)


def is_vtex_sku_id(sku_id: str) -> bool:
    """VTEX SKU ids are positive integers without leading zeros (SKU registration article)."""
    return bool(_VTEX_SKU_ID.match(sku_id))


# Checks that the order context alone can answer; the others need the VTEX API.
def _check_sku_id_format(item: Item | None) -> tuple[Outcome, str]:
    if item is None:
        return "skipped", "no SKU in the order context"
    if is_vtex_sku_id(item.sku_id):
        return "pass", f"{item.sku_id!r} is a valid VTEX SKU id (an integer)"
    if item.sku_id.isdigit():
        return "fail", f"{item.sku_id!r} has leading zeros, which VTEX does not read as a SKU id"
    return "fail", f"{item.sku_id!r} is not an integer, so it cannot be a VTEX SKU id"


LOCAL_CHECKS: Mapping[str, Callable[[Item | None], tuple[Outcome, str]]] = {
    "sku_id_format": _check_sku_id_format,
}


def order_fact(context: OrderContext, classification: Classification, mode: str) -> dict[str, Any]:
    return {
        "kind": "order",
        "error_code": classification.code,
        "mode": mode,
        "item_count": len(context.items),
        "fba": context.is_fba,
        "has_postal_code": context.postal_code is not None,
        "has_trade_policy": context.sales_channel is not None,
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
        self.evaluations = 0

    def evaluate(self, facts: list[dict[str, Any]]) -> list[Hit]:
        if not self.use_cache:
            self.evaluations += 1
            return self.engine.evaluate(facts)
        facts = [{k: v for k, v in fact.items() if k in self._relevant} for fact in facts]
        key = json.dumps(facts, sort_keys=True)
        hits = self._cache.get(key)
        if hits is None:
            self.evaluations += 1
            hits = self.engine.evaluate(facts)
            self._cache[key] = hits
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return hits

    def diagnose(self, context: OrderContext, mode: str = "offline") -> Diagnosis:
        classification = classify(context.error_message, self.rulebook)
        error_spec = self.rulebook.errors[classification.code]
        facts = [order_fact(context, classification, mode), *item_facts(context)]
        hits = self.evaluate(facts)
        return Diagnosis(
            order_id=context.order_id,
            mode="offline",
            error=ErrorInfo(
                code=classification.code,
                title=error_spec.title,
                message=context.error_message,
                params=classification.params,
            ),
            findings=self._findings(hits, context, classification),
            checks=self._checks(error_spec.checks, context),
            next_steps=list(error_spec.next_steps),
        )

    def _findings(
        self, hits: list[Hit], context: OrderContext, classification: Classification
    ) -> list[Finding]:
        merged: dict[tuple[str, str | None], tuple[tuple[int, int, str], Finding]] = {}
        for hit in hits:
            rule = self.rulebook.rules[hit.rule]
            item = context.items[hit.item_index] if hit.item_index not in (None, -1) else None
            finding = self._finding(rule, item, context, classification)
            key = (finding.code, finding.sku_id)
            order = (rule.pri, hit.item_index if hit.item_index is not None else -1, rule.name)
            if key in merged:
                order_before, before = merged[key]
                finding = _merge(before, finding)
                order = min(order, order_before)
            merged[key] = (order, finding)
        return [finding for _, finding in sorted(merged.values(), key=lambda pair: pair[0])]

    def _finding(
        self,
        rule: RuleSpec,
        item: Item | None,
        context: OrderContext,
        classification: Classification,
    ) -> Finding:
        spec = self.rulebook.findings[rule.finding]
        return Finding(
            code=spec.code,
            title=spec.title,
            sku_id=item.sku_id if item else None,
            status=rule.status,  # type: ignore[arg-type]  # validated by the ruleset loader
            owner=spec.owner,  # type: ignore[arg-type]
            playbook=spec.playbook,
            rule=rule.name,
            evidence=[render_evidence(rule.evidence, item, context, classification)],
        )

    def _checks(self, names: tuple[str, ...], context: OrderContext) -> list[Check]:
        checks = []
        for name in names:
            spec = self.rulebook.checks[name]
            items: list[Item | None] = list(context.items) if spec.scope == "sku" else [None]
            for item in items or [None]:
                local = LOCAL_CHECKS.get(name)
                outcome, detail = local(item) if local else SKIPPED_OFFLINE
                checks.append(
                    Check(
                        name=name,
                        sku_id=item.sku_id if item else None,
                        outcome=outcome,
                        detail=detail,
                    )
                )
        return checks


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


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def render_evidence(
    template: str, item: Item | None, context: OrderContext, classification: Classification
) -> str:
    values = _Blank(
        sku=f"SKU {item.sku_id}" if item else "the order's SKU",
        sku_id=item.sku_id if item else "",
        quantity=str(item.quantity) if item else "",
        order_id=context.order_id,
        error_code=classification.code,
        **{f"param_{k}": v for k, v in classification.params.items()},
    )
    return template.format_map(values)


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
