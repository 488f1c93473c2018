"""A run's time budget for its VTEX calls, and the switch that Ctrl-C throws.

One Deadline per run (`--timeout`): the client consults it before every attempt, caps each
request's timeout with what is left, and stops reading a body the moment it passes, so a server
that never answers, or trickles its answer a byte at a time, cannot hold the run past it.
Time spent waiting for the operator (a guided session's questions) is not counted: `paused()`.

`cancel()` is the Ctrl-C path: every wait (backoff, rate limit) returns at once and every later
attempt fails, so a thread pool of lookups winds down within a moment instead of running out
its retries.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# The single-order commands: long enough for every lookup of a large order with retries,
# short enough that a stuck VTEX does not hold an on-call operator (or a script) for long.
DEFAULT_RUN_SECONDS = 120.0
# triage: a backlog of thousands of orders at the client's rate limit takes minutes.
DEFAULT_TRIAGE_SECONDS = 900.0


class Deadline:
    """Seconds left for the run's VTEX calls (None: no limit), and whether it was cancelled."""

    def __init__(
        self, seconds: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if seconds is not None and not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError("a deadline is a positive number of seconds")
        self.seconds = seconds
        self._clock = clock
        self._ends = None if seconds is None else clock() + seconds
        self._paused_at: float | None = None
        self._pauses = 0
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left (infinity without a limit; frozen while paused; 0 once cancelled)."""
        if self._cancelled.is_set():
            return 0.0
        with self._lock:
            if self._ends is None:
                return math.inf
            now = self._paused_at if self._paused_at is not None else self._clock()
            return max(0.0, self._ends - now)

    @property
    def expired(self) -> bool:
        return self._ends is not None and self.remaining() <= 0

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`, but no longer than the run is cancelled."""
        if seconds > 0:
            self._cancelled.wait(seconds)

    def wait_cancelled(self, seconds: float) -> bool:
        """Block up to `seconds` for a cancellation; True if the run was cancelled."""
        return self._cancelled.wait(seconds)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The clock stands still inside (nested uses are fine): the operator's thinking time
        is not VTEX's."""
        with self._lock:
            self._pauses += 1
            if self._pauses == 1:
                self._paused_at = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self._pauses -= 1
                if self._pauses == 0 and self._paused_at is not None:
                    if self._ends is not None:
                        self._ends += self._clock() - self._paused_at
                    self._paused_at = None

    def describe(self) -> str:
        """What stopped the calls, for an error detail."""
        if self.cancelled:
            return "interrupted"
        return f"deadline of {_seconds(self.seconds)} s reached (raise it with --timeout)"


def _seconds(value: float | None) -> str:
    if value is None:
        return "no"
    return f"{value:g}"
