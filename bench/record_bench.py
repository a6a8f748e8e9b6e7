"""Recording benchmark: CamPy's recorders against bare ``ffmpeg -c copy`` from the same go2rtc.

For each camera count N, ``N`` simulated RLC-810A cameras (main stream only: 3840×2160 at
25 fps, H.265 by default or H.264 with ``--codec h264``, AAC audio) feed a real ``campy
serve``; go2rtc restreams each main stream on loopback RTSP. Two phases per run:

A. **CamPy recorder.** Every camera records continuously (``recording.segment_seconds`` =
   ``--segment-seconds``). Once every camera has an indexed segment (so each recorder has
   closed at least one file), the program measures for ``--seconds``.
B. **bare ffmpeg -c copy** (baseline, same run). CamPy is restarted with recording disabled
   for every camera (go2rtc still serves the streams), and N plain
   ``ffmpeg -nostdin -loglevel error -rtsp_transport tcp -i rtsp://127.0.0.1:<rtsp_port>/<cam>__<secret>
   -map 0 -c copy -f segment -segment_time <S> <tmp>/<cam>_%05d.mp4`` read go2rtc's restream.
   Once each has closed its first file, the same window is measured.

What is measured (sampled every 1 s with psutil from CPU-time deltas, i.e. what
``Process.cpu_percent`` computes; % of one core; medians over the window, then medians over
``--runs``; "per stream" = total ÷ N):

- recorder CPU % and RSS: the ffmpeg processes that write segments (phase A: descendants of
  the CamPy process whose command line contains ``-f segment``; phase B: the bare ffmpegs);
- go2rtc CPU %, and the CamPy (Python) process's own CPU %;
- write MB/s (MB = 10^6 bytes): growth of the bytes of all files under the recordings
  directory (phase A, ``.incoming`` included) or the bare output directory, over the window;
- recorded ÷ wall (phase A only): after waiting ``segment_seconds + 5`` s for the last
  segments to close, the index's segments (GET /api/cameras/<cam>/recordings) intersected
  with the window [t1, t2] (wall-clock ms), summed over cameras, ÷ (N × (t2 − t1)). 1.0000
  means no gap; segment times come from CamPy's clock, so this checks the index, not the
  media.

CPU time is counted in clock ticks (10 ms on Linux), so one 1 s sample of one process moves in
steps of 1 %: at one or a few cameras the medians are coarse, and the third table also gives
the window means (total CPU time ÷ window), which are not quantised that way.

Also printed (third table): go2rtc and CamPy RSS, the CPU of CamPy's reaped children during
the window (the ``ffprobe`` it runs on every closed segment, and any recorder that exited),
the whole machine's CPU % (all cores: the simulated cameras run in this process and its
ffmpeg children, and contend on small machines), recorder restarts and ffmpeg pids seen.

With ``--baseline-repo PATH`` (another checkout of CamPy, e.g. the main branch), phase A
also runs once more with CamPy from that checkout ("CamPy baseline"), in the same run, so the
tables compare CamPy's own cost before and after a change (e.g. the per-segment ``ffprobe``,
which shows in "CamPy reaped children CPU %"); the last table gives CamPy's CPU per camera,
its own process plus its reaped children, for both.

Not measured: the simulated cameras' cost; disk latency / fsync cost beyond what shows in
the processes' CPU; CamPy's index writes apart from its own CPU. Differences between the
setups besides CamPy itself: CamPy's recorder reads ``/<cam>?mp4`` (MP4-compatible tracks;
the same video + AAC here), writes fragmented MP4 with ``-flush_packets 1``, prints a segment
list and moves each closed file into place; the baseline writes plain MP4 segments and does
nothing else. Run from the repo root (takes several minutes per camera count):

    .venv/bin/python bench/record_bench.py --cameras 1,4,8,16 --seconds 60 --segment-seconds 10 \
        --codec h265 --runs 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campy.procs import die_with_parent  # noqa: E402
from campy.recording.probe import ffmpeg_bin  # noqa: E402
from tests.helpers import CampyProcess, free_port, wait_until, write_config  # noqa: E402

PASSWORD = "bench-cam-pw"
SAMPLE_S = 1.0
CAMPY = "CamPy recorder"
BASELINE = "CamPy baseline"
BARE = "bare ffmpeg -c copy"

Finder = Callable[[], list[psutil.Process]]


# -- measuring ---------------------------------------------------------------------------

def _cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _children_cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.children_user + t.children_system


def tree_bytes(root: Path) -> int:
    """Bytes of all files under ``root``. CamPy renames closed segments out of ``.incoming``
    while we walk, so two walks are merged by inode (a rename keeps it): no file is missed or
    counted twice; a growing file counts with its larger size."""
    sizes: dict[tuple[int, int], int] = {}
    for _ in range(2):
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                try:
                    st = os.stat(os.path.join(dirpath, f))
                except FileNotFoundError:
                    continue
                key = (st.st_dev, st.st_ino)
                sizes[key] = max(sizes.get(key, 0), st.st_size)
    return sum(sizes.values())


def measure(groups: dict[str, Finder], seconds: float, *, campy: psutil.Process) -> dict:
    """Sample every group (CPU % of one core and RSS MiB, summed over its processes) every
    SAMPLE_S for ``seconds``; returns per-group medians plus whole-window extras."""
    prev: dict[tuple[int, float], float] = {}  # (pid, create_time) → CPU seconds at last tick
    seen: dict[str, set[int]] = {k: set() for k in groups}
    cpu: dict[str, list[float]] = {k: [] for k in groups}
    rss: dict[str, list[float]] = {k: [] for k in groups}

    def tick(last_wall: float | None, dt: float | None) -> None:
        for name, find in groups.items():
            total_cpu = total_rss = 0.0
            for p in find():
                try:
                    key = (p.pid, p.create_time())
                    c, r = _cpu_s(p), p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    continue
                seen[name].add(p.pid)
                base = prev.get(key)
                if base is None and last_wall is not None and key[1] >= last_wall:
                    base = 0.0  # started within this interval: all its CPU time is in it
                prev[key] = c
                if base is not None and dt:
                    total_cpu += (c - base) / dt * 100
                total_rss += r / 2**20
            if dt is not None:
                cpu[name].append(total_cpu)
                rss[name].append(total_rss)

    psutil.cpu_percent(None)
    kids0 = _children_cpu_s(campy)
    t0 = last = time.monotonic()
    last_wall = time.time()
    tick(None, None)
    end = t0 + seconds
    while last < end - 1e-3:
        time.sleep(max(0.0, min(last + SAMPLE_S, end) - time.monotonic()))
        now, now_wall = time.monotonic(), time.time()
        tick(last_wall, now - last)
        last, last_wall = now, now_wall
    elapsed = last - t0
    out: dict = {k: {"cpu": statistics.median(cpu[k]) if cpu[k] else 0.0,
                     "cpu_mean": statistics.fmean(cpu[k]) if cpu[k] else 0.0,
                     "rss": statistics.median(rss[k]) if rss[k] else 0.0,
                     "pids": len(seen[k])} for k in groups}
    out["helpers_cpu"] = (_children_cpu_s(campy) - kids0) / elapsed * 100
    out["machine_cpu"] = psutil.cpu_percent(None)
    out["elapsed"] = elapsed
    return out


def recorder_finder(campy_pid: int) -> Finder:
    def find() -> list[psutil.Process]:
        found = []
        try:
            kids = psutil.Process(campy_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for k in kids:
            try:
                if "-f segment" in " ".join(k.cmdline()):
                    found.append(k)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        return found
    return find


def go2rtc_finder(proc: CampyProcess) -> Finder:
    def find() -> list[psutil.Process]:
        g = proc.go2rtc()
        return [g] if g is not None else []
    return find


def log_problems(proc: CampyProcess) -> list[str]:
    return [ln for ln in proc.log().splitlines()
            if any(w in ln for w in ("WARNING", "ERROR", "Traceback", '"level":"warn', '"level":"error'))]


# -- the two setups ----------------------------------------------------------------------

def _config(d: Path, sims, n: int, *, record: bool, segment_seconds: int) -> tuple[Path, int]:
    d.mkdir(parents=True)
    port = free_port()
    cams = []
    for s in sims[:n]:
        cam = {"name": s.name, "main": s.main_url, "username": "admin", "password": "!secret sim_password"}
        if not record:
            cam["record"] = {"enabled": "false"}
        cams.append(cam)
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=PASSWORD,
                       recording={"segment_seconds": segment_seconds} if record else None)
    return cfg, port


def _stop_campy(proc: CampyProcess, notes: list[str], label: str) -> None:
    left = proc.stop()
    if left:
        notes.append(f"{label}: CamPy.stop() had to SIGKILL leftover descendants {left}")


def run_baseline(sims, n: int, args, tmp: Path, notes: list[str]) -> dict:
    """Phase A with CamPy from ``--baseline-repo`` (its own cwd and import path)."""
    import tests.helpers as helpers

    mine = helpers.REPO
    helpers.REPO = Path(args.baseline_repo).resolve()
    try:
        return run_campy(sims, n, args, tmp, notes, env={"PYTHONPATH": str(helpers.REPO)}, sub="baseline")
    finally:
        helpers.REPO = mine


def run_campy(sims, n: int, args, tmp: Path, notes: list[str], *, env: dict[str, str] | None = None,
              sub: str = "campy") -> dict:
    cfg, port = _config(tmp / sub, sims, n, record=True, segment_seconds=args.segment_seconds)
    names = [s.name for s in sims[:n]]
    proc = CampyProcess(cfg, port, env=env)
    client = None
    try:
        client = proc.client()

        def all_recording() -> bool:
            return all(client.get(f"/api/cameras/{c}/recordings").json() for c in names)

        wait_until(all_recording, timeout=3 * args.segment_seconds + 60, interval=1,
                   what=f"a first segment from each of {n} cameras")
        rec_dir = proc.data_file("recordings")
        campy_ps = psutil.Process(proc.proc.pid)
        t1 = int(time.time() * 1000)
        b1 = tree_bytes(rec_dir)
        usage = measure({"recorder": recorder_finder(proc.proc.pid), "go2rtc": go2rtc_finder(proc),
                         "campy": lambda: [campy_ps]}, args.seconds, campy=campy_ps)
        b2 = tree_bytes(rec_dir)
        t2 = int(time.time() * 1000)
        time.sleep(args.segment_seconds + 5)  # let the segments covering t2 close and be indexed
        covered = 0
        for c in names:
            r = client.get(f"/api/cameras/{c}/recordings", params={"start": t1, "end": t2})
            r.raise_for_status()
            covered += sum(max(0, min(s["end_ms"], t2) - max(s["start_ms"], t1)) for s in r.json())
        storage = client.get("/api/storage").json()
        restarts = sum((c.get("recorder") or {}).get("restarts", 0) for c in storage.get("cameras", []))
        problems = log_problems(proc)
        if problems:
            notes.append(f"N={n} CamPy log has {len(problems)} warning/error lines, e.g.: "
                         + " || ".join(p[:300] for p in problems[:3]))
        return {**usage, "mb_s": (b2 - b1) / 1e6 / ((t2 - t1) / 1000),
                "recorded_ratio": covered / (n * (t2 - t1)), "restarts": restarts}
    finally:
        if client is not None:
            client.close()
        _stop_campy(proc, notes, f"N={n} phase A")


def _terminate(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)  # ffmpeg closes its open segment and exits
    deadline = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def run_bare(sims, n: int, args, tmp: Path, notes: list[str]) -> dict:
    from ruamel.yaml import YAML

    cfg, port = _config(tmp / "bare", sims, n, record=False, segment_seconds=args.segment_seconds)
    rtsp_port = int(YAML(typ="rt").load(cfg.read_text())["go2rtc"]["rtsp_port"])  # rt: keeps !secret
    out = tmp / "bare-out"
    out.mkdir()
    names = [s.name for s in sims[:n]]
    proc = CampyProcess(cfg, port)
    ffs: list[subprocess.Popen] = []
    logs = []
    try:
        wait_until(proc.go2rtc, timeout=20, what="go2rtc child")
        # go2rtc serves each stream under CamPy's secret per-start name (<cam>__<secret>).
        secret = wait_until(lambda: (m := {k.split("__", 1)[0]: k for k in proc.go2rtc_streams(raw=True)})
                            and set(names) <= set(m) and m, timeout=30, what="go2rtc's streams")
        for c in names:
            log = open(tmp / f"bare-{c}.log", "w")
            logs.append(log)
            ffs.append(subprocess.Popen(
                [ffmpeg_bin(), "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                 "-i", f"rtsp://127.0.0.1:{rtsp_port}/{secret[c]}", "-map", "0", "-c", "copy",
                 "-f", "segment", "-segment_time", str(args.segment_seconds), str(out / f"{c}_%05d.mp4")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True, preexec_fn=die_with_parent(signal.SIGKILL)))

        def all_closed_one() -> bool:
            dead = [c for c, f in zip(names, ffs, strict=True) if f.poll() is not None]
            if dead:
                raise RuntimeError(f"bare ffmpeg exited for {dead}: "
                                   + (tmp / f"bare-{dead[0]}.log").read_text()[-500:])
            return all(len(list(out.glob(f"{c}_*.mp4"))) >= 2 for c in names)

        wait_until(all_closed_one, timeout=3 * args.segment_seconds + 60, interval=1,
                   what=f"a first closed segment from each of {n} bare ffmpegs")
        bare_ps = [psutil.Process(f.pid) for f in ffs]
        campy_ps = psutil.Process(proc.proc.pid)
        t1 = time.monotonic()
        b1 = tree_bytes(out)
        usage = measure({"recorder": lambda: bare_ps, "go2rtc": go2rtc_finder(proc),
                         "campy": lambda: [campy_ps]}, args.seconds, campy=campy_ps)
        b2 = tree_bytes(out)
        t2 = time.monotonic()
        dead = [c for c, f in zip(names, ffs, strict=True) if f.poll() is not None]
        if dead:
            notes.append(f"N={n} phase B: bare ffmpeg exited during the window for {dead}")
        for c in names:
            text = (tmp / f"bare-{c}.log").read_text(errors="replace").strip()
            if text:
                notes.append(f"N={n} bare ffmpeg {c} stderr: {text[-300:]}")
        problems = log_problems(proc)
        if problems:
            notes.append(f"N={n} phase B CamPy log has {len(problems)} warning/error lines, e.g.: "
                         + " || ".join(p[:300] for p in problems[:3]))
        return {**usage, "mb_s": (b2 - b1) / 1e6 / (t2 - t1), "recorded_ratio": None, "restarts": None}
    finally:
        _terminate(ffs)
        for log in logs:
            log.close()
        _stop_campy(proc, notes, f"N={n} phase B")


# -- reporting ---------------------------------------------------------------------------

def summarize(n: int, kind: str, results: list[dict]) -> dict:
    def med(f: Callable[[dict], float]) -> float:
        return statistics.median(f(r) for r in results)

    ratios = [r["recorded_ratio"] for r in results if r["recorded_ratio"] is not None]
    return {
        "n": n, "kind": kind, "runs": len(results),
        "rec_cpu": med(lambda r: r["recorder"]["cpu"]) / n,
        "rec_rss": med(lambda r: r["recorder"]["rss"]) / n,
        "rec_pids": max(r["recorder"]["pids"] for r in results),
        "rec_cpu_mean": med(lambda r: r["recorder"]["cpu_mean"]) / n,
        "g_cpu": med(lambda r: r["go2rtc"]["cpu"]) / n,
        "g_cpu_mean": med(lambda r: r["go2rtc"]["cpu_mean"]) / n,
        "g_rss": med(lambda r: r["go2rtc"]["rss"]),
        "c_cpu": med(lambda r: r["campy"]["cpu"]),
        "c_cpu_mean": med(lambda r: r["campy"]["cpu_mean"]),
        "c_rss": med(lambda r: r["campy"]["rss"]),
        "helpers_cpu": med(lambda r: r["helpers_cpu"]),
        "machine_cpu": med(lambda r: r["machine_cpu"]),
        "mb_s": med(lambda r: r["mb_s"]),
        "ratio": statistics.median(ratios) if ratios else None,
        "restarts": max((r["restarts"] or 0) for r in results) if ratios else None,
    }


def print_tables(rows: list[dict], args) -> None:
    print(f"\n{args.codec} main stream (3840×2160, 25 fps), segment {args.segment_seconds} s, "
          f"window {args.seconds:g} s, median of {args.runs} run(s)\n")
    print("| cameras | setup | recorder CPU %/stream (median) | recorder RSS MiB/stream | go2rtc CPU %/stream "
          "| CamPy CPU % total | write MB/s total | MB/s per stream | recorded ÷ wall |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['ratio']:.4f}" if r["ratio"] is not None else "–"
        print(f"| {r['n']} | {r['kind']} | {r['rec_cpu']:.1f} | {r['rec_rss']:.1f} | {r['g_cpu']:.1f} "
              f"| {r['c_cpu']:.1f} | {r['mb_s']:.2f} | {r['mb_s'] / r['n']:.3f} | {ratio} |")
    print("\n| cameras | CamPy / bare: recorder CPU (medians) | CamPy / bare: recorder CPU (means) "
          "| CamPy / bare: recorder RSS |")
    print("|---|---:|---:|---:|")

    def ratio(x: float, y: float) -> str:
        return f"{x / y:.2f}" if y else "–"

    for n in dict.fromkeys(r["n"] for r in rows):
        a = next((r for r in rows if r["n"] == n and r["kind"] == CAMPY), None)
        b = next((r for r in rows if r["n"] == n and r["kind"] == BARE), None)
        if a and b:
            print(f"| {n} | {ratio(a['rec_cpu'], b['rec_cpu'])} | {ratio(a['rec_cpu_mean'], b['rec_cpu_mean'])} "
                  f"| {ratio(a['rec_rss'], b['rec_rss'])} |")
    if any(r["kind"] == BASELINE for r in rows):
        print("\n| cameras | setup | CamPy process CPU %/camera (mean) | reaped children CPU %/camera "
              "| CamPy total CPU %/camera | ÷ baseline |")
        print("|---|---|---:|---:|---:|---:|")
        for n in dict.fromkeys(r["n"] for r in rows):
            base = next((r for r in rows if r["n"] == n and r["kind"] == BASELINE), None)
            for r in rows:
                if r["n"] != n or r["kind"] not in (BASELINE, CAMPY):
                    continue
                total = (r["c_cpu_mean"] + r["helpers_cpu"]) / n
                b_total = (base["c_cpu_mean"] + base["helpers_cpu"]) / n if base else 0.0
                print(f"| {n} | {r['kind']} | {r['c_cpu_mean'] / n:.2f} | {r['helpers_cpu'] / n:.2f} "
                      f"| {total:.2f} | {ratio(total, b_total)} |")
    print("\n| cameras | setup | recorder CPU %/stream (mean) | go2rtc CPU %/stream (mean) "
          "| CamPy CPU % (mean) | CamPy reaped children CPU % (ffprobe…) | go2rtc RSS MiB | CamPy RSS MiB "
          "| machine CPU % (all cores) | recorder restarts | recorder pids seen |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        restarts = "–" if r["restarts"] is None else str(r["restarts"])
        print(f"| {r['n']} | {r['kind']} | {r['rec_cpu_mean']:.2f} | {r['g_cpu_mean']:.2f} "
              f"| {r['c_cpu_mean']:.2f} | {r['helpers_cpu']:.2f} | {r['g_rss']:.1f} | {r['c_rss']:.1f} "
              f"| {r['machine_cpu']:.1f} | {restarts} | {r['rec_pids']} |")


def _raise_interrupt(signum, _frame):
    # Once: further Ctrl-C / SIGTERM are ignored so the cleanup in the finally blocks (each
    # step has its own timeout) is not cut short and leaves no process behind.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", default="1,4,8,16", help="comma-separated camera counts")
    ap.add_argument("--seconds", type=float, default=60.0, help="measurement window per setup")
    ap.add_argument("--segment-seconds", type=int, default=10)
    ap.add_argument("--codec", choices=("h265", "h264"), default="h265")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--baseline-repo", default=None,
                    help="another CamPy checkout to run phase A with as well (before/after)")
    args = ap.parse_args()
    counts = [int(x) for x in args.cameras.split(",") if x.strip()]
    if not counts or min(counts) < 1:
        ap.error("--cameras needs positive counts, e.g. 1,4,8,16")
    # SIGINT/SIGTERM/SIGHUP unwind like Ctrl-C, so every finally below stops what it started.
    # (Children run in their own sessions: a terminal's Ctrl-C reaches only this process.)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)

    from campy.sim.camera import SimCamera

    rows: list[dict] = []
    notes: list[str] = []
    handles = []
    try:
        for i in range(1, max(counts) + 1):
            sim = SimCamera(f"cam{i}", username="admin", password=PASSWORD, main_codec=args.codec)
            handles.append(sim.run_in_thread())
        sims = [h.cam for h in handles]
        for n in counts:
            setups: list[tuple[str, Callable[..., dict]]] = [(CAMPY, run_campy), (BARE, run_bare)]
            if args.baseline_repo:
                setups.insert(1, (BASELINE, run_baseline))
            results: dict[str, list[dict]] = {kind: [] for kind, _ in setups}
            for run in range(args.runs):
                tmp = Path(tempfile.mkdtemp(prefix=f"campy-recbench-{n}-"))
                try:
                    for kind, fn in setups:
                        res = fn(sims, n, args, tmp, notes)
                        results[kind].append(res)
                        print(f"N={n} run {run + 1} {kind}: recorder cpu {res['recorder']['cpu']:.1f}% "
                              f"rss {res['recorder']['rss']:.1f} MiB, go2rtc cpu {res['go2rtc']['cpu']:.1f}%, "
                              f"campy cpu {res['campy']['cpu']:.1f}%, {res['mb_s']:.2f} MB/s, "
                              f"recorded÷wall {res['recorded_ratio']}", flush=True)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            rows += [summarize(n, kind, res) for kind, res in results.items()]
    finally:
        for h in handles:
            try:
                h.stop()
            except Exception as err:  # keep stopping the others
                print(f"stopping sim {h.cam.name}: {err!r}", file=sys.stderr)
    print_tables(rows, args)
    if notes:
        print("\nNotes:")
        for note in notes:
            print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
