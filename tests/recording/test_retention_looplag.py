"""A retention pass over 100k segments runs off the event loop: the loop keeps turning while
the pass runs, and the same pass run on the loop does not let it turn at all (so this test can
fail: a pass moved back onto the loop breaks it).

This checks the order of events, not time: how long the loop may stall is a figure for the
benchmark (bench/looplag_bench.py, docs/benchmarks.md), which a loaded box would make a
flaky assertion here. The lag is printed for information.

The index is synthetic (bench/retention_db_bench.py: 100k rows, no files), with the clock
set so the oldest fifth of each camera has expired: the pass reads, plans and deletes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bench.retention_db_bench import SEGMENT_MS, Shape, build, set_now
from campy.looplag import LoopLagMonitor

TURNS = 20  # loop turns the pass must let happen before it finishes


async def _during(work: Callable[[], Awaitable[Any]]) -> tuple[int, float, Any]:
    """(loop turns completed while ``work`` ran, the largest lag of a 5 ms ticker meanwhile
    in ms, the work's result)."""
    turns = 0
    running = True

    async def spin() -> None:
        nonlocal turns
        while running:
            await asyncio.sleep(0)
            turns += 1

    mon = LoopLagMonitor(interval=0.005, warn_s=10.0)
    ticker = asyncio.create_task(mon.run())
    spinner = asyncio.create_task(spin())
    await asyncio.sleep(0.02)
    try:
        before = turns
        result = await work()
        during = turns - before
        await asyncio.sleep(0.02)  # one more tick, so a stall the work caused is measured
    finally:
        running = False
        await spinner
        ticker.cancel()
    return during, mon.max_s * 1000, result


def test_retention_pass_over_100k_segments_lets_the_loop_run() -> None:
    shape = Shape(segments=100_000, cameras=8, seed=1)
    b = build(shape)
    try:
        async def main() -> tuple[int, float, Any, int, float, Any]:
            set_now(b, shape.now_fifth_expired())
            off_turns, off_ms, off = await _during(lambda: b.mgr.retention_pass("schedule"))
            # the next fifth expires; the same work, inline on the loop (as a hand-written
            # loop calling it synchronously would)
            set_now(b, shape.now_fifth_expired() + (shape.per_camera // 5) * SEGMENT_MS)

            async def inline() -> Any:
                return b.mgr._retention_work("schedule", b.mgr.store)

            on_turns, on_ms, on = await _during(inline)
            return off_turns, off_ms, off, on_turns, on_ms, on

        off_turns, off_ms, off, on_turns, on_ms, on = asyncio.run(main())
    finally:
        b.close()
    print(f"loop during the pass: off the loop {off_turns} turns (largest lag {off_ms:.1f} ms), "
          f"inline {on_turns} turns ({on_ms:.1f} ms); {off.deleted} + {on.deleted} deleted")
    fifth = shape.segments // 5
    assert abs(off.deleted - fifth) <= shape.cameras and abs(on.deleted - fifth) <= shape.cameras, (off, on)
    assert on_turns == 0, f"the inline pass should hold the loop, but it turned {on_turns} times"
    assert off_turns >= TURNS, f"retention_pass held the loop: it turned only {off_turns} times during the pass"
