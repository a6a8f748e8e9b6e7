"""Cost of one health alert evaluation (``Observer.observe`` + ``Episodes.step``) with N
cameras, against stand-ins for the runtime's parts (the real disk check included: it calls
``shutil.disk_usage`` on the recordings path). Prints the median and p99 in microseconds.

    python bench/health_tick_bench.py [--cameras 16] [--ticks 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from types import SimpleNamespace

from campy.alerts.health import Episodes, Observer
from campy.config.model import HealthAlertsRaw


def _runtime(n: int, path: str) -> SimpleNamespace:
    import shutil

    now_ms = int(time.time() * 1000)
    cams = {f"cam{i}": SimpleNamespace(enabled=True) for i in range(n)}
    health = {name: SimpleNamespace(state="offline" if i % 4 == 0 else "online", message="no data",
                                    since_ms=now_ms - 60_000) for i, name in enumerate(cams)}
    recs = {name: SimpleNamespace(segment_seconds=10, last_segment_end_ms=now_ms - 5_000, state="recording",
                                  error=None) for name in cams}
    det = {name: SimpleNamespace(restarts=0, error=None) for name in cams}

    def under_pressure() -> bool:
        return shutil.disk_usage(path).free < 0

    return SimpleNamespace(
        config=SimpleNamespace(cameras=cams),
        health=SimpleNamespace(go2rtc_up=True, get=health.__getitem__),
        recording=SimpleNamespace(recorders=recs, last_retention=None, given_up=[], under_pressure=under_pressure),
        detection=SimpleNamespace(status=det, service=SimpleNamespace(restarts=0)),
        server=SimpleNamespace(restarts=0, running=True, last_error=""),
        config_error=None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--ticks", type=int, default=2000)
    args = ap.parse_args()
    h = HealthAlertsRaw()
    with tempfile.TemporaryDirectory() as d:
        rt = _runtime(args.cameras, d)
        obs, eps = Observer(), Episodes(clear_after_s=h.clear_after_s)
        took = []
        for i in range(args.ticks):
            t0 = time.perf_counter()
            present = obs.observe(rt, h, now_s=i * 5.0, now_ms=int(time.time() * 1000))
            eps.step(present, now_s=i * 5.0, now_ms=int(time.time() * 1000))
            took.append((time.perf_counter() - t0) * 1e6)
    took.sort()
    print(f"health tick, {args.cameras} cameras, {args.ticks} ticks: median {statistics.median(took):.0f} µs, "
          f"p99 {took[int(len(took) * 0.99) - 1]:.0f} µs, max {took[-1]:.0f} µs")


if __name__ == "__main__":
    main()
