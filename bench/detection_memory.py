"""Detection memory and inference throughput for N cameras: the shared inference service
against the old design (each worker loads its own model), measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/detection_memory.py [--cameras 16] [--seconds 60] [--runs 1]

For each mode (``CAMPY_DETECTION_INFERENCE=shared`` / ``per-worker``) it starts a real CamPy
(go2rtc, the real YOLOX-Nano from ``../shared/models``) with ``--cameras`` cameras that all
watch the simulator's busy "walker" sub stream (a bright block crossing a street for 8 s of
every 12 s, so motion and the model run on two thirds of the frames), detect at 5 fps,
record nothing. After the workers run and a warm-up, it samples over ``--seconds``:

* memory of the detection processes — every worker, its ffmpeg decoder, and the inference
  service — as RSS (counts shared library pages once per process, so it overstates a sum),
  PSS (shared pages split between the processes that map them: the honest total) and USS
  (pages only that process holds); medians of the samples, MiB;
* inference throughput: motion frames the model looked at per second, all cameras together
  (the workers' ``inferences`` counters), frames the model could not look at (``objects_skipped``:
  service behind or away), and the median detect fps per camera.

The figures share the machine with whatever else runs on it. Under contention the throughput
is what the scheduler gave each mode: with Linux's autogroups (on by default) every session
gets an equal share, and the old design runs 16 sessions of model against the new one's one.
So the bench also reports CPU by role and inferences per CPU-second of the whole detection
(workers + decoders + service), and, first, a capacity run: ``--cameras`` processes that
send the busy frames' motion crops as fast as they are answered, either each to its own
detector (the old design) or all to one service, every process in the bench's own session so
both designs get the same share of the machine (``--capacity-seconds``, ``--runs``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FPS = 5.0
MiB = 2**20


def _default_model() -> Path:
    """Where tests look for it too: $CAMPY_SHARED_MODELS, ../shared/models, /work/shared/models."""
    from tests.detection.conftest import REAL_MODEL

    return REAL_MODEL


def _roles(root_pid: int) -> dict[str, list]:
    import psutil

    roles: dict[str, list] = {"workers": [], "decoders": [], "service": []}
    for p in psutil.Process(root_pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            cmd = " ".join(p.cmdline())
            if "campy.detection.worker" in cmd:
                roles["workers"].append(p)
                roles["decoders"] += [k for k in p.children() if "ffmpeg" in k.name()]
            elif "campy.detection.inference" in cmd:
                roles["service"].append(p)
    return roles


def _memory(roles: dict[str, list]) -> dict[str, tuple[float, float, float]]:
    """Role → (RSS, PSS, USS) summed, MiB."""
    import psutil

    out = {}
    for role, procs in roles.items():
        rss = pss = uss = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                m = p.memory_full_info()
                rss, pss, uss = rss + m.rss, pss + m.pss, uss + m.uss
        out[role] = (rss / MiB, pss / MiB, uss / MiB)
    return out


def _cpu(roles: dict[str, list]) -> dict[str, float]:
    """Role → CPU seconds (user + system) used so far."""
    import psutil

    out = {}
    for role, procs in roles.items():
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        out[role] = total
    return out


def measure(mode: str, model: str, cameras: int, seconds: float, warmup: float) -> dict:
    from campy.sim.camera import SimCamera
    from tests.helpers import CampyProcess, free_port, wait_until, write_config

    sim = SimCamera("walker", password="pw", main_codec="h264", sub_scene="walker")
    handle = sim.run_in_thread()
    tmp = Path(tempfile.mkdtemp(prefix=f"campy-detmem-{mode}-"))
    proc = None
    try:
        port = free_port()
        top = f"detection: {json.dumps({'detector': {'model': model}})}\n"
        cfg = write_config(tmp / "campy.yaml", [
            {"name": f"cam{i:02d}", "main": sim.main_url, "sub": sim.sub_url, "username": "admin",
             "password": "!secret sim_password", "detect": {"fps": FPS}, "record": {"enabled": False}}
            for i in range(cameras)], port=port, password_secret="pw", extra_top=top)
        proc = CampyProcess(cfg, port, env={"CAMPY_DETECTION_INFERENCE": mode})
        c = proc.client()

        def status() -> dict:
            return c.get("/api/detection/status").json()

        wait_until(lambda: len(s := status()) == cameras and all(v["state"] == "running" and v["fps"] > 0
                                                                 and v["objects_state"] == "ready"
                                                                 for v in s.values()),
                   timeout=300, what=f"{cameras} workers running ({mode})")
        time.sleep(warmup)  # a bench, not a test: let the decoders and models settle
        roles = _roles(proc.proc.pid)
        first = status()
        cpu0 = _cpu(roles)
        t0 = time.monotonic()
        samples = []
        while time.monotonic() - t0 < seconds:
            samples.append(_memory(roles))
            time.sleep(max(0.0, min(5.0, seconds - (time.monotonic() - t0))))
        last = status()
        took = time.monotonic() - t0
        cpu = {role: (v - cpu0[role]) / took * 100 for role, v in _cpu(roles).items()}
        looked = sum(last[n]["inferences"] - first[n]["inferences"] for n in last)
        skipped = sum(last[n]["objects_skipped"] - first[n]["objects_skipped"] for n in last)
        mem = {role: tuple(statistics.median(s[role][k] for s in samples) for k in range(3)) for role in samples[0]}
        service = c.get("/api/detection/service").json()
        return {"mode": mode, "mem": mem, "cpu": cpu, "counts": {r: len(p) for r, p in roles.items()},
                "per_s": looked / took, "skipped_per_s": skipped / took,
                "fps": statistics.median(v["fps"] for v in last.values()),
                "rtt_ms": statistics.median(v["inference_ms"] or 0.0 for v in last.values()),
                "model_ms": service.get("inference_ms")}
    finally:
        if proc is not None:
            proc.stop()
        handle.stop()


def _busy_work() -> list[tuple]:
    """(frame, motion boxes) of the walker clip's busy part, as the worker would ask about them."""
    from campy.detection.motion import MotionDetector
    from campy.sim.media import SUB_WALKER, ensure_clip

    sys.path.insert(0, str(ROOT / "bench"))
    from detection_bench import frames_of

    busy, _ = frames_of(ensure_clip(SUB_WALKER))
    motion = MotionDetector(640, 360)
    for f in busy[:5]:
        motion.detect(f)
    work = [(f, boxes) for f in busy if (boxes := motion.detect(f))]
    return work


def _child(kind: str, model: str, address: str, seconds: float) -> None:
    """One capacity-bench process: loops over the busy frames for ``seconds``, prints a count."""
    work = _busy_work()
    done = 0
    if kind == "per-worker":
        from campy.detection.objects import DetectorConfig, load_detector

        det = load_detector(DetectorConfig(model=model, threads=1))
        print("ready", flush=True)
        sys.stdin.readline()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame, boxes = work[done % len(work)]
            det.detect(frame, regions=boxes)
            done += 1
    else:
        from campy.detection.inference_client import InferenceClient

        client = InferenceClient(address)
        assert client.wait_ready(60)
        print("ready", flush=True)
        sys.stdin.readline()
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            frame, boxes = work[i % len(work)]
            if client.submit(frame, boxes) is not None:
                i += 1
            for r in client.replies(timeout=0.05):
                done += r.detections is not None
        for r in client.replies(timeout=2.0):  # answers still on their way count too
            done += r.detections is not None
    print(done, flush=True)


def capacity(mode: str, model: str, procs: int, seconds: float) -> float:
    """Inferences per second that ``procs`` processes asking as fast as they can get, all in
    the bench's own session (one autogroup, so both designs get the same CPU share)."""
    import secrets
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    service = None
    address = f"@campy-bench-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        if mode == "shared":
            service = subprocess.Popen([sys.executable, "-m", "campy.detection.inference"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=env)
            assert service.stdin and service.stdout
            service.stdin.write(json.dumps({"address": address, "detector": {"model": model}}) + "\n")
            service.stdin.close()
            for line in service.stdout:
                if json.loads(line)["state"] == "ready":
                    break
        kids = [subprocess.Popen([sys.executable, __file__, "--child", mode, "--model", model, "--address", address,
                                  "--seconds", str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, env=env) for _ in range(procs)]
        for k in kids:
            assert k.stdout and k.stdout.readline().strip() == "ready"
        for k in kids:  # go, all at once
            assert k.stdin
            k.stdin.write("\n")
            k.stdin.flush()
        counts = [int(k.communicate()[0].strip()) for k in kids]
        return sum(counts) / seconds
    finally:
        if service is not None:
            service.terminate()
            service.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(_default_model()))
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=15.0)
    ap.add_argument("--modes", default="shared,per-worker")
    ap.add_argument("--capacity-seconds", type=float, default=20.0,
                    help="also measure capacity: --cameras processes asking as fast as they can (0: skip)")
    ap.add_argument("--runs", type=int, default=3, help="capacity runs per mode (median)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.model, args.address, args.seconds)
        return 0
    if not Path(args.model).is_file():
        print(f"model not found: {args.model}", file=sys.stderr)
        return 2
    modes = args.modes.split(",")
    caps: dict[str, list[float]] = {m: [] for m in modes}
    if args.capacity_seconds > 0:
        for _ in range(args.runs):  # interleaved, so a change of load on the box hits both
            for m in modes:
                caps[m].append(capacity(m, args.model, args.cameras, args.capacity_seconds))
    results = [measure(m, args.model, args.cameras, args.seconds, args.warmup) for m in modes] if args.seconds > 0 else []
    _print_live(args, results)
    if args.capacity_seconds > 0:
        print(f"\nCapacity: {args.cameras} processes send the busy frames' motion crops as fast as they are "
              f"answered, {args.capacity_seconds:g} s, median of {args.runs} interleaved runs, all in one "
              "session (the same CPU share for both designs):\n")
        print("| mode | inferences/s (runs) | median | × base |")
        print("|---|---|---:|---:|")
        base_cap = statistics.median(caps[modes[-1]])
        for m in modes:
            med = statistics.median(caps[m])
            print(f"| {m} | {', '.join(f'{v:.1f}' for v in caps[m])} | {med:.1f} | {med / base_cap:.2f} |")
    return 0


def _print_live(args: argparse.Namespace, results: list[dict]) -> None:
    if not results:
        return
    base = results[-1]
    print(f"{args.cameras} cameras on the simulator's walker sub stream (busy), {FPS:g} fps, YOLOX-Nano, "
          f"{args.seconds:g} s after {args.warmup:g} s warm-up; memory: medians of samples, MiB\n")
    print("| mode | workers RSS / PSS / USS | decoders (ffmpeg) RSS / PSS | service RSS / PSS "
          "| detection total RSS | **total PSS** | PSS × base |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        m = r["mem"]
        rss = sum(v[0] for v in m.values())
        pss = sum(v[1] for v in m.values())
        base_pss = sum(v[1] for v in base["mem"].values())
        w, d, s = m["workers"], m["decoders"], m["service"]
        print(f"| {r['mode']} | {w[0]:.0f} / {w[1]:.0f} / {w[2]:.0f} | {d[0]:.0f} / {d[1]:.0f} "
              f"| {s[0]:.0f} / {s[1]:.0f} | {rss:.0f} | **{pss:.0f}** | {pss / base_pss:.2f} |")
    print("\n| mode | inferences/s (all cameras) | × base | skipped/s | detect fps per camera (median) "
          "| worker's inference ms (median) | service model ms (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = r["per_s"] / base["per_s"] if base["per_s"] else float("nan")
        model_ms = f"{r['model_ms']:.1f}" if r["model_ms"] else "–"
        print(f"| {r['mode']} | {r['per_s']:.1f} | {ratio:.2f} | {r['skipped_per_s']:.2f} | {r['fps']:.2f} "
              f"| {r['rtt_ms']:.1f} | {model_ms} |")
    print("\n| mode | CPU % workers | decoders | service | detection total | inferences per CPU-second "
          "(whole detection) | × base |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        total = sum(r["cpu"].values())
        eff = r["per_s"] / (total / 100) if total else 0.0
        base_eff = base["per_s"] / (sum(base["cpu"].values()) / 100)
        print(f"| {r['mode']} | {r['cpu']['workers']:.0f} | {r['cpu']['decoders']:.0f} | {r['cpu']['service']:.0f} "
              f"| {total:.0f} | {eff:.1f} | {eff / base_eff:.2f} |")
    print("\nPer worker (median of the per-role sums ÷ count): " + "; ".join(
        f"{r['mode']}: RSS {r['mem']['workers'][0] / max(1, r['counts']['workers']):.0f}, "
        f"PSS {r['mem']['workers'][1] / max(1, r['counts']['workers']):.0f} MiB" for r in results))


if __name__ == "__main__":
    sys.exit(main())
