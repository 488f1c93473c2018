"""The durable_rules adapter keeps the engine's traps shut (see assistant/engine.py)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.diagnose import Diagnoser
from assistant.engine import EngineError, Hit, RuleEngine
from assistant.facts import item_facts, order_fact
from assistant.models import OrderContext
from assistant.rulesets import load_rulebook
from tests.conftest import EXAMPLES, REPO


def _rules(**rules: dict) -> dict:
    return {
        name: (condition, "item" if "item" in str(condition) else None)
        for name, condition in rules.items()
    }


ORDER_X = {"order": {"$and": [{"kind": "order"}, {"error_code": "x"}]}}


def test_per_item_rule_fires_once_per_item_with_its_index() -> None:
    engine = RuleEngine(_rules(per_item_test={"all": [ORDER_X, {"item": {"kind": "item"}}]}))
    facts = [{"kind": "order", "error_code": "x"}] + [
        {"kind": "item", "index": i} for i in range(3)
    ]
    hits = engine.evaluate(facts)
    assert sorted(hits, key=lambda h: h.item_index or 0) == [
        Hit("per_item_test", 0),
        Hit("per_item_test", 1),
        Hit("per_item_test", 2),
    ]


def test_facts_that_match_no_rule_do_not_break_the_batch() -> None:
    # Without the sink rule, one unhandled fact makes the engine defer the other facts'
    # actions to a background thread and the evaluation returns no hits.
    engine = RuleEngine(_rules(order_only_test={"all": [ORDER_X]}))
    hits = engine.evaluate([{"kind": "order", "error_code": "x"}, {"kind": "check", "name": "z"}])
    assert hits == [Hit("order_only_test", None)]


def test_no_match_gives_no_hits() -> None:
    engine = RuleEngine(_rules(no_match_test={"all": [ORDER_X]}))
    assert engine.evaluate([{"kind": "order", "error_code": "y"}]) == []


def test_sessions_are_isolated_between_evaluations() -> None:
    engine = RuleEngine(_rules(isolation_test={"all": [ORDER_X, {"item": {"kind": "item"}}]}))
    engine.evaluate([{"kind": "order", "error_code": "x"}, {"kind": "item", "index": 0}])
    # A second evaluation with only an item must not join with the first one's order fact.
    assert engine.evaluate([{"kind": "item", "index": 0}]) == []


def test_engine_rejection_is_reported_not_crashed() -> None:
    with pytest.raises(EngineError, match="rejected"):
        RuleEngine(_rules(bad_key_test={"all": [ORDER_X], "not_a_durable_key": 1}))


def test_an_action_failure_is_raised_not_swallowed() -> None:
    # The item alias is declared but the matched fact has no `index`: the action fails
    # inside the engine, which would otherwise only note it in the session state.
    engine = RuleEngine({"broken_action_test": ({"all": [{"item": {"kind": "item"}}]}, "item")})
    engine.evaluate([{"kind": "item", "index": 0}])  # a well-formed fact works
    with pytest.raises(EngineError, match="action failed"):
        engine.evaluate([{"kind": "item", "no_index": 1}])


def _rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _current_rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:  # not Linux: fall back to the peak, which only grows
        return _rss_mb()
    return pages * resource.getpagesize() / (1024 * 1024)


@pytest.mark.slow
def test_thousands_of_evaluations_stay_under_the_session_cap_and_memory_bound() -> None:
    # durable_rules raises MemoryError at the 1025th live session of a ruleset and each
    # session costs ~0.3 MB until deleted: 3,000 evaluations (three times the cap; ~4 s where
    # 20,000 took ~27 s of the suite's CPU) prove sessions are deleted.
    diagnoser = Diagnoser(load_rulebook())
    contexts = [
        OrderContext.model_validate(
            {
                "order_id": f"702-{n}",
                "error_message": "No available sla to deliver this order",
                "items": [{"sku_id": str(1000 + n % 7), "quantity": 1 + n % 3}, {"sku_id": "A-1"}],
            }
        )
        for n in range(50)
    ]
    for context in contexts:  # warm up allocator and caches before measuring
        diagnoser.diagnose(context)
    before = _current_rss_mb()
    for n in range(3_000):
        diagnosis = diagnoser.diagnose(contexts[n % len(contexts)])
        # the SLA article's causes, the collection and stale-index halves, shipping policy and
        # coverage: 8 per-SKU candidates x 2 SKUs
        assert len(diagnosis.findings) == 16
    grown = _current_rss_mb() - before
    assert diagnoser.evaluations == 3_050
    # 3,000 leaked sessions would be ~900 MB (and fail at 1,025); allow allocator noise.
    assert grown < 25, f"RSS grew by {grown:.1f} MB over 3,000 evaluations"


def test_facts_carry_no_identifiers_so_equal_situations_share_an_evaluation() -> None:
    from assistant.classify import Classification

    one = OrderContext.model_validate(
        {"order_id": "1", "error_message": "m", "items": [{"sku_id": "10"}]}
    )
    two = OrderContext.model_validate(
        {"order_id": "2", "error_message": "m", "items": [{"sku_id": "99"}]}
    )
    c = Classification("sku_inactive")
    assert [order_fact(one, c, "offline"), *item_facts(one)] == [
        order_fact(two, c, "offline"),
        *item_facts(two),
    ]


def test_cached_evaluation_gives_the_same_diagnosis_as_the_engine() -> None:
    from assistant.triage.cache import CachingDiagnoser

    uncached = Diagnoser(load_rulebook())
    cached = CachingDiagnoser(Diagnoser(uncached.rulebook, uncached.engine))
    contexts = [
        OrderContext.model_validate(json.loads(path.read_text("utf-8")))
        for path in sorted(EXAMPLES.glob("*.json"))
    ]
    for context in contexts * 3:
        assert cached.diagnose(context) == uncached.diagnose(context)
    # Every example after the first round came from the cache.
    assert cached.evaluations == len(contexts)
    assert uncached.evaluations == 3 * len(contexts)


def test_the_triage_cache_keeps_at_most_its_size_dropping_the_least_recently_used() -> None:
    from assistant.triage.cache import CachingDiagnoser

    base = Diagnoser(load_rulebook())
    cached = CachingDiagnoser(Diagnoser(base.rulebook, base.engine), size=2)
    contexts = [
        OrderContext.model_validate(json.loads(path.read_text("utf-8")))
        for path in sorted(EXAMPLES.glob("*.json"))[:3]
    ]
    first, second, third = (cached.diagnose(c) for c in contexts)
    assert cached.evaluations == 3
    assert cached.diagnose(contexts[2]) == third  # the most recent: cached
    assert cached.diagnose(contexts[1]) == second  # still held
    assert cached.evaluations == 3
    assert cached.diagnose(contexts[0]) == first  # dropped when the third came: evaluated again
    assert cached.evaluations == 4


def test_the_engine_loads_and_evaluates_the_bundled_rules_on_this_python() -> None:
    # durable-rules' C extension is compiled for each Python (3.13 only with the define of
    # build_support/durable-rules); CI runs this on the oldest and the newest supported.
    extension = importlib.util.find_spec("durable_rules_engine")
    assert extension is not None
    assert extension.origin is not None
    assert extension.origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    # A join of an order fact with item facts, the shape every per-SKU rule has ...
    engine = RuleEngine(_rules(this_python_test={"all": [ORDER_X, {"item": {"kind": "item"}}]}))
    facts = [{"kind": "order", "error_code": "x"}, {"kind": "item", "index": 0}]
    assert engine.evaluate(facts) == [Hit("this_python_test", 0)]
    # ... and the bundled rulebook on a bundled example: a candidate cause for each SKU.
    context = OrderContext.model_validate(
        json.loads((EXAMPLES / "sla_unavailable.json").read_text("utf-8"))
    )
    diagnosis = Diagnoser(load_rulebook()).diagnose(context)
    found = {(finding.code, finding.sku_id) for finding in diagnosis.findings}
    assert {("insufficient_stock", "1070"), ("insufficient_stock", "2231")} <= found


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "PYTHON"))}
    return {**env, "NO_COLOR": "1", **extra}


def test_an_engine_that_does_not_load_is_one_message_not_a_traceback(tmp_path: Path) -> None:
    # What a Python that breaks the C extension again looks like: the import itself fails.
    fake = tmp_path / "durable"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "engine.py").write_text(
        "raise ImportError('durable_rules_engine.so: undefined symbol: PyEval_CallObject')\n"
    )
    result = _cli(
        "diagnose",
        "examples/sla_unavailable.json",
        env=_plain_env(PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}"),
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "durable-rules" in line
    assert "undefined symbol: PyEval_CallObject" in line
    assert "supports Python 3.11 to 3.13" in line


def test_durables_own_deprecation_warning_is_ignored_and_no_other() -> None:
    # durable-rules calls datetime.utcfromtimestamp on every assert; with warnings as errors
    # (PYTHONWARNINGS=error, -W error) a diagnosis still runs ...
    ok = _cli("diagnose", "examples/sla_unavailable.json", env=_plain_env(PYTHONWARNINGS="error"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    # ... while the same warning from any other module still is an error.
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import warnings, assistant.engine\n"
            "warnings.warn('datetime.datetime.utcfromtimestamp() is deprecated', "
            "DeprecationWarning)",
        ],
        cwd=REPO,
        env=_plain_env(PYTHONWARNINGS="error"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 1
    assert "DeprecationWarning: datetime.datetime.utcfromtimestamp" in other.stderr
