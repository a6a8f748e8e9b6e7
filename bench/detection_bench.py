"""Detection cost per camera, idle and busy, with and without motion gating.

    .venv/bin/python bench/detection_bench.py [--model ../shared/models/yolox_nano.onnx] [--runs 3]

Frames: the simulator's "walker" sub clip (640×360, a bright block crossing a calm street in
the first 8 s of 12 s), decoded once with OpenCV. "busy" = the frames with the block,
"idle" = the empty street. For each scene it times, per frame (median of --runs passes):

* gated: what the worker does — motion on every frame, the object detector only on motion
  regions (campy.detection.motion + campy.detection.objects, onnxruntime, 1 thread);
* ungated: the object detector on every full frame (no motion detector).

Decoding is measured in the same run as the CPU time of the ffmpeg command the worker uses
(`-vf fps=5,scale=640:360 -pix_fmt bgr24 -f rawvideo`), per second of video. Per-camera CPU
at 5 fps = decode + 5 × ms per frame / 10 (% of one core); cameras sustained on this box =
200 % / that (two cores, nothing else running: an upper bound). The YOLOX-Nano model is the
real pretrained one; the walker block is not a real person, so "busy" measures the cost of
running the detector on motion regions, not detection quality.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FPS = 5.0


def frames_of(clip: Path) -> tuple[list, list]:
    import cv2

    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    # 10 fps source: the block is on screen for t < 8 s; keep every other frame (5 fps).
    busy = [f for i, f in enumerate(frames) if i % 2 == 0 and i < 78]
    idle = [f for i, f in enumerate(frames) if i % 2 == 0 and i >= 84]
    return busy, idle


def decode_cpu_percent(clip: Path) -> float:
    """CPU % of one core that decoding the clip at 5 fps to raw BGR costs, per second of video."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-stream_loop", "4", "-i", str(clip), "-an",
                    "-vf", f"fps={FPS},scale=640:360", "-pix_fmt", "bgr24", "-f", "rawvideo", "-y", "/dev/null"],
                   check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    video_s = 12.0 * 5  # the 12 s clip played 5 times
    return cpu / video_s * 100


def time_pass(frames: list, fn) -> float:
    times = []
    for f in frames:
        t = time.perf_counter()
        fn(f)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def live(model: str, seconds: float) -> list[tuple[str, float, float, float]]:
    """Real workers under a real CamPy: per camera, worker + its ffmpeg CPU % and RSS."""
    import json

    import psutil

    from campy.sim.camera import SimCamera
    from tests.helpers import CampyProcess, free_port, wait_until, write_config

    cams = {"still": SimCamera("still", password="pw", main_codec="h264", sub_scene="still"),
            "walker": SimCamera("walker", password="pw", main_codec="h264", sub_scene="walker")}
    handles = [c.run_in_thread() for c in cams.values()]
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix="campy-detbench-"))
    proc = None
    try:
        port = free_port()
        top = f"detection: {json.dumps({'detector': {'model': model}})}\n"
        cfg = write_config(tmp / "campy.yaml", [
            {"name": n, "main": c.main_url, "sub": c.sub_url, "username": "admin", "password": "!secret sim_password",
             "detect": {"fps": FPS}, "record": {"enabled": False}} for n, c in cams.items()],
            port=port, password_secret="pw", extra_top=top)
        proc = CampyProcess(cfg, port)
        c = proc.client()
        wait_until(lambda: all(s["state"] == "running" for s in c.get("/api/detection/status").json().values()),
                   timeout=60, what="workers running")
        time.sleep(5)

        def tree_of(name: str) -> list[psutil.Process]:
            for p in psutil.Process(proc.proc.pid).children(recursive=True):
                try:
                    if "campy.detection.worker" in " ".join(p.cmdline()):
                        settings = p  # the worker; its settings came on stdin, so find the camera via ffmpeg
                        kids = p.children(recursive=True)
                        if any(f"/{name}_sub" in " ".join(k.cmdline()) for k in kids):
                            return [settings, *kids]
                except psutil.NoSuchProcess:
                    continue
            return []

        out = []
        trees = {n: tree_of(n) for n in cams}
        start = {n: sum(sum(p.cpu_times()[:2]) for p in t) for n, t in trees.items()}
        time.sleep(seconds)
        for n, t in trees.items():
            cpu = (sum(sum(p.cpu_times()[:2]) for p in t) - start[n]) / seconds * 100
            rss = sum(p.memory_info().rss for p in t) / 2**20
            st = c.get("/api/detection/status").json()[n]
            out.append((n, cpu, rss, st["inference_ms"] or 0.0))
        return out
    finally:
        if proc is not None:
            proc.stop()
        for h in handles:
            h.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "yolox_nano.onnx"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--live-seconds", type=float, default=30.0,
                    help="also measure real workers under CamPy for this long (0: skip)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from campy.detection.motion import MotionDetector
    from campy.detection.objects import DetectorConfig, load_detector
    from campy.sim.media import SUB_WALKER, ensure_clip

    clip = ensure_clip(SUB_WALKER)
    busy, idle = frames_of(clip)
    detector = load_detector(DetectorConfig(model=args.model, threads=1))
    decode = decode_cpu_percent(clip)
    rows = []
    for scene, frames in (("idle", idle), ("busy", busy)):
        for mode in ("gated", "ungated"):
            meds = []
            calls = 0
            for _ in range(args.runs):
                motion = MotionDetector(640, 360)
                for f in frames[:5]:
                    motion.detect(f)  # calibrate on the scene first, as a running worker has

                def gated(f, motion=motion):
                    nonlocal calls
                    boxes = motion.detect(f)
                    if boxes:
                        calls += 1
                        detector.detect(f, regions=boxes)

                def ungated(f):
                    nonlocal calls
                    calls += 1
                    detector.detect(f)

                meds.append(time_pass(frames, gated if mode == "gated" else ungated))
            ms = statistics.median(meds)
            cpu = decode + FPS * ms / 10
            rows.append((scene, mode, ms, calls / (args.runs * len(frames)), cpu, 200 / cpu))
    print(f"model {Path(args.model).name}, onnxruntime 1 thread, {FPS:g} fps, 640x360; decode {decode:.1f} % "
          f"of a core per camera; median of {args.runs} passes\n")
    print("| scene | detector | ms/frame (median) | detector runs per frame | CPU %/camera (decode + detect) "
          "| cameras at 5 fps on 2 cores |")
    print("|---|---|---:|---:|---:|---:|")
    for scene, mode, ms, share, cpu, cams in rows:
        print(f"| {scene} | {mode} | {ms:.2f} | {share:.2f} | {cpu:.1f} | {cams:.0f} |")
    if args.live_seconds > 0:
        print(f"\nReal workers under CamPy (go2rtc, simulated cameras, {args.live_seconds:g} s; worker + its ffmpeg):\n")
        print("| camera scene | CPU % of one core | RSS MiB | inference ms (median) |")
        print("|---|---:|---:|---:|")
        for name, cpu, rss, inf in live(args.model, args.live_seconds):
            print(f"| {name} | {cpu:.1f} | {rss:.0f} | {inf:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
