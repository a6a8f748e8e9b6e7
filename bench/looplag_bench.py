"""Event-loop lag of CamPy with 16 cameras, with and without its busy jobs. A program, not a test.

Two runs of a real ``campy serve`` on loopback, each ``--minutes`` long (default 10;
``--quick``: 2), each with 16 simulated cameras that are **sub-only** (the simulator's
640×360 H.264 sub stream configured as each camera's only stream; recording continuous,
detection off), so 16 recorders run as in production but a small box copes:

* **idle**: no job runs during the measurement (``retention_interval_seconds`` is a day, the
  daily jobs are not due, nobody scrapes);
* **busy**: the same cameras, and the recording index seeded with ``--segments`` (100k)
  synthetic rows (each with an empty file, as recovery drops rows without one; within the
  retention window, so every pass reads and plans all of them), ``retention_interval_seconds: 5``; the nightly database job run every minute
  (``POST /api/system/jobs/run``); a backup job run every minute when the build has one
  (a scheduled job with id ``backup`` in ``GET /api/system/jobs``; else skipped, and the
  table says so); and a scrape every 2 s: ``GET /metrics`` if it answers 200, else
  ``GET /api/cameras`` + ``GET /api/storage``.

Lag is read from CamPy itself: ``GET /api/system/looplag?histogram=true`` returns the
loop-lag monitor's (campy/looplag.py: a 100 ms sleep, its overshoot) samples per whole
millisecond since start; the reading at the start of the measurement (after a 30 s warm-up)
is subtracted from the one at its end, so startup does not count. p50/p99 are whole-ms
buckets; max is the largest bucket (so "12" means 12-13 ms). Run from the repo root:

    .venv/bin/python bench/looplag_bench.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import CampyProcess, api, free_port, wait_until, write_config  # noqa: E402

CAM_PW = "bench-Cam!pw"
CAMERAS = 16
SEGMENT_MS = 10_000
WARMUP_S = 30


def seed_index(data_dir: Path, cams: list[str], n: int) -> None:
    """``n`` segment rows spread over the cameras, ending an hour ago (inside retention)."""
    from campy.db.database import open_db
    from campy.recording.layout import segment_relpath

    db = open_db(data_dir / "campy.db")
    per = -(-n // len(cams))
    t0 = int(time.time() * 1000) - 3_600_000 - per * SEGMENT_MS
    rows = []
    for i in range(n):
        cam = cams[i % len(cams)]
        start = t0 + (i // len(cams)) * SEGMENT_MS
        rows.append((cam, start, start + SEGMENT_MS, 250_000, segment_relpath(cam, start), "h264", 0))
    with db.write():
        db.conn.executemany("INSERT INTO segments (camera, start_ms, end_ms, size_bytes, path, codec, audio) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()
    # an (empty) file per row: startup recovery drops rows whose files are gone
    rec = data_dir / "recordings"
    for row in rows:
        f = rec / row[4]
        f.parent.mkdir(parents=True, exist_ok=True)
        f.touch()


def hist_stats(h: Counter[int]) -> dict[str, float]:
    total = sum(h.values())
    if not total:
        return {"samples": 0, "p50": 0, "p99": 0, "max": 0}

    def q(p: float) -> int:
        rank, seen = p * (total - 1), 0
        for ms in sorted(h):
            seen += h[ms]
            if seen > rank:
                return ms
        return max(h)

    return {"samples": total, "p50": q(0.5), "p99": q(0.99), "max": max(k for k, v in h.items() if v)}


def reading(c: Any) -> tuple[Counter[int], Counter[str]]:
    """The lag histogram and the stall sites (where the loop was during stalls), since start."""
    r = c.get("/api/system/looplag", params={"histogram": "true"})
    r.raise_for_status()
    body = r.json()
    return Counter({int(k): v for k, v in body["histogram_ms"].items()}), Counter(body.get("stall_sites") or {})


class Driver(threading.Thread):
    """The busy run's extra work: scrapes every 2 s, db-maintenance/backup every 60 s."""

    def __init__(self, campy: CampyProcess, jobs: list[str]) -> None:
        super().__init__(daemon=True)
        self.campy, self.jobs = campy, jobs
        self.stop_flag = threading.Event()
        self.scrapes = 0
        self.job_runs: Counter[str] = Counter()
        self.scrape_kind = ""

    def run(self) -> None:
        c = self.campy.client()
        with contextlib.closing(c):
            metrics = c.get("/metrics").status_code == 200
            self.scrape_kind = "GET /metrics" if metrics else "GET /api/cameras + GET /api/storage"
            last_job = 0.0
            while not self.stop_flag.wait(2.0):
                if metrics:
                    c.get("/metrics")
                else:
                    c.get("/api/cameras")
                    c.get("/api/storage")
                self.scrapes += 1
                if time.monotonic() - last_job >= 60:
                    last_job = time.monotonic()
                    for j in self.jobs:
                        if api(c, "POST", "/api/system/jobs/run", json={"id": j}).status_code == 202:
                            self.job_runs[j] += 1


def one_run(tmp: Path, sims: list[Any], *, busy: bool, minutes: float, segments: int,
            stall_ms: int) -> dict[str, Any]:
    d = tmp / ("busy" if busy else "idle")
    d.mkdir()
    port = free_port()
    cams = [{"name": s.name, "main": s.sub_url, "username": "admin", "password": "!secret sim_password",
             "detect": {"enabled": False}, "record": {"mode": "continuous", "days": 7}} for s in sims]
    rec = {"segment_seconds": 10, "retention_interval_seconds": 5 if busy else 86_400}
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=CAM_PW, recording=rec)
    if busy:
        seed_index(d / "data", [s.name for s in sims], segments)
    campy = CampyProcess(cfg, port, env={"CAMPY_LOOP_STALL_MS": str(stall_ms)})
    out: dict[str, Any] = {"run": "busy" if busy else "idle"}
    try:
        c = campy.client()
        wait_until(lambda: sum(1 for x in c.get("/api/storage").json()["cameras"]
                               if (x.get("recorder") or {}).get("state") == "recording") >= len(sims),
                   timeout=180, what="every recorder recording")
        time.sleep(WARMUP_S)  # a benchmark's warm-up, not a test's wait
        listed = {j["id"] for j in c.get("/api/system/jobs").json()["jobs"]}
        backup = "backup" in listed
        driver = Driver(campy, ["db-maintenance"] + (["backup"] if backup else [])) if busy else None
        before = reading(c)
        if driver:
            driver.start()
        time.sleep(minutes * 60)
        after = reading(c)
        if driver:
            driver.stop_flag.set()
            driver.join(10)
        out.update(hist_stats(after[0] - before[0]))
        out["sites"] = after[1] - before[1]
        jobs = {j["id"]: j for j in c.get("/api/system/jobs").json()["jobs"]}
        out["retention"] = jobs["retention"]
        if driver:
            out["scrapes"], out["scrape_kind"], out["job_runs"] = driver.scrapes, driver.scrape_kind, dict(driver.job_runs)
        out["backup"] = "run every 60 s" if backup else "skipped: no backup job on this build"
        c.close()
    finally:
        campy.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="2 minutes per run")
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--stall-ms", type=int, default=25,
                    help="CamPy's stall threshold (CAMPY_LOOP_STALL_MS): stalls over it are located")
    ap.add_argument("--runs", default="idle,busy", help="which runs, comma-separated (idle, busy)")
    args = ap.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not runs or set(runs) - {"idle", "busy"}:
        ap.error("--runs takes idle, busy or both")
    minutes = 2.0 if args.quick else args.minutes
    from campy.sim.camera import SimCamera

    sims = [SimCamera(f"s{i:02d}", password=CAM_PW, audio=False) for i in range(1, CAMERAS + 1)]
    handles = [s.run_in_thread() for s in sims]
    try:
        with tempfile.TemporaryDirectory(prefix="campy-looplag-") as tmp:
            rows = [one_run(Path(tmp), sims, busy=r == "busy", minutes=minutes, segments=args.segments,
                            stall_ms=args.stall_ms) for r in runs]
    finally:
        for h in handles:
            h.stop()
    print(f"\nEvent-loop lag, {CAMERAS} sub-only cameras (640x360 H.264, recording), {minutes:g} min per run "
          f"(CamPy's own monitor: 100 ms sleep overshoot)\n")
    print("| run | samples | p50 ms | p99 ms | max ms | retention passes (last took) | extra work |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ret = r["retention"]
        extra = (f"{r['scrapes']} scrapes ({r['scrape_kind']}), jobs run {r['job_runs']}; backup: {r['backup']}"
                 if r["run"] == "busy" else "none")
        print(f"| {r['run']} | {r['samples']} | {r['p50']} | {r['p99']} | {r['max']} | {ret['runs']} "
              f"({ret['duration_ms']} ms) | {extra} |")
    for r in rows:
        sites = ", ".join(f"{site} ({n})" for site, n in r["sites"].most_common(8)) or "none"
        print(f"\n{r['run']}: where the loop was during stalls over {args.stall_ms} ms: {sites}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
