"""The facts the builder asserts and the attributes the rules test agree (assistant.facts).

Both directions, over representative orders: every example offline, and online against a
loopback store (tests/vtex_store.py) so that the checks add their observations.
- every attribute a shipped rule references is produced for some order: a rule testing an
  attribute nobody builds would silently never fire;
- every attribute the builder produces is in the schema `rules validate` checks rules against:
  otherwise a user's rule on it would be refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from assistant.checks import is_vtex_sku_id
from assistant.diagnose import Diagnoser
from assistant.engine import Hit
from assistant.facts import FACT_ATTRIBUTES, ORDER_PASSED_PREFIX
from assistant.models import OrderContext
from assistant.rulesets import RuleBook
from assistant.vtex import VtexClient, VtexConfig
from tests.conftest import EXAMPLES
from tests.vtex_server import env_for
from tests.vtex_store import AMAZON_WAREHOUSE, SITE_WAREHOUSE, Sku, Store

_COMPARISONS = {"$eq", "$neq", "$lt", "$lte", "$gt", "$gte", "$ex", "$nex"}
Attribute = tuple[str, str]  # (fact kind, attribute)


class _Recording(Diagnoser):
    """A Diagnoser that keeps every fact it evaluates (through its public `evaluate` seam)."""

    def __init__(self, diagnoser: Diagnoser) -> None:
        super().__init__(diagnoser.rulebook, diagnoser.engine)
        self.facts: list[dict[str, Any]] = []

    def evaluate(self, facts: list[dict[str, Any]]) -> list[Hit]:
        self.facts.extend(facts)
        return super().evaluate(facts)


def _examples() -> list[OrderContext]:
    return [
        OrderContext.model_validate(json.loads(path.read_text("utf-8")))
        for path in sorted(EXAMPLES.glob("*.json"))
    ]


def _store(contexts: list[OrderContext]) -> Store:
    """Every example's SKU in a store where the observations vary: one SKU short with stock in
    a warehouse Amazon does not reach, one with a negative balance, one inactive, and the ids
    that are not VTEX ids found as a RefId."""
    store = Store()
    for context in contexts:
        for number, item in enumerate(context.items, start=4000):
            if is_vtex_sku_id(item.sku_id):
                store.add(Sku(item.sku_id))
            else:
                store.add(Sku(str(number), ref_id=item.sku_id))
    store.add(Sku("1070", stock={AMAZON_WAREHOUSE: (1, 0), SITE_WAREHOUSE: (50, 0)}))
    store.add(Sku("2231", stock={AMAZON_WAREHOUSE: (1, 3)}, active=False))
    return store


@pytest.fixture(scope="module")
def produced(diagnoser: Diagnoser) -> set[Attribute]:
    recording = _Recording(diagnoser)
    contexts = _examples()
    for context in contexts:
        recording.diagnose(context)
    with _store(contexts).serve() as server:
        config = VtexConfig.from_env(env_for(server))
        with VtexClient(config, sleep=lambda _: None) as client:
            for context in contexts:
                recording.diagnose(context, client)
    return {(fact["kind"], attribute) for fact in recording.facts for attribute in fact}


def test_every_attribute_a_shipped_rule_tests_is_built_for_some_order(
    diagnoser: Diagnoser, produced: set[Attribute]
) -> None:
    referenced = _referenced(diagnoser.rulebook)
    assert len(referenced) > 20  # the walk below did find the rules' attributes
    assert referenced - produced == set()


def test_every_attribute_the_builder_produces_is_in_the_schema(produced: set[Attribute]) -> None:
    unknown = {
        (kind, attribute)
        for kind, attribute in produced
        if attribute not in FACT_ATTRIBUTES[kind]
        and not (kind == "order" and attribute.startswith(ORDER_PASSED_PREFIX))
    }
    assert unknown == set()
    # The online orders did reach the checks' own observations.
    assert {("check", "alternate_id"), ("check", "stock_elsewhere")} <= produced


def _referenced(rulebook: RuleBook) -> set[Attribute]:
    """(kind, attribute) for every attribute a rule's condition tests, joins included."""
    found: set[Attribute] = set()
    for rule in rulebook.rules.values():
        kinds: dict[str, str] = {}  # alias -> its fact kind, in pattern order
        for group in ("all", "any"):
            for pattern in rule.condition.get(group, []):
                ((alias, expression),) = pattern.items()
                kinds[alias] = _kind_of(expression)
                for attribute, joined in _attributes(expression):
                    found.add((kinds[alias], attribute))
                    if joined is not None:
                        found.add((kinds[joined[0]], joined[1]))
    return found


def _kind_of(expression: Mapping[str, Any]) -> str:
    for attribute, joined in _attributes(expression):
        if attribute == "kind" and joined is None:
            value = _kind_value(expression)
            if value is not None:
                return value
    raise AssertionError(f"a pattern without a kind: {expression}")


def _kind_value(node: Any) -> str | None:
    if isinstance(node, Mapping):
        if isinstance(node.get("kind"), str):
            return str(node["kind"])
        for value in node.values():
            found = _kind_value(value)
            if found is not None:
                return found
    if isinstance(node, list):
        for value in node:
            found = _kind_value(value)
            if found is not None:
                return found
    return None


def _attributes(node: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str, str] | None]]:
    """Each attribute the expression tests, with the (alias, attribute) it joins on, if any."""
    for key, value in node.items():
        if key in ("$and", "$or"):
            for part in value:
                yield from _attributes(part)
        elif key in _COMPARISONS:
            yield from _attributes(value)
        elif key in ("$iany", "$iall"):
            yield next(iter(value)), None
        elif isinstance(value, Mapping):
            ((alias, attribute),) = value.items()
            yield key, (alias, attribute)
        else:
            yield key, None
