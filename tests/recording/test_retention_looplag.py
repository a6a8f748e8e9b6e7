"""A retention pass over 100k segments runs off the event loop: the loop keeps waking on
time (lag under 50 ms, measured by campy/looplag.py), while the same pass run on the loop
stalls it far longer (so this test can fail: a pass moved back onto the loop breaks it).

On a box busy with other work the loop also wakes late for reasons of its own (the OS runs
something else), so the bound is 50 ms over the largest lag of a control window of the same
length with no pass running, measured right after.

The index is synthetic (bench/retention_db_bench.py: 100k rows, no files), with the clock
set so the oldest fifth of each camera has expired: the pass reads, plans and deletes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.retention_db_bench import SEGMENT_MS, Shape, build, set_now
from campy.looplag import LoopLagMonitor

LIMIT_MS = 50.0


async def _max_lag_ms(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """(the largest lag of a 5 ms ticker while ``work`` runs, (its result, its seconds))."""
    mon = LoopLagMonitor(interval=0.005, warn_s=10.0)
    task = asyncio.create_task(mon.run())
    await asyncio.sleep(0.05)
    try:
        began = time.perf_counter()
        result = await work(), time.perf_counter() - began
        await asyncio.sleep(0.02)  # one more wake-up after the work
    finally:
        task.cancel()
    return mon.max_s * 1000, result


def test_retention_pass_over_100k_segments_does_not_stall_the_loop() -> None:
    shape = Shape(segments=100_000, cameras=8, seed=1)
    b = build(shape)
    try:
        async def main() -> tuple[float, Any, float, Any, float]:
            set_now(b, shape.now_fifth_expired())
            off_ms, (off, off_s) = await _max_lag_ms(lambda: b.mgr.retention_pass("schedule"))
            control_ms, _ = await _max_lag_ms(lambda: asyncio.sleep(off_s))
            # the next fifth expires; the same work, inline on the loop (as a hand-written
            # loop calling it synchronously would)
            set_now(b, shape.now_fifth_expired() + (shape.per_camera // 5) * SEGMENT_MS)

            async def inline() -> Any:
                return b.mgr._retention_work("schedule", b.mgr.store)

            on_ms, (on, _) = await _max_lag_ms(inline)
            return off_ms, off, on_ms, on, control_ms

        off_ms, off, on_ms, on, control_ms = asyncio.run(main())
    finally:
        b.close()
    print(f"loop lag: off the loop {off_ms:.1f} ms, inline {on_ms:.1f} ms, control {control_ms:.1f} ms "
          f"({off.deleted} + {on.deleted} deleted)")
    fifth = shape.segments // 5
    assert abs(off.deleted - fifth) <= shape.cameras and abs(on.deleted - fifth) <= shape.cameras, (off, on)
    limit = LIMIT_MS + control_ms
    assert on_ms > limit, f"the inline pass should stall the loop, but the largest lag was {on_ms:.1f} ms"
    assert off_ms < limit, (f"retention_pass stalled the event loop for {off_ms:.1f} ms (limit {limit:.1f} ms: "
                            f"50 + {control_ms:.1f} ms of the box's own lag; inline: {on_ms:.1f} ms)")
