"""The caches of bulk triage: a backlog repeats a handful of messages and situations.

`CachingDiagnoser` is a Diagnoser whose two repeatable steps remember their answers for the run:
the classification of each distinct message text, and the engine's hits for each distinct set
of facts (projected onto the attributes the rules read, so orders that differ only in what no
rule reads share one evaluation). A single-order diagnosis has nothing to reuse and builds none
of this; triage makes one per run and drops it afterwards.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from assistant.classify import Classification
from assistant.diagnose import Diagnoser
from assistant.engine import Hit
from assistant.facts import attributes_read, projected

CACHE_SIZE = 4096  # distinct situations (least recently used dropped first) and messages


class CachingDiagnoser(Diagnoser):
    """`base`'s rulebook and compiled engine, with memoised classification and evaluation.
    Engine evaluations are counted on `base`, so a caller sees what its own Diagnoser did."""

    def __init__(self, base: Diagnoser, size: int = CACHE_SIZE) -> None:
        super().__init__(base.rulebook, base.engine)
        self.base = base
        self.size = size
        self.attributes = attributes_read(base.rulebook)
        self._hits: OrderedDict[str, list[Hit]] = OrderedDict()
        self._classified: dict[str, Classification] = {}
        # Online triage diagnoses from several threads; the caches are shared.
        self._lock = threading.Lock()

    @property
    def evaluations(self) -> int:
        return self.base.evaluations

    def classify(self, message: str) -> Classification:
        found = self._classified.get(message)
        if found is None:
            found = self.base.classify(message)
            with self._lock:
                if len(self._classified) >= self.size:
                    self._classified.clear()
                self._classified[message] = found
        return found

    def evaluate(self, facts: list[dict[str, Any]]) -> list[Hit]:
        facts = projected(facts, self.attributes)
        key = json.dumps(facts, sort_keys=True)
        with self._lock:
            hits = self._hits.get(key)
            if hits is not None:
                self._hits.move_to_end(key)
                return hits
        hits = self.base.evaluate(facts)
        with self._lock:
            self._hits[key] = hits
            if len(self._hits) > self.size:
                self._hits.popitem(last=False)
        return hits
