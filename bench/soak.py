"""16-camera soak: everything on (relay, continuous recording, YOLOX-Nano detection) for minutes.

What runs: ``--cameras`` simulated RLC-810As (main 3840×2160 H.265 at 25 fps + AAC, sub
640×360 H.264 at 10 fps), in four ``campy sim`` processes. The simulators never encode live:
each stream is a pre-encoded clip (made once, cached) looped by ``ffmpeg -re -stream_loop -1
-c copy`` into RTP, which is what lets one small box serve 16 4K streams. The first
``--walkers`` cameras' sub streams show a person-sized block crossing a street; the others
the same street, empty. One real ``campy serve`` relays every camera through go2rtc, records
every main stream continuously and runs a detection worker on every sub stream at ``--fps``
with the real YOLOX-Nano (``/work/shared/models/yolox_nano.onnx``, or ``CAMPY_SHARED_MODELS``).

The window starts once every camera has an indexed segment and every detection worker reports
``running``; it lasts ``--minutes``. Sampled every ``SAMPLE_S``:

- CPU (deltas of user+system CPU time, % of one core, window mean) and RSS (median and max of
  the per-sample sum) of every process under CamPy and the simulators, by role from its
  command line: CamPy main, go2rtc (and its ffmpeg children), recorders (ffmpeg ``-f
  segment``), detection workers (the Python worker and its ffmpeg decoder), an inference
  service if one exists (a command line naming ``inference``), the guardian, simulators;
- ``/api/detection/status`` (worker state and fps) and ``/api/cameras`` (camera state).

After the window, the program waits (up to ``segment_seconds + --index-wait``) until every
camera's index reaches the window's end, prints how long that took, stops CamPy and reads the index (``segments``) of the database: per camera, recorded seconds
in the window (union of segments, clipped) ÷ window seconds and the largest uncovered stretch.
Loop lag comes from CamPy's own monitor (``/api/status`` ``loop_lag``), read at the window's
end: since start (startup included) and over its recent window.

``--faults``: four faults spread evenly over the window, each kill -9: the recorder ffmpeg of
camera 1, the detection worker of camera 2, the inference service (skipped with a note if no
such process exists), and go2rtc. For each: the seconds until a new process took over, the
footage lost by the faulted camera(s) from the previous fault until the next one (uncovered
seconds of the index; the largest over the cameras hit), the detection lost (seconds sampled
not ``running`` or at 0 fps), and the most footage lost by any other camera in the same stretch (must be 0 but for go2rtc, which
every camera goes through).

Goals are printed beside the figures: recorded ÷ wall ≥ 0.999 and no gap > 2 s per camera,
detection at its configured fps (median ≥ 95 %), loop lag p99 < 50 ms, the stack (without
simulators) < 100 % of one core and < 2 GiB. A faults run misses the per-camera footage goals
on the faulted cameras by design; the fault table says by how much.

Loopback only (go2rtc's WebRTC port listens as CamPy configures it, which is every
interface); TCP ports are taken from ``--port-base`` upward (about 60). Stops everything it
started, also on Ctrl-C. Run from the repo root:

    .venv/bin/python bench/soak.py --minutes 10            # the soak
    .venv/bin/python bench/soak.py --minutes 10 --faults   # with the fault phase
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from campy.procs import die_with_parent  # noqa: E402
from tests.helpers import login  # noqa: E402

PASSWORD = "soak-cam-pw"
ADMIN_PASSWORD = "soak-admin-pw-1"
SAMPLE_S = 2.0
SIM_PROCS = 4
GIB = 1 << 30
ROLES = ("CamPy main", "go2rtc", "recorders", "detection workers", "inference service", "guardian",
         "simulators")


def find_model() -> Path:
    cands = [Path(os.environ["CAMPY_SHARED_MODELS"])] if os.environ.get("CAMPY_SHARED_MODELS") else []
    cands += [REPO.parent / "shared" / "models", Path("/work/shared/models")]
    for d in cands:
        if (d / "yolox_nano.onnx").is_file():
            return d / "yolox_nano.onnx"
    raise SystemExit(f"YOLOX-Nano not found in {', '.join(map(str, cands))} (set CAMPY_SHARED_MODELS)")


# -- starting and stopping ---------------------------------------------------------------

def start_sims(n: int, walkers: int, port_base: int, log_dir: Path) -> tuple[list[subprocess.Popen[str]], list[dict]]:
    """``n`` cameras in SIM_PROCS ``campy sim`` processes; returns them and the cameras' URLs."""
    # The walkers in one process, the still cameras spread over the others.
    groups: list[tuple[int, int, str]] = [(1, walkers, "walker")] if walkers else []
    still, chunks = n - walkers, max(1, SIM_PROCS - len(groups))
    per = -(-still // chunks) if still else 0
    for k in range(walkers + 1, n + 1, per or 1):
        groups.append((k, min(per, n + 1 - k), "still"))
    procs, cams = [], []
    for first, count, scene in groups:
        log = open(log_dir / f"sim{first:02d}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "campy", "sim", "--cameras", str(count), "--first", str(first),
             "--digits", "2", "--sub-scene", scene, "--json", "--password", PASSWORD,
             "--port-base", str(port_base + 3 * (first - 1))],
            cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
            preexec_fn=die_with_parent()))
    lines: queue.Queue[str] = queue.Queue()
    for p in procs:  # a reader per process: readline() blocks, and select() misses buffered lines
        threading.Thread(target=lambda out: [lines.put(x) for x in out], args=(p.stdout,), daemon=True).start()
    deadline = time.monotonic() + 600  # the first run encodes the clips
    while len(cams) < n:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"simulator did not start (see {log_dir})")
        with contextlib.suppress(queue.Empty):
            line = lines.get(timeout=1)
            if line.startswith("{"):
                cams.append(json.loads(line))
    return procs, sorted(cams, key=lambda c: c["name"])


def write_config(d: Path, cams: list[dict], *, port: int, fps: float, segment_seconds: int, model: Path) -> Path:
    lines = ["# bench/soak.py", "server:", "  host: 127.0.0.1", f"  port: {port}", f"  data_dir: {d / 'data'}",
             "  secrets_file: secrets.yaml", "go2rtc:", f"  api_port: {port + 1}", f"  rtsp_port: {port + 2}",
             f"  webrtc_port: {port + 3}", "  base_config: null", "recording:",
             f"  segment_seconds: {segment_seconds}", "  min_free: 1GB",
             f"detection: {json.dumps({'detector': {'model': str(model)}})}", "cameras:"]
    for c in cams:
        lines += [f"  {c['name']}:", f"    main: {c['main']}", f"    sub: {c['sub']}", "    username: admin",
                  "    password: !secret sim_password", f"    detect: {json.dumps({'fps': fps})}"]
    cfg = d / "campy.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    (d / "secrets.yaml").write_text(f"sim_password: {PASSWORD!r}\n")
    os.chmod(d / "secrets.yaml", 0o600)
    return cfg


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- sampling ----------------------------------------------------------------------------

def role_of(p: psutil.Process, campy_pid: int, sim_pids: set[int]) -> str | None:
    try:
        return _role_of(p, campy_pid, sim_pids)
    except psutil.Error:  # it exited while we looked
        return None


def _role_of(p: psutil.Process, campy_pid: int, sim_pids: set[int]) -> str | None:
    cmd = " ".join(p.cmdline())
    parents = p.parents()
    chain = [p.pid] + [a.pid for a in parents]
    parent_cmd = " ".join(parents[0].cmdline()) if parents else ""
    if p.pid == campy_pid:
        return "CamPy main"
    if any(x in sim_pids for x in chain):
        return "simulators"
    if campy_pid not in chain:
        return None
    if "campy.procs" in cmd:
        return "guardian"
    if "go2rtc" in p.name() or (parents and "go2rtc" in parents[0].name()):
        return "go2rtc"
    if "campy.detection.worker" in cmd or "campy.detection.worker" in parent_cmd:
        return "detection workers"
    if "inference" in cmd:
        return "inference service"
    if "-f segment" in cmd or " segment " in cmd:
        return "recorders"
    return "CamPy main"  # short-lived helpers (ffprobe, exports) count as CamPy's own cost


@dataclass
class Samples:
    cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ROLES, 0.0))
    rss: dict[str, list[int]] = field(default_factory=lambda: {r: [] for r in ROLES})
    # PSS splits a shared page between the processes that map it: summed over processes it
    # is the memory they really take together (summed RSS counts each shared library, e.g.
    # libavcodec in every ffmpeg, once per process).
    pss: dict[str, list[int]] = field(default_factory=lambda: {r: [] for r in ROLES})
    det: dict[str, list[tuple[float, str, float]]] = field(default_factory=dict)  # cam → (t, state, fps)
    cam_state: dict[str, list[str]] = field(default_factory=dict)
    last_cpu: dict[tuple[int, float], float] = field(default_factory=dict)
    reaped: list[float] = field(default_factory=list)  # CamPy's children_user+children_system


def sample_procs(s: Samples, campy_pid: int, sim_pids: set[int], *, counting: bool, since: float) -> None:
    procs: list[psutil.Process] = []
    for root in [campy_pid, *sim_pids]:
        with contextlib.suppress(psutil.Error):
            r = psutil.Process(root)
            procs += [r, *r.children(recursive=True)]
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(campy_pid).cpu_times()
        s.reaped.append(t.children_user + t.children_system)
    rss = dict.fromkeys(ROLES, 0)
    pss = dict.fromkeys(ROLES, 0)
    for p in procs:
        role = role_of(p, campy_pid, sim_pids)
        if role is None:
            continue
        try:
            with p.oneshot():
                t = p.cpu_times()
                cpu = t.user + t.system
                key = (p.pid, p.create_time())
                mem = p.memory_full_info()
                rss[role] += mem.rss
                pss[role] += getattr(mem, "pss", mem.rss)
        except psutil.Error:
            continue
        # A process born during the window counts from 0: a restart's cost is the stack's cost.
        prev = s.last_cpu.get(key, 0.0 if key[1] >= since else cpu)
        if counting:
            s.cpu_s[role] += cpu - prev
        s.last_cpu[key] = cpu
    if counting:
        for role in ROLES:
            s.rss[role].append(rss[role])
            s.pss[role].append(pss[role])


def proc_by(campy_pid: int, pred: Any) -> psutil.Process | None:
    with contextlib.suppress(psutil.Error):
        for p in psutil.Process(campy_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if pred(p, " ".join(p.cmdline())):
                    return p
    return None


# -- the measurement -----------------------------------------------------------------------

def coverage(segs: list[tuple[int, int]], t0: int, t1: int) -> tuple[float, float, list[tuple[int, int]]]:
    """Covered seconds in [t0, t1], the largest uncovered stretch (s) and the holes (ms)."""
    at, covered, holes = t0, 0, []
    for start, end in sorted(segs):
        start, end = max(start, t0), min(end, t1)
        if end <= start or end <= at:
            continue
        if start > at:
            holes.append((at, start))
        covered += end - max(start, at)
        at = end
    if at < t1:
        holes.append((at, t1))
    return covered / 1000, max((b - a for a, b in holes), default=0) / 1000, holes


def lost_in(holes: list[tuple[int, int]], a: int, b: int) -> float:
    return sum(max(0, min(y, b) - max(x, a)) for x, y in holes) / 1000


@dataclass
class Fault:
    name: str
    cameras: list[str]  # the cameras it hits (all for go2rtc)
    at_ms: int = 0
    recovered_s: float | None = None
    note: str = ""


def run(args: argparse.Namespace) -> int:
    model = find_model()
    work = Path(tempfile.mkdtemp(prefix="campy-soak-"))
    print(f"soak: {args.cameras} cameras ({args.walkers} walking), {args.minutes} min, detect {args.fps} fps, "
          f"faults {'on' if args.faults else 'off'}; work dir {work}", flush=True)
    sims: list[subprocess.Popen[str]] = []
    campy: subprocess.Popen[bytes] | None = None
    try:
        sims, cams = start_sims(args.cameras, args.walkers, args.port_base + 10, work)
        names = [c["name"] for c in cams]
        cfg = write_config(work, cams, port=args.port_base, fps=args.fps, segment_seconds=args.segment_seconds,
                           model=model)
        log = open(work / "campy.log", "w")
        campy = subprocess.Popen(
            [sys.executable, "-m", "campy", "serve", "--config", str(cfg)], cwd=REPO,
            env={**os.environ, "CAMPY_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONPATH": str(REPO)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM))
        base = f"http://127.0.0.1:{args.port_base}"
        client = httpx.Client(base_url=base, timeout=20)
        deadline = time.monotonic() + args.warmup_timeout

        def wait(pred: Any, what: str) -> Any:
            while time.monotonic() < deadline:
                if campy.poll() is not None:
                    raise RuntimeError(f"CamPy exited; see {work / 'campy.log'}")
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    if v := pred():
                        return v
                time.sleep(1)
            raise RuntimeError(f"timed out waiting for {what}; see {work / 'campy.log'}")

        wait(lambda: client.get("/healthz").status_code == 200, "CamPy to answer")
        login(client, "admin", ADMIN_PASSWORD)
        wait(lambda: client.get("/api/status").status_code == 200, "a logged-in session")
        db = work / "data" / "campy.db"

        def first_segments() -> bool:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
                got = {r[0] for r in c.execute("SELECT DISTINCT camera FROM segments")}
            return set(names) <= got

        print("waiting for every camera's first segment and every detection worker...", flush=True)
        wait(first_segments, "a segment from every camera")
        wait(lambda: all(v["state"] == "running" and v["fps"] > 0
                         for v in client.get("/api/detection/status").json().values()), "detection running")
        sim_pids = {p.pid for p in sims}
        s = Samples()
        sample_procs(s, campy.pid, sim_pids, counting=False, since=time.time())
        t0 = time.time()
        window = args.minutes * 60
        faults = plan_faults(names) if args.faults else []
        for i, f in enumerate(faults):
            f.at_ms = int((t0 + window * (i + 1) / (len(faults) + 1)) * 1000)
        pending = list(faults)
        watching: list[tuple[Fault, int]] = []  # faults waiting for a new process
        next_sample = time.monotonic()
        while time.time() < t0 + window:
            now = time.time()
            if pending and now * 1000 >= pending[0].at_ms:
                f = pending.pop(0)
                killed = inject(f, campy.pid)
                f.at_ms = int(time.time() * 1000)
                if killed:
                    watching.append((f, killed))
                print(f"  fault at +{now - t0:.0f}s: {f.name} {f.note}", flush=True)
            for f, old in list(watching):
                new = find_role_proc(f, campy.pid)
                if new is not None and new.pid != old and back(f, client):
                    f.recovered_s = round(time.time() - f.at_ms / 1000, 1)
                    watching.remove((f, old))
            sample_procs(s, campy.pid, sim_pids, counting=True, since=t0)
            with contextlib.suppress(httpx.HTTPError, ValueError):
                for cam, v in client.get("/api/detection/status").json().items():
                    s.det.setdefault(cam, []).append((time.time(), v["state"], float(v["fps"] or 0)))
                for v in client.get("/api/cameras").json():
                    s.cam_state.setdefault(v["name"], []).append(v["state"])
            next_sample += SAMPLE_S
            time.sleep(max(0.0, next_sample - time.monotonic()))
        t1 = time.time()
        lag = client.get("/api/status").json().get("loop_lag")
        print("window over; waiting for the index to cover it (segments closed, moved and indexed)...", flush=True)

        def indexed_to() -> dict[str, int]:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
                return dict(c.execute("SELECT camera, max(end_ms) FROM segments GROUP BY camera").fetchall())

        caught_up: float | None = None
        until = time.time() + args.segment_seconds + args.index_wait
        while time.time() < until:
            with contextlib.suppress(sqlite3.Error):
                if min(indexed_to().get(n, 0) for n in names) >= t1 * 1000:
                    caught_up = time.time() - t1
                    break
            time.sleep(1)
        lag_behind = {n: round(t1 - v / 1000, 1) for n, v in indexed_to().items()}
        stop(campy)
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
            rows = c.execute("SELECT camera, start_ms, end_ms FROM segments WHERE deleting = 0").fetchall()
        if caught_up is not None:
            print(f"the index covered the window's end {caught_up:.0f} s after it (segments of "
                  f"{args.segment_seconds} s: up to {args.segment_seconds} s is expected)")
        else:
            print(f"the index did NOT cover the window's end {args.segment_seconds + args.index_wait:.0f} s after "
                  f"it; seconds of the window not yet indexed per camera: {lag_behind} (footage may sit closed "
                  "but unindexed in <camera>/.incoming: the ratios below count only indexed footage)")
        segs: dict[str, list[tuple[int, int]]] = {n: [] for n in names}
        for cam, a, b in rows:
            segs.setdefault(cam, []).append((a, b))
        rec_dir = work / "data" / "recordings"
        unindexed = {n: len(list((rec_dir / n / ".incoming").glob("*.mp4"))) for n in names}
        report(args, names, segs, s, lag, faults, int(t0 * 1000), int(t1 * 1000), unindexed)
        return 0
    finally:
        if campy is not None:
            stop(campy)
        for p in sims:
            stop(p, 10)
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def plan_faults(names: list[str]) -> list[Fault]:
    return [Fault("recorder", [names[0]]), Fault("detection worker", [names[1]]),
            Fault("inference service", list(names)), Fault("go2rtc", list(names))]


def _is_recorder(cam: str) -> Any:
    return lambda p, cmd: "segment" in cmd and f"/{cam}?" in cmd and p.name().startswith("ffmpeg")


def find_role_proc(f: Fault, campy_pid: int) -> psutil.Process | None:
    if f.name == "recorder":
        return proc_by(campy_pid, _is_recorder(f.cameras[0]))
    if f.name == "detection worker":
        dec = proc_by(campy_pid, lambda p, cmd: f"/{f.cameras[0]}_sub?" in cmd and p.name().startswith("ffmpeg"))
        with contextlib.suppress(psutil.Error):
            return dec.parent() if dec is not None else None
        return None
    if f.name == "inference service":
        return proc_by(campy_pid, lambda p, cmd: "inference" in cmd and "campy" in cmd)
    return proc_by(campy_pid, lambda p, cmd: "go2rtc" in (p.name() or ""))


def inject(f: Fault, campy_pid: int) -> int:
    """kill -9 the fault's process; returns its pid (0 when there is none)."""
    p = find_role_proc(f, campy_pid)
    if p is None:
        f.note = "skipped: no such process" + (" (no shared inference service in this CamPy)"
                                               if f.name == "inference service" else "")
        return 0
    with contextlib.suppress(psutil.Error):
        p.kill()
    f.note = f"(pid {p.pid})"
    return p.pid


def back(f: Fault, client: httpx.Client) -> bool:
    """The fault's part is working again (not only respawned)."""
    try:
        if f.name == "go2rtc":
            return bool(client.get("/api/status").json()["go2rtc"]["up"])
        if f.name in ("detection worker", "inference service"):
            st = client.get("/api/detection/status").json()
            return all(st[c]["state"] == "running" and st[c]["fps"] > 0 for c in f.cameras)
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return True


# -- the report ------------------------------------------------------------------------------

def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def report(args: argparse.Namespace, names: list[str], segs: dict[str, list[tuple[int, int]]], s: Samples,
           lag: dict[str, Any] | None, faults: list[Fault], t0: int, t1: int, unindexed: dict[str, int]) -> None:
    wall = (t1 - t0) / 1000
    print(f"\nwindow {wall:.0f} s; sample every {SAMPLE_S:.0f} s\n")
    print(f"{'camera':8} {'rec/wall':>9} {'max gap s':>9} {'det fps':>8} {'/conf':>6} {'det ok %':>8} "
          f"{'state (last, % online)':>24} {'unindexed':>9}  goals")
    holes: dict[str, list[tuple[int, int]]] = {}
    for cam in names:
        covered, gap, holes[cam] = coverage(segs.get(cam, []), t0, t1)
        ratio = covered / wall
        det = s.det.get(cam, [])
        fps = statistics.median([x[2] for x in det]) if det else 0.0
        ok_pct = 100 * sum(1 for x in det if x[1] == "running" and x[2] >= 0.9 * args.fps) / max(1, len(det))
        states = s.cam_state.get(cam, [])
        online = 100 * states.count("online") / max(1, len(states))
        goal = (f"rec {_mark(ratio >= 0.999)} gap {_mark(gap <= 2)} det {_mark(fps >= 0.95 * args.fps)}")
        print(f"{cam:8} {ratio:9.4f} {gap:9.1f} {fps:8.2f} {args.fps:6.1f} {ok_pct:8.0f} "
              f"{(states[-1] if states else '?') + f', {online:.0f} %':>24} {unindexed.get(cam, 0):9d}  {goal}")
    print(f"\n{'role':20} {'CPU % of a core':>15} {'RSS MiB med':>12} {'RSS MiB max':>12} {'PSS MiB med':>12}")
    stack_cpu = stack_rss = 0.0
    for role in ROLES:
        cpu = 100 * s.cpu_s[role] / wall
        med = statistics.median(s.rss[role]) if s.rss[role] else 0
        mx = max(s.rss[role], default=0)
        if not mx and not cpu:
            note = "  (no such process)" if role == "inference service" else ""
            print(f"{role:20} {'-':>15} {'-':>12} {'-':>12}{note}")
            continue
        pss_med = statistics.median(s.pss[role]) if s.pss[role] else 0
        print(f"{role:20} {cpu:15.1f} {med / 2**20:12.0f} {mx / 2**20:12.0f} {pss_med / 2**20:12.0f}")
        if role != "simulators":
            stack_cpu += cpu
    if len(s.reaped) >= 2:
        # Children CamPy waited for (ffprobe per segment, exports, processes that exited):
        # mostly too short-lived for the samples above. A process killed by a fault was also
        # sampled while it lived, so this row overlaps the roles a little in a faults run.
        print(f"{'(reaped children)':20} {100 * (s.reaped[-1] - s.reaped[0]) / wall:15.1f} {'-':>12} {'-':>12}"
              "   not in the stack sum: children CamPy waited for (a run's codec probe, exports,"
              " and in a faults run the killed processes, counted again)")
    sums = [sum(s.rss[r][i] for r in ROLES if r != "simulators") for i in range(len(s.rss["CamPy main"]))]
    stack_rss = max(sums, default=0)
    pss_sums = [sum(s.pss[r][i] for r in ROLES if r != "simulators") for i in range(len(s.pss["CamPy main"]))]
    stack_pss = max(pss_sums, default=0)
    print(f"{'stack (no sims)':20} {stack_cpu:15.1f} {statistics.median(sums) / 2**20 if sums else 0:12.0f} "
          f"{stack_rss / 2**20:12.0f} {statistics.median(pss_sums) / 2**20 if pss_sums else 0:12.0f}"
          f"   goals: CPU < 100 % {_mark(stack_cpu < 100)}, memory < 2 GiB: PSS {_mark(stack_pss < 2 * GIB)}"
          f" (max {stack_pss / 2**20:.0f} MiB), summed RSS {_mark(stack_rss < 2 * GIB)}")
    if lag:
        a, r = lag["since_start"], lag["recent"]
        print(f"\nevent-loop lag (ms)  since start: p50 {a['p50_ms']} p99 {a['p99_ms']} max {a['max_ms']}  |  "
              f"last {r['window_s'] / 60:.0f} min: p50 {r['p50_ms']} p99 {r['p99_ms']} max {r['max_ms']}  |  "
              f"stalls > {lag['warn_ms']} ms: {lag['stalls']}   goal p99 < 50 ms: {_mark(r['p99_ms'] < 50)}")
    if not faults:
        return
    print(f"\n{'fault':20} {'at +s':>6} {'back in s':>9} {'footage lost s':>14} {'detect lost s':>13} "
          f"{'others lost s':>13}  note")
    # Each fault owns the stretch from the previous fault to the next one: a hole that opens
    # a little before the kill (a recorder stalled before it was killed) still counts.
    ends = [f.at_ms for f in faults[1:]] + [t1]
    begins = [t0] + [f.at_ms for f in faults[:-1]]
    single = {c for f in faults if len(f.cameras) == 1 for c in f.cameras}
    for f, begin, end in zip(faults, begins, ends, strict=True):
        if not f.note.startswith("(pid"):
            print(f"{f.name:20} {(f.at_ms - t0) / 1000:6.0f} {'-':>9} {'-':>14} {'-':>13} {'-':>13}  {f.note}")
            continue
        hit = f.cameras
        foot = max(lost_in(holes[c], begin, end) for c in hit)
        det = max(sum(SAMPLE_S for (t, st, fps) in s.det.get(c, []) if begin <= t * 1000 < end
                      and (st != "running" or fps == 0)) for c in hit)
        # "Others" leaves out every camera a single-camera fault hit: a recorder still
        # coming back from its own kill must not be charged to the next fault.
        others = [c for c in names if c not in hit and c not in single]
        oth = max((lost_in(holes[c], begin, end) for c in others), default=0.0)
        back_s = f"{f.recovered_s:.1f}" if f.recovered_s is not None else "never"
        print(f"{f.name:20} {(f.at_ms - t0) / 1000:6.0f} {back_s:>9} {foot:14.1f} {det:13.0f} "
              f"{f'{oth:.1f}' if others else '-':>13}  {f.note}{' (all cameras)' if not others else ''}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--walkers", type=int, default=4)
    ap.add_argument("--fps", type=float, default=5.0, help="detection fps per camera")
    ap.add_argument("--faults", action="store_true", help="kill -9 a recorder, a worker, the inference service, go2rtc")
    ap.add_argument("--segment-seconds", type=int, default=10)
    ap.add_argument("--port-base", type=int, default=18500, help="CamPy here, go2rtc +1..+3, simulators from +10")
    ap.add_argument("--index-wait", type=float, default=120.0,
                    help="after the window, wait up to segment seconds + this for the index to cover it")
    ap.add_argument("--warmup-timeout", type=float, default=600.0)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (config, logs, recordings)")
    args = ap.parse_args()
    if args.cameras < 2 or not 0 <= args.walkers <= args.cameras:
        ap.error("need at least 2 cameras and 0 <= walkers <= cameras")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally: stop what was started
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted; everything stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
