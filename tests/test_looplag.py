"""The loop-lag monitor sees a loop blocked on purpose, and warns about it (rate-limited)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from campy.looplag import LoopLagMonitor


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_a_blocked_loop_is_recorded_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> LoopLagMonitor:
        mon = LoopLagMonitor(interval=0.02)
        task = asyncio.create_task(mon.run())
        try:
            await _until(lambda: mon.samples >= 3)  # the monitor is sleeping in this loop

            async def blocker() -> None:
                time.sleep(0.3)  # blocks the whole loop, as a sync DB call would
                deadline = time.monotonic() + 10  # ... and until the watchdog has looked at it
                while mon._site is None and time.monotonic() < deadline:
                    time.sleep(0.01)

            await asyncio.create_task(blocker())
            await _until(lambda: mon.stalls >= 1)
            return mon
        finally:
            task.cancel()

    with caplog.at_level(logging.WARNING, logger="campy.looplag"):
        mon = asyncio.run(main())
    s = mon.summary()
    assert s["since_start"]["max_ms"] >= 250
    assert s["recent"]["max_ms"] >= 250
    assert s["stalls"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "event loop stalled for" in warnings[0]
    ms = int(warnings[0].split("stalled for ")[1].split(" ms")[0])
    assert ms >= 250  # the warning names the lag
    # ... and where the loop was: the watchdog thread saw the blocking function.
    assert warnings[0].endswith("blocker"), warnings[0]
    assert list(s["stall_sites"]) == [warnings[0].split(" in ", 1)[1]]


def test_warnings_are_rate_limited_and_count_what_they_skipped(caplog: pytest.LogCaptureFixture) -> None:
    t = [0.0]
    mon = LoopLagMonitor(warn_every_s=60, clock=lambda: t[0])
    with caplog.at_level(logging.WARNING, logger="campy.looplag"):
        for lag in (0.2, 0.3, 0.15):
            t[0] += 1
            mon.record(lag)
        t[0] += 60
        mon.record(0.5)
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 2
    assert "200 ms" in msgs[0] and "500 ms" in msgs[1] and "3 stall(s)" in msgs[1]
    assert mon.stalls == 4


def test_recent_window_forgets_old_lag_but_since_start_keeps_it() -> None:
    t = [0.0]
    mon = LoopLagMonitor(window_s=60, clock=lambda: t[0])
    mon.record(0.9)
    for _ in range(99):
        t[0] += 1
        mon.record(0.001)
    s = mon.summary()
    assert s["recent"]["max_ms"] == pytest.approx(1.0)
    assert s["recent"]["samples"] == 61
    assert s["since_start"]["max_ms"] == 900 and s["since_start"]["samples"] == 100
    assert s["since_start"]["p50_ms"] == 1 and s["since_start"]["p99_ms"] == 1


def test_stall_threshold_from_the_environment(caplog):
    from campy.looplag import stall_threshold_s

    assert stall_threshold_s({}) == 0.1
    assert stall_threshold_s({"CAMPY_LOOP_STALL_MS": "25"}) == 0.025
    for bad in ("abc", "5", "20000"):
        caplog.clear()
        assert stall_threshold_s({"CAMPY_LOOP_STALL_MS": bad}) == 0.1
        assert "CAMPY_LOOP_STALL_MS" in caplog.text
