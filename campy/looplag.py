"""How late the event loop wakes up: a task that sleeps a fixed interval and measures its overshoot.

Anything that blocks the loop (a slow SQLite query, a sync file walk, a CPU-bound parse) delays
every request, health poll and supervisor at once; the overshoot of a short sleep is the
cheapest honest measure of it. Figures are kept for a recent window (p50/p99/max over the last
minutes) and since start (a millisecond histogram, so memory stays bounded however long CamPy
runs). A stall over ``warn_s`` is logged as a warning, at most once per ``warn_every_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def _hist_percentile(hist: Counter[int], total: int, q: float) -> float:
    """The ``q`` quantile (in ms) of a histogram of whole milliseconds."""
    if total == 0:
        return 0.0
    rank = q * (total - 1)
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen > rank:
            return float(ms)
    return float(max(hist))


class LoopLagMonitor:
    """Run ``await monitor.run()`` as a task in the loop to be watched."""

    def __init__(self, *, interval: float = 0.1, window_s: float = 300.0, warn_s: float = 0.1,
                 warn_every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.window_s = interval, window_s
        self.warn_s, self.warn_every_s = warn_s, warn_every_s
        self._clock = clock
        self._recent: deque[tuple[float, float]] = deque()  # (when, lag seconds)
        self._hist: Counter[int] = Counter()  # lag in whole ms → samples, since start
        self.samples = 0
        self.max_s = 0.0
        self.stalls = 0  # samples over warn_s since start
        self._last_warn: float | None = None
        self._unwarned = 0  # stalls since the last warning (rate limiting)

    async def run(self) -> None:
        while True:
            before = self._clock()
            await asyncio.sleep(self.interval)
            self.record(self._clock() - before - self.interval)

    def record(self, lag_s: float, *, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        lag_s = max(0.0, lag_s)
        self.samples += 1
        self.max_s = max(self.max_s, lag_s)
        self._hist[int(lag_s * 1000)] += 1
        self._recent.append((now, lag_s))
        while self._recent and self._recent[0][0] < now - self.window_s:
            self._recent.popleft()
        if lag_s > self.warn_s:
            self.stalls += 1
            self._unwarned += 1
            if self._last_warn is None or now - self._last_warn >= self.warn_every_s:
                log.warning("event loop stalled for %.0f ms (over %.0f ms; %d stall(s) since the last warning)",
                            lag_s * 1000, self.warn_s * 1000, self._unwarned)
                self._last_warn, self._unwarned = now, 0

    def histogram(self) -> dict[int, int]:
        """Samples by whole-ms lag since start: two readings subtract to any interval's."""
        return dict(self._hist)

    def summary(self) -> dict[str, Any]:
        """Lag in ms: ``recent`` (the last ``window_s``) and ``since_start``."""
        recent = sorted(lag for _, lag in self._recent)
        return {
            "interval_ms": round(self.interval * 1000),
            "warn_ms": round(self.warn_s * 1000),
            "stalls": self.stalls,
            "recent": _stats((x * 1000 for x in recent), len(recent), window_s=self.window_s),
            "since_start": {"samples": self.samples,
                            "p50_ms": _hist_percentile(self._hist, self.samples, 0.5),
                            "p99_ms": _hist_percentile(self._hist, self.samples, 0.99),
                            "max_ms": round(self.max_s * 1000, 1)},
        }


def _stats(values_ms: Iterable[float], n: int, *, window_s: float) -> dict[str, Any]:
    v = list(values_ms)
    return {"samples": n, "window_s": window_s, "p50_ms": round(_percentile(v, 0.5), 1),
            "p99_ms": round(_percentile(v, 0.99), 1), "max_ms": round(max(v, default=0.0), 1)}
