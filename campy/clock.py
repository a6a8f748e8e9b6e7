"""Injected time: every stored time is UTC epoch milliseconds taken from a `Clock`."""

from __future__ import annotations

import time


class Clock:
    """The real clock. Tests pass a fake with the same two methods."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()
