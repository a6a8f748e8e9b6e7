"""Injected time: every stored time is UTC epoch milliseconds taken from a `Clock`."""

from __future__ import annotations

import time


class Clock:
    """The real clock. Tests pass a fake with the same two methods."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start_s: float = 1_700_000_000.0) -> None:
        self.t = start_s

    def now_ms(self) -> int:
        return int(self.t * 1000)

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
