"""How long does a whole retention pass take on a big index? A program, not a test.

``bench/retention_bench.py`` times the pure decision (``plan_retention``); this one times
what CamPy actually runs on its schedule: ``await RecordingManager.retention_pass()``, i.e.
the SQL read of every segment and mark, the plan, marking the doomed rows ``deleting``,
one unlink attempt per doomed file, removing the rows (and the empty-hour ``rmdir``
attempts), and pruning old marks.

Setup: a temporary data dir with a real SQLite DB (``campy.db.database.open_db``, WAL, the
real schema and indexes) holding ``--segments`` rows for ``--cameras`` cameras, inserted in
time order as recorders would (consecutive 10 s segments per camera, ~7.7 MB each ±10 %, as
a 4K H.265 camera at 6 Mbit/s writes, real ``<camera>/<day>/<hour>/<start>.mp4`` paths).
No file exists on disk: every unlink meets ENOENT, which ``SegmentStore.delete`` treats as
already gone, so the pass does all of its DB work but no real file deletion (``freed`` is 0).
The ``RecordingManager`` runs on a config loaded from a temporary ``campy.yaml`` (all
cameras continuous, ``days`` = 1.25 × the recorded span rounded up to whole days,
``min_free: null``, no size cap)
and a ``campy.clock.ManualClock``:

- (a) *no deletion*: the clock a minute after the newest segment; nothing is old enough.
  One DB, ``--runs`` passes (nothing changes between them).
- (b) *~20 % deleted*: the clock at the oldest fifth's end + ``days``, so exactly the oldest
  fifth of every camera has expired. The DB is rebuilt before every run.

For comparison, the same run also times, on the (a) DB with the clock of each scenario:
``index.all_segments()`` (the SQL read alone), ``mgr.plan()`` (SQL reads + decision, what a
pass does before deleting) and ``plan_retention`` on already-read segments (the decision
alone), after one untimed ``mgr.plan()`` as a warm-up. Medians over ``--runs``.

Event-loop blocking: while a pass runs, a ticker task sleeps 5 ms at a time and records how
late each wake-up is; the table gives the largest lateness (ms) for the pass run on the loop
(``mgr._retention_work`` called inline: what CamPy did before) and for ``retention_pass()``
(the same work in a worker thread on its own SQLite connection), in the same run. Not measured: real unlinks of large files (filesystem
dependent; a real pass would add one unlink per deleted file on top), concurrent writers
(recorders inserting rows while the pass runs). Run from the repo root:

    .venv/bin/python bench/retention_db_bench.py --segments 100000 --cameras 8 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campy.clock import ManualClock  # noqa: E402
from campy.config import load_config  # noqa: E402
from campy.db.database import open_db  # noqa: E402
from campy.recording.layout import segment_relpath  # noqa: E402
from campy.recording.manager import RecordingManager  # noqa: E402
from campy.recording.model import DAY_MS, CameraPolicy  # noqa: E402
from campy.recording.retention import plan_retention  # noqa: E402

SEGMENT_MS = 10_000
SEGMENT_BYTES = 7_700_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass
class Bench:
    root: Path
    db: Any
    clock: ManualClock
    mgr: RecordingManager
    build_s: float

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Shape:
    segments: int
    cameras: int
    seed: int

    @property
    def per_camera(self) -> int:
        return -(-self.segments // self.cameras)

    @property
    def span_ms(self) -> int:
        return self.per_camera * SEGMENT_MS

    @property
    def days(self) -> int:
        # A whole number: campy.yaml rejects fractional floats (ruamel's ScalarFloat fails
        # the config's float check), so ``days: 1.8`` cannot be used here.
        return max(1, math.ceil(1.25 * self.span_ms / DAY_MS))

    @property
    def days_ms(self) -> int:
        return round(self.days * DAY_MS)  # as the planner rounds it

    def now_no_deletion(self) -> int:
        return T0 + self.span_ms + 60_000

    def now_fifth_expired(self) -> int:
        # a segment expires when now >= end_ms + days: exactly those ending by the fifth mark
        return T0 + (self.per_camera // 5) * SEGMENT_MS + self.days_ms


def build(shape: Shape) -> Bench:
    root = Path(tempfile.mkdtemp(prefix="campy-retdb-"))
    try:
        return _build(shape, root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _build(shape: Shape, root: Path) -> Bench:
    began = time.perf_counter()
    data = root / "data"
    cams = [f"cam{i}" for i in range(shape.cameras)]
    lines = [f"server:\n  data_dir: {data}\n",
             "recording:\n  segment_seconds: 10\n  min_free: null\n  grace_seconds: 120\n",
             "cameras:\n"]
    for cam in cams:
        lines.append(f"  {cam}:\n    main: rtsp://192.0.2.10/{cam}\n"
                     f"    record:\n      mode: continuous\n      days: {shape.days!r}\n")
    cfg_path = root / "campy.yaml"
    cfg_path.write_text("".join(lines))
    cfg = load_config(cfg_path)
    db = open_db(data / "campy.db")
    try:
        return _fill(shape, root, cfg, db, cams, began)
    except BaseException:
        db.close()
        raise


def _fill(shape: Shape, root: Path, cfg: Any, db: Any, cams: list[str], began: float) -> Bench:
    Path(cfg.recording.path).mkdir(parents=True, exist_ok=True)  # so disk_usage() works, as live

    rng = random.Random(shape.seed)
    rows = []
    for i in range(shape.segments):
        cam = cams[i % shape.cameras]
        start = T0 + (i // shape.cameras) * SEGMENT_MS
        rows.append((cam, start, start + SEGMENT_MS, SEGMENT_BYTES + rng.randrange(-770_000, 770_000),
                     segment_relpath(cam, start), "hevc", 1))
    with db.write():
        db.conn.executemany(
            "INSERT INTO segments (camera, start_ms, end_ms, size_bytes, path, codec, audio) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # start each pass from the same WAL state
    clock = ManualClock(shape.now_no_deletion() / 1000)
    mgr = RecordingManager(db=db, clock=clock, scrub=lambda s: s, config=lambda: cfg,
                           source_url=lambda cam: f"rtsp://127.0.0.1:1/{cam}")
    return Bench(root, db, clock, mgr, time.perf_counter() - began)


def set_now(b: Bench, now_ms: int) -> None:
    b.clock.t = now_ms / 1000


async def timed(fn: Callable[[], Awaitable[Any] | Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = fn()
    if asyncio.iscoroutine(result):
        result = await result
    return (time.perf_counter() - began) * 1000, result


async def max_lag(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """(largest wake-up lateness of a 5 ms ticker in ms while ``fn`` runs, its result)."""
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - t - 0.005) * 1000)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    result = await fn()
    done = True
    await task
    return max(lags), result


def on_loop(b: Bench) -> Callable[[], Awaitable[Any]]:
    async def blocking() -> Any:
        return b.mgr._retention_work("bench", b.mgr.store)  # the whole pass inline, on the loop
    return blocking


def policies(b: Bench) -> tuple[dict[str, CameraPolicy], CameraPolicy]:
    from campy.recording.manager import policy_of

    cfg = b.mgr._config()
    grace = cfg.recording.grace_seconds * 1000
    return ({n: policy_of(c, grace_ms=grace) for n, c in cfg.cameras.items()},
            CameraPolicy(grace_ms=grace))


async def run(shape: Shape, runs: int) -> list[tuple[str, float, str]]:
    out: list[tuple[str, float, str]] = []
    a = build(shape)
    try:
        print(f"built {shape.segments} rows in {a.build_s:.2f} s; DB "
              f"{(a.root / 'data' / 'campy.db').stat().st_size / 1e6:.1f} MB", flush=True)
        pols, default = policies(a)
        a.mgr.plan()  # untimed warm-up: whatever is timed first must not pay for a cold start alone
        for label, now in (("(a) no deletion", shape.now_no_deletion()),
                           ("(b) oldest fifth expired", shape.now_fifth_expired())):
            set_now(a, now)
            read, plan, pure = [], [], []
            for _ in range(runs):
                read.append((await timed(a.mgr.index.all_segments))[0])
                ms, p = await timed(a.mgr.plan)
                plan.append(ms)
                segs, marks, used = a.mgr.index.all_segments(), a.mgr.index.all_marks(), a.mgr.index.used_bytes()
                ms, p2 = await timed(partial(
                    plan_retention, segs, marks, pols, now_ms=now, used_bytes=used, free_bytes=None,
                    max_bytes=None, min_free_bytes=None, default_policy=default))
                pure.append(ms)
                assert len(p.deletions) == len(p2.deletions)
            n_del = f"{len(p.deletions)} to delete"
            out.append((f"{label}: index.all_segments() (SQL read alone)", statistics.median(read),
                        f"{len(segs)} rows"))
            out.append((f"{label}: mgr.plan() (SQL reads + plan)", statistics.median(plan), n_del))
            out.append((f"{label}: plan_retention() alone (segments already read)", statistics.median(pure), n_del))

        set_now(a, shape.now_no_deletion())
        times, lag_loop, lag_thread = [], [], []
        for _ in range(runs):
            ms, res = await timed(a.mgr.retention_pass)
            assert res.deleted == 0, res
            times.append(ms)
            lag_loop.append((await max_lag(on_loop(a)))[0])
            lag_thread.append((await max_lag(a.mgr.retention_pass))[0])
        out.insert(0, ("(a) no deletion: full retention_pass()", statistics.median(times),
                       f"deleted {res.deleted}"))
        out.append(("(a) max event-loop lag: pass on the loop (before)", statistics.median(lag_loop), "baseline"))
        out.append(("(a) max event-loop lag: retention_pass() in a thread (now)", statistics.median(lag_thread),
                    f"{statistics.median(lag_thread) / statistics.median(lag_loop):.3f} × baseline"))
    finally:
        a.close()

    times, deleted, lag_loop, lag_thread = [], [], [], []
    for i in range(runs):
        b = build(shape)
        try:
            set_now(b, shape.now_fifth_expired())
            ms, res = await timed(b.mgr.retention_pass)
            left = b.db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
            assert left == shape.segments - res.deleted, (left, res)
            times.append(ms)
            deleted.append(res.deleted)
        finally:
            b.close()
        for variant, lags in ((on_loop, lag_loop), (lambda x: x.mgr.retention_pass, lag_thread)):
            c = build(Shape(shape.segments, shape.cameras, shape.seed + i))
            try:
                set_now(c, shape.now_fifth_expired())
                lag, res = await max_lag(variant(c))
                assert res.deleted > 0, res
                lags.append(lag)
            finally:
                c.close()
    out.append(("(b) max event-loop lag: pass on the loop (before)", statistics.median(lag_loop), "baseline"))
    out.append(("(b) max event-loop lag: retention_pass() in a thread (now)", statistics.median(lag_thread),
                f"{statistics.median(lag_thread) / statistics.median(lag_loop):.3f} × baseline"))
    out.insert(1, ("(b) oldest fifth expired: full retention_pass() (fresh DB each run)",
                   statistics.median(times),
                   f"deleted {statistics.median(deleted):.0f} ({statistics.median(deleted) / shape.segments:.1%})"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.segments < 5 * args.cameras or args.cameras < 1 or args.runs < 1:
        ap.error("need --cameras ≥ 1, --runs ≥ 1 and at least 5 segments per camera")
    shape = Shape(args.segments, args.cameras, args.seed)
    rows = asyncio.run(run(shape, args.runs))
    print(f"\n{args.segments} segments ({shape.per_camera} per camera × {args.cameras} cameras, "
          f"{shape.span_ms / DAY_MS:.2f} days each), days = {shape.days:g}, no marks, "
          f"files absent (unlink → ENOENT); median of {args.runs} runs\n")
    print("| what | median ms | notes |")
    print("|---|---:|---|")
    for what, ms, note in rows:
        print(f"| {what} | {ms:.1f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
