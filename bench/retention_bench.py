"""How long does one retention decision take on a big index? A program, not a test.

Builds a synthetic index (10 s segments of ~1.2 MB, spread over ``--cameras`` cameras with a
mix of continuous/motion/events policies, ``--marks`` random motion/event windows, a few of
them open or carrying their own keep_until), then times ``plan_retention`` ``--runs`` times
in two scenarios: *pressure* (size cap at half the index, free-space floor not met) and
*no pressure* (no cap, plenty of space: only age decides). As a same-run yardstick it also
times a plain ``sorted()`` of the segments by ``start_ms`` and reports each scenario as a
multiple of it, so numbers from different machines can be compared. Run from the repo root:

    .venv/bin/python bench/retention_bench.py
    .venv/bin/python bench/retention_bench.py --segments 100000 --cameras 8 --marks 10000 --runs 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campy.recording.model import (  # noqa: E402
    DAY_MS,
    CameraPolicy,
    Mark,
    Mode,
    RetentionPlan,
    Segment,
)
from campy.recording.retention import plan_retention  # noqa: E402

SEGMENT_MS = 10_000
SEGMENT_BYTES = 1_200_000
T0 = 1_700_000_000_000
MODES: tuple[Mode, ...] = ("continuous", "motion", "events")
T = TypeVar("T")


@dataclass(frozen=True)
class Index:
    segments: list[Segment]
    marks: list[Mark]
    policies: dict[str, CameraPolicy]
    now_ms: int
    used_bytes: int


def build_index(n_segments: int, n_cameras: int, n_marks: int, seed: int) -> Index:
    rng = random.Random(seed)
    per_camera = -(-n_segments // n_cameras)  # ceil: every camera records the same span
    span_ms = per_camera * SEGMENT_MS
    cameras = [f"cam{i}" for i in range(n_cameras)]
    segments = [
        Segment(
            id=i,
            camera=cameras[i % n_cameras],
            start_ms=T0 + (i // n_cameras) * SEGMENT_MS,
            end_ms=T0 + (i // n_cameras + 1) * SEGMENT_MS,
            size_bytes=SEGMENT_BYTES + rng.randrange(-200_000, 200_000),
            path=f"{cameras[i % n_cameras]}/{i}.mp4",
        )
        for i in range(n_segments)
    ]
    # The index hands rows over in no particular order; don't flatter the sort.
    rng.shuffle(segments)
    marks = [random_mark(rng, cameras, span_ms) for _ in range(n_marks)]
    # Days short enough that a share of the span has aged out, so both scenarios delete.
    span_days = span_ms / DAY_MS
    policies = {
        cam: CameraPolicy(mode=MODES[i % len(MODES)], days=span_days * rng.uniform(0.5, 1.5))
        for i, cam in enumerate(cameras)
    }
    used = sum(s.size_bytes for s in segments)
    return Index(segments, marks, policies, now_ms=T0 + span_ms + 60_000, used_bytes=used)


def random_mark(rng: random.Random, cameras: list[str], span_ms: int) -> Mark:
    start = T0 + rng.randrange(span_ms)
    roll = rng.random()
    end = None if roll < 0.01 else start + rng.randrange(2_000, 120_000)
    keep = T0 + span_ms + rng.randrange(DAY_MS, 30 * DAY_MS) if roll > 0.95 else None
    return Mark(camera=rng.choice(cameras), kind=rng.choice(("motion", "event")),
                start_ms=start, end_ms=end, keep_until_ms=keep)


def run_scenario(index: Index, pressure: bool) -> RetentionPlan:
    used = index.used_bytes
    if pressure:  # cap at a quarter of the index, and the disk is short of its floor too
        return plan_retention(index.segments, index.marks, index.policies, now_ms=index.now_ms,
                              used_bytes=used, free_bytes=used // 10, max_bytes=used // 4,
                              min_free_bytes=used // 2)
    # only age decides
    return plan_retention(index.segments, index.marks, index.policies, now_ms=index.now_ms,
                          used_bytes=used, free_bytes=10 * used, max_bytes=None,
                          min_free_bytes=None)


def median_ms(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    times = []
    for _ in range(max(1, runs)):
        began = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--marks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    index = build_index(args.segments, args.cameras, args.marks, args.seed)

    sort_ms, _ = median_ms(lambda: sorted(index.segments, key=attrgetter("start_ms")), args.runs)
    print(f"{args.segments} segments, {args.cameras} cameras, {args.marks} marks, "
          f"median of {args.runs} runs\n")
    print("| scenario | median ms | deletions | shortfall bytes | × sorted() |")
    print("|---|---:|---:|---:|---:|")
    for name, pressure in (("pressure", True), ("no pressure", False)):
        ms, plan = median_ms(partial(run_scenario, index, pressure), args.runs)
        reasons = Counter(d.reason for d in plan.deletions)
        by_reason = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items()))
        print(f"| {name} | {ms:.1f} | {len(plan.deletions)} ({by_reason}) | "
              f"{plan.shortfall_bytes} | {ms / sort_ms:.1f} |")
    print(f"| sorted() by start_ms (baseline) | {sort_ms:.1f} | – | – | 1.0 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
