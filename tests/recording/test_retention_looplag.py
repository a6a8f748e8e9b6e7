"""A retention pass over 100k segments runs off the event loop: the loop keeps waking on
time (lag under 50 ms, measured by campy/looplag.py), while the same pass run on the loop
stalls it far longer (so this test can fail: a pass moved back onto the loop breaks it).

The index is synthetic (bench/retention_db_bench.py: 100k rows, no files), with the clock
set so the oldest fifth of each camera has expired: the pass reads, plans and deletes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bench.retention_db_bench import SEGMENT_MS, Shape, build, set_now
from campy.looplag import LoopLagMonitor

LIMIT_MS = 50.0


async def _max_lag_ms(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    mon = LoopLagMonitor(interval=0.005, warn_s=10.0)
    task = asyncio.create_task(mon.run())
    await asyncio.sleep(0.05)
    try:
        result = await work()
        await asyncio.sleep(0.02)  # one more wake-up after the work
    finally:
        task.cancel()
    return mon.max_s * 1000, result


def test_retention_pass_over_100k_segments_does_not_stall_the_loop() -> None:
    shape = Shape(segments=100_000, cameras=8, seed=1)
    b = build(shape)
    try:
        async def main() -> tuple[float, Any, float, Any]:
            set_now(b, shape.now_fifth_expired())
            off_ms, off = await _max_lag_ms(lambda: b.mgr.retention_pass("schedule"))
            # the next fifth expires; the same work, inline on the loop (as a hand-written
            # loop calling it synchronously would)
            set_now(b, shape.now_fifth_expired() + (shape.per_camera // 5) * SEGMENT_MS)

            async def inline() -> Any:
                return b.mgr._retention_work("schedule", b.mgr.store)

            on_ms, on = await _max_lag_ms(inline)
            return off_ms, off, on_ms, on

        off_ms, off, on_ms, on = asyncio.run(main())
    finally:
        b.close()
    print(f"loop lag: off the loop {off_ms:.1f} ms, inline {on_ms:.1f} ms ({off.deleted} + {on.deleted} deleted)")
    fifth = shape.segments // 5
    assert abs(off.deleted - fifth) <= shape.cameras and abs(on.deleted - fifth) <= shape.cameras, (off, on)
    assert on_ms > LIMIT_MS, f"the inline pass should stall the loop, but the largest lag was {on_ms:.1f} ms"
    assert off_ms < LIMIT_MS, f"retention_pass stalled the event loop for {off_ms:.1f} ms (inline: {on_ms:.1f} ms)"
