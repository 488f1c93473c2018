"""Refuse message patterns that can backtrack catastrophically, before they are ever run.

Python's `re` backtracks: a pattern such as `(a+)+$`, `(\\w+\\s?)*:` or `(.*,)*x` takes time
exponential in the length of a message that almost matches, so one user ruleset could hang
every run (`diagnose`, a whole `triage`). `re` has no time limit, and a thread cannot be
stopped, so the check is static: a variable repetition (`+`, `*`, `{m,n}`) nested inside
another repetition that can repeat is refused, as is an alternation inside such a repetition
with two branches that can start with the same text, e.g. `(a|ab)+`.

Possessive quantifiers (`a++`, Python 3.11+) and atomic groups (`(?>...)`) do not backtrack, so
what they hold is never refused: they are the fix the message suggests.
"""

from __future__ import annotations

import importlib
from typing import Any

# The regex parser of the standard library (what `re.compile` runs first). Private, but stable
# across 3.11-3.13; imported by name so type checkers do not need stubs for it.
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")

_REPEATS = {_constants.MAX_REPEAT, _constants.MIN_REPEAT}
_MAXREPEAT = _constants.MAXREPEAT
FIX_HINT = "make the inner part possessive (`a++`) or atomic (`(?>...)`), or drop one repetition"


def backtracking_problem(pattern: str) -> str | None:
    """Why `pattern` can take exponential time, or None. Assumes the pattern compiles."""
    try:
        parsed = _parser.parse(pattern)
    except Exception:  # re.error, or an internal error of the private parser: not ours to judge
        return None
    return _scan(list(parsed), inside_repeat=False)


def _scan(items: list[tuple[Any, Any]], inside_repeat: bool) -> str | None:
    for op, av in items:
        problem = _scan_one(op, av, inside_repeat)
        if problem:
            return problem
    return None


def _scan_one(op: Any, av: Any, inside_repeat: bool) -> str | None:
    if op in _REPEATS:
        low, high, body = av
        variable = high != low
        if inside_repeat and variable:
            return (
                "a repetition nested in another repetition can backtrack catastrophically; "
                + FIX_HINT
            )
        repeats = high == _MAXREPEAT or high > 1
        return _scan(list(body), inside_repeat or repeats)
    if op is _constants.BRANCH:
        branches = av[1]
        if inside_repeat and _overlapping(branches):
            return (
                "an alternation inside a repetition has branches that can start alike, which can "
                f"backtrack catastrophically; {FIX_HINT}"
            )
        for branch in branches:
            problem = _scan(list(branch), inside_repeat)
            if problem:
                return problem
        return None
    if op is _constants.SUBPATTERN:
        return _scan(list(av[3]), inside_repeat)
    if op in (_constants.ASSERT, _constants.ASSERT_NOT):
        return _scan(list(av[1]), inside_repeat)
    if op is _constants.GROUPREF_EXISTS:
        problem = _scan(list(av[1]), inside_repeat)
        return problem or (_scan(list(av[2]), inside_repeat) if av[2] is not None else None)
    # ATOMIC_GROUP and POSSESSIVE_REPEAT never backtrack into what they hold: not scanned.
    return None


def _overlapping(branches: list[Any]) -> bool:
    """Two branches that can begin with the same literal (or one that begins with anything)."""
    starts: list[set[int] | None] = [_first_literals(list(branch)) for branch in branches]
    if any(start is None for start in starts) and len(starts) > 1:
        return True
    seen: set[int] = set()
    for start in starts:
        assert start is not None
        if seen & start:
            return True
        seen |= start
    return False


def _first_literals(items: list[tuple[Any, Any]]) -> set[int] | None:
    """The characters a branch can start with, case-folded; None when it is not a plain
    literal or set of literals (a class, `.`, a group): then it may overlap anything."""
    if not items:
        return None
    op, av = items[0]
    if op is _constants.LITERAL:
        return {ord(chr(av).lower())}
    if op is _constants.IN and all(kind is _constants.LITERAL for kind, _ in av):
        return {ord(chr(value).lower()) for _, value in av}
    return None
