"""The durable_rules adapter: the only module that imports durable_rules.

It keeps clear of the engine's measured traps (durable-rules 2.0.28):
- one Host per process, with the two background timer threads disabled (`_run` is a no-op);
- rule metadata is stripped before loading and definitions are deep-copied (the engine pops `run`);
- one session (sid) per evaluation, every fact with an explicit unique id, `delete_state` always;
- every pattern has a positive `kind` discriminator (checked by the ruleset validator);
- a no-op sink rule so that no fact in a batch is "unhandled" (which would defer the actions of
  the other facts to a background thread);
- exceptions raised in actions (which the engine swallows into the state) are raised again;
- a lock around the engine, which is not thread-safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from assistant.errors import AssistantError


class EngineUnavailableError(AssistantError):
    """durable-rules is missing or does not load on this Python: an install problem (exit 2)."""


try:
    from durable import engine as durable_engine
except ImportError as exc:
    # Its C extension is built for one Python (3.13 needed a define, see build_support/): when a
    # later Python breaks it again, the first use of the engine says so in one line, before
    # any diagnosis starts (an import error here would escape the CLI's error handling).
    _UNAVAILABLE: str | None = (
        f"the rules engine (durable-rules) does not load on Python "
        f"{sys.version_info.major}.{sys.version_info.minor} ({exc}); order-assistant supports "
        "Python 3.11 to 3.13: reinstall it with one of those (README, Install)"
    )
    _HostBase: Any = object
else:
    _UNAVAILABLE = None
    _HostBase = durable_engine.Host

# durable-rules 2.0.28 (its last release) calls datetime.utcfromtimestamp on every assert,
# deprecated since Python 3.12. Ignore that one warning from that one module, so that
# `-W error` still catches everything else and does not turn it into an internal error.
warnings.filterwarnings(
    "ignore",
    message=r"datetime\.datetime\.utcfromtimestamp",
    category=DeprecationWarning,
    module=r"durable\.engine$",
)

_SINK = "__sink__"
# Lower pri fires first in durable_rules; the sink must never pre-empt a real rule.
_SINK_PRIORITY = 1_000_000


class EngineError(AssistantError):
    """The engine rejected a ruleset or failed during an evaluation: a ruleset problem."""


class Hit(NamedTuple):
    """One rule firing: the rule's name and, for per-SKU rules, the index of the matched item."""

    rule: str
    item_index: int | None


class _Host(_HostBase):  # type: ignore[misc]
    def __init__(self) -> None:
        self._collected: list[Hit] | None = None
        self._item_alias: dict[str, str | None] = {}
        super().__init__()

    def _run(self) -> None:
        # Disables the two never-ending timer threads a Host starts; we only use the engine
        # synchronously (no timers, no async actions).
        return

    def bind(self, action_aliases: Mapping[str, str | None]) -> None:
        self._item_alias.update(action_aliases)

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        if action_name == _SINK:
            return _ignore
        alias = self._item_alias[action_name]
        rule = action_name.split(":", 1)[1]

        def record(context: Any) -> None:
            index = None
            if alias is not None:
                index = getattr(context, alias)["index"]
                if not isinstance(index, int):
                    # Raised inside the engine, which swallows it; evaluate() raises it again.
                    raise ValueError(f"rule {rule}: the {alias!r} fact has no integer index")
            if self._collected is not None:
                self._collected.append(Hit(rule, index))

        return record


def _ignore(context: Any) -> None:
    return


_LOCK = threading.RLock()
_HOST: _Host | None = None
_LOADED: set[str] = set()


def _host() -> _Host:
    global _HOST
    if _UNAVAILABLE is not None:
        raise EngineUnavailableError(_UNAVAILABLE)
    if _HOST is None:
        _HOST = _Host()
    return _HOST


def _ruleset_name(definitions: Mapping[str, Mapping[str, Any]]) -> str:
    digest = hashlib.sha256(
        json.dumps(definitions, sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"order_assistant_{digest[:16]}"


def _json_copy(definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A deep copy for durable_rules to change as it compiles. The engine takes its rules as
    JSON, so a JSON round trip copies them (several times faster than copy.deepcopy) and
    refuses what the engine would refuse, with the same error."""
    try:
        copied: dict[str, dict[str, Any]] = json.loads(json.dumps(definitions))
    except (TypeError, ValueError) as exc:
        raise EngineError(f"durable_rules rejected the rules: {exc}") from exc
    return copied


class RuleEngine:
    """A compiled set of rules. Build it once; evaluate many fact sets against it.

    `rules` maps rule name -> (durable condition: all/any/pri/dist, alias of the item pattern
    or None). Equal rule sets share one durable ruleset: the engine cannot unload one.
    """

    def __init__(self, rules: Mapping[str, tuple[Mapping[str, Any], str | None]]) -> None:
        definitions = _json_copy({name: cond for name, (cond, _) in rules.items()})
        self.name = _ruleset_name(definitions)
        with _LOCK:
            if self.name in _LOADED:
                return
            host = _host()
            ruleset: dict[str, Any] = {}
            aliases: dict[str, str | None] = {}
            for rule_name, definition in definitions.items():
                action = f"{self.name}:{rule_name}"
                aliases[action] = rules[rule_name][1]
                ruleset[rule_name] = dict(definition, run=action)
            ruleset[_SINK] = {
                "pri": _SINK_PRIORITY,
                "all": [{"fact": {"$ex": {"kind": 1}}}],
                "run": _SINK,
            }
            host.bind(aliases)
            try:
                host.set_rulesets({self.name: ruleset})
            except Exception as exc:  # the C layer raises its own error type with a bare code
                raise EngineError(f"durable_rules rejected the rules: {exc}") from exc
            _LOADED.add(self.name)

    def evaluate(self, facts: Sequence[Mapping[str, Any]]) -> list[Hit]:
        """Assert the facts in a fresh session and return every rule that fired."""
        sid = uuid.uuid4().hex
        batch = [dict(fact, sid=sid, id=f"{sid}-{n}") for n, fact in enumerate(facts)]
        with _LOCK:
            host = _host()
            hits: list[Hit] = []
            host._collected = hits
            try:
                state = host.assert_facts(self.name, batch)
                if state and "exception" in state:
                    raise EngineError(f"a rule action failed: {state['exception']}")
            except durable_engine.MessageNotHandledException as exc:  # pragma: no cover - sink
                raise EngineError(f"a fact matched no rule: {exc}") from exc
            finally:
                host._collected = None
                # Mandatory (1,024 live sessions per ruleset at most), but it must not mask the
                # error above: with no session to delete the engine raises its own error 309.
                with contextlib.suppress(Exception):
                    host.delete_state(self.name, sid)
        return hits


def check_rules(rules: Mapping[str, tuple[Mapping[str, Any], str | None]]) -> str | None:
    """Let the engine itself judge a rule set; the reason it rejected it, or None."""
    try:
        RuleEngine(rules)
    except EngineError as exc:
        return str(exc)
    return None
