"""How late the event loop wakes up: a task that sleeps a fixed interval and measures its overshoot.

Anything that blocks the loop (a slow SQLite query, a sync file walk, a CPU-bound parse) delays
every request, health poll and supervisor at once; the overshoot of a short sleep is the
cheapest honest measure of it. Figures are kept for a recent window (p50/p99/max over the last
minutes) and since start (a millisecond histogram, so memory stays bounded however long CamPy
runs). A stall over ``warn_s`` is logged as a warning, at most once per ``warn_every_s``.

A stall is only worth reporting with where it happened, so a watchdog thread looks at the loop
thread while a sleep is overdue and notes its innermost CamPy frame (``file:line function``),
or ``idle (select)`` when the loop was not running code at all: then the CPU or the GIL was
busy elsewhere (another thread, another process), not the loop. Sites are counted since start
and the warning names the last one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)
_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep  # .../campy/


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
        self.sites: Counter[str] = Counter()  # where the loop was during stalls, since start
        self._beat: float | None = None  # when the current sleep started (None: not sleeping)
        self._site: str | None = None  # what the watchdog saw during the current sleep

    async def run(self) -> None:
        stop = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(threading.get_ident(), stop),
                                    name="loop-lag-watchdog", daemon=True)
        watchdog.start()
        try:
            while True:
                before = self._clock()
                self._beat, self._site = before, None
                await asyncio.sleep(self.interval)
                self._beat = None
                self.record(self._clock() - before - self.interval, site=self._site)
        finally:
            stop.set()

    def _watch(self, loop_thread: int, stop: threading.Event) -> None:
        """While a sleep is overdue by more than ``warn_s``, note where the loop thread is."""
        while not stop.wait(self.warn_s / 4):
            beat = self._beat
            if beat is None or self._site is not None:
                continue
            if self._clock() - beat - self.interval > self.warn_s:
                frame = sys._current_frames().get(loop_thread)
                site = frame_site(frame) if frame is not None else None
                if self._beat == beat:  # still the same sleep
                    self._site = site

    def record(self, lag_s: float, *, now: float | None = None, site: str | None = None) -> None:
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
            if site is not None:
                self.sites[site] += 1
            if self._last_warn is None or now - self._last_warn >= self.warn_every_s:
                log.warning("event loop stalled for %.0f ms (over %.0f ms; %d stall(s) since the last warning)%s",
                            lag_s * 1000, self.warn_s * 1000, self._unwarned, f" in {site}" if site else "")
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
            "stall_sites": dict(self.sites.most_common(10)),
            "recent": _stats((x * 1000 for x in recent), len(recent), window_s=self.window_s),
            "since_start": {"samples": self.samples,
                            "p50_ms": _hist_percentile(self._hist, self.samples, 0.5),
                            "p99_ms": _hist_percentile(self._hist, self.samples, 0.99),
                            "max_ms": round(self.max_s * 1000, 1)},
        }


def stall_threshold_s(env: Mapping[str, str] = os.environ) -> float:
    """The stall threshold: ``CAMPY_LOOP_STALL_MS`` (10-10000, default 100), in seconds. Lower
    it to find where shorter stalls happen (bench/looplag_bench.py uses 25)."""
    raw = env.get("CAMPY_LOOP_STALL_MS", "").strip()
    if not raw:
        return 0.1
    try:
        ms = float(raw)
    except ValueError:
        ms = -1.0
    if not 10 <= ms <= 10_000:
        log.warning("CAMPY_LOOP_STALL_MS=%r is not a number of milliseconds from 10 to 10000; using 100", raw)
        return 0.1
    return ms / 1000


def frame_site(frame: Any) -> str:
    """The innermost frame of CamPy's own code (``campy/x.py:12 fn``) under ``frame``, with the
    library call it was in; ``idle (select)`` when the loop was waiting for I/O."""
    inner = f"{frame.f_code.co_name}"
    f = frame
    while f is not None:
        path = os.path.abspath(f.f_code.co_filename)
        if path.startswith(_PKG) and path != os.path.abspath(__file__):
            rel = "campy/" + path[len(_PKG):]
            return f"{rel}:{f.f_lineno} {f.f_code.co_name}" + ("" if f is frame else f" → {inner}")
        f = f.f_back
    if frame.f_code.co_name in ("select", "poll", "_run_once") and frame.f_code.co_filename.endswith(
            ("selectors.py", "base_events.py")):
        return "idle (select)"
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno} {inner}"


def _stats(values_ms: Iterable[float], n: int, *, window_s: float) -> dict[str, Any]:
    v = list(values_ms)
    return {"samples": n, "window_s": window_s, "p50_ms": round(_percentile(v, 0.5), 1),
            "p99_ms": round(_percentile(v, 0.99), 1), "max_ms": round(max(v, default=0.0), 1)}
