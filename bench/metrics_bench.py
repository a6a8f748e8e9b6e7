"""What does a ``GET /metrics`` scrape cost with 16 cameras? A program.

A real ``campy serve`` (go2rtc, a recorder per camera, retention, health polling) with
``--cameras`` cameras, all fed by one simulated camera's low-resolution sub stream (each
camera is its own go2rtc stream, its own recorder and its own rows: a scrape does the same
work per camera as with real ones; the simulator's ffmpeg copies pre-encoded files, so it
costs little CPU). Once every camera is online and has recorded, ``--rounds`` rounds each
make three requests, in a rotating order, over one keep-alive connection per kind:

- ``GET /healthz`` (no auth, no work: the floor of a request),
- ``GET /api/cameras`` with an admin API token (the JSON API's camera list),
- ``GET /metrics`` with a token of role ``metrics``.

Times are client-side round trips (same box), in ms: median, p90 and max. The size of the
exposition and its sample count are printed beside. Run from the repo root:

    .venv/bin/python bench/metrics_bench.py --cameras 16 --rounds 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tests.helpers import CampyProcess, api, free_port, wait_until, write_config  # noqa: E402

PASSWORD = "bench-cam-pw-1"


def _ms(values: list[float]) -> str:
    v = sorted(values)
    p90 = v[min(len(v) - 1, int(len(v) * 0.9))]
    return f"{statistics.median(v):7.2f} | {p90:7.2f} | {v[-1]:7.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    from campy.sim.camera import SimCamera

    sim = SimCamera("benchsim", username="admin", password=PASSWORD, main_codec="h264", audio=False)
    handle = sim.run_in_thread()
    with tempfile.TemporaryDirectory(prefix="metrics-bench-") as tmp:
        port = free_port()
        cams = [{"name": f"cam{i:02d}", "main": sim.sub_url, "username": "admin",
                 "password": "!secret sim_password"} for i in range(1, args.cameras + 1)]
        cfg = write_config(Path(tmp) / "campy.yaml", cams, port=port, password_secret=PASSWORD,
                           recording={"segment_seconds": 2})
        proc = CampyProcess(cfg, port)
        try:
            admin = proc.client()
            admin_token = api(admin, "POST", "/api/tokens", json={"name": "bench", "role": "admin"}).json()["token"]
            metrics_token = api(admin, "POST", "/api/tokens",
                                json={"name": "prometheus", "role": "metrics"}).json()["token"]
            wait_until(lambda: all(c["state"] == "online" for c in admin.get("/api/cameras").json()),
                       timeout=180, what=f"all {args.cameras} cameras online")
            wait_until(lambda: len([c for c in admin.get("/api/storage").json()["cameras"] if c["segments"]])
                       == args.cameras, timeout=180, what="a recorded segment from every camera")
            clients = {
                "GET /healthz": (httpx.Client(base_url=proc.base_url, timeout=30), "/healthz"),
                "GET /api/cameras": (httpx.Client(base_url=proc.base_url, timeout=30,
                                                  headers={"Authorization": f"Bearer {admin_token}"}),
                                     "/api/cameras"),
                "GET /metrics": (httpx.Client(base_url=proc.base_url, timeout=30,
                                              headers={"Authorization": f"Bearer {metrics_token}"}), "/metrics"),
            }
            times: dict[str, list[float]] = {k: [] for k in clients}
            names = list(clients)
            for _ in range(10):  # warm-up: connections, caches, the worker threads
                for c, url in clients.values():
                    assert c.get(url).status_code == 200
            for i in range(args.rounds):
                order = names[i % 3:] + names[:i % 3]
                for key in order:
                    c, url = clients[key]
                    t0 = time.perf_counter()
                    r = c.get(url)
                    times[key].append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, (key, r.status_code, r.text[:200])
            text = clients["GET /metrics"][0].get("/metrics").text
            samples = sum(len(f.samples) for f in text_string_to_metric_families(text))
            print(f"\n{args.cameras} cameras, {args.rounds} rounds; /metrics: {len(text)} bytes, "
                  f"{samples} samples\n")
            print("| request | median ms | p90 ms | max ms |")
            print("|---|---|---|---|")
            for key in names:
                print(f"| {key} | {_ms(times[key])} |")
            for c, _ in clients.values():
                c.close()
        finally:
            left = proc.stop()
            handle.stop()
            if left:
                print(f"processes left behind: {left}", file=sys.stderr)


if __name__ == "__main__":
    main()
