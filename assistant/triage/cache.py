"""The caches of bulk triage: a backlog repeats a handful of messages and situations.

`CachingDiagnoser` is a Diagnoser whose two repeatable steps remember their answers for the run:
the classification of each distinct message text, and the engine's hits for each distinct set
of facts (projected onto the attributes the rules read, so orders that differ only in what no
rule reads share one evaluation). A single-order diagnosis has nothing to reuse and builds none
of this; triage makes one per run and drops it afterwards.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from assistant.classify import Classification
from assistant.diagnose import Diagnoser
from assistant.engine import Hit
from assistant.facts import attributes_read, projected

CACHE_SIZE = 4096  # distinct situations and messages (least recently used dropped first)


class CachingDiagnoser(Diagnoser):
    """`base`'s rulebook and compiled engine, with memoised classification and evaluation.
    Engine evaluations are counted on `base`, so a caller sees what its own Diagnoser did."""

    def __init__(self, base: Diagnoser, size: int = CACHE_SIZE) -> None:
        super().__init__(base.rulebook, base.engine)
        self.base = base
        self.size = size
        self.attributes = attributes_read(base.rulebook)
        # functools' LRU is thread-safe (online triage diagnoses from several threads); two
        # threads missing the same key at once may both compute it, with the same answer.
        self._classify = functools.lru_cache(maxsize=size)(base.classify)
        self._evaluate = functools.lru_cache(maxsize=size)(self._evaluate_projected)

    @property
    def evaluations(self) -> int:
        return self.base.evaluations

    def classify(self, message: str) -> Classification:
        return self._classify(message)

    def evaluate(self, facts: list[dict[str, Any]]) -> list[Hit]:
        # The projected facts, as canonical JSON, are the key: facts are dicts (unhashable).
        return self._evaluate(json.dumps(projected(facts, self.attributes), sort_keys=True))

    def _evaluate_projected(self, key: str) -> list[Hit]:
        return self.base.evaluate(json.loads(key))
