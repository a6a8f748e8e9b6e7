"""Can this box afford the H.265 → H.264 live fallback? A program, not a test.

Runs a simulated RLC-810A (4K H.265 main), a bare go2rtc with the stream CamPy generates for
``h265_fallback: transcode`` (``ffmpeg:<cam>#video=h264#width=1280``), reads the transcode for
``--seconds`` with ffmpeg, and prints frames, speed (1.0 = real time) and go2rtc's CPU
including its ffmpeg child. Run from the repo root:

    .venv/bin/python bench/transcode_bench.py --seconds 15
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campy.go2rtc import find_binary  # noqa: E402
from campy.sim.camera import SimCamera  # noqa: E402
from tests.helpers import free_port, wait_until  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=15)
    args = ap.parse_args()
    cam = SimCamera("tc", password="pw", main_codec="h265")
    handle = cam.run_in_thread()
    api, rtsp, rtc = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as td:
        conf = Path(td) / "go2rtc.yaml"
        conf.write_text(
            f"api: {{listen: '127.0.0.1:{api}'}}\nrtsp: {{listen: '127.0.0.1:{rtsp}'}}\n"
            f"webrtc: {{listen: '127.0.0.1:{rtc}'}}\nffmpeg: {{bin: {shutil.which('ffmpeg')}}}\nstreams:\n"
            f"  tc: {cam.main_url.replace('rtsp://', 'rtsp://admin:pw@')}\n"
            "  tc_h264: ffmpeg:tc#video=h264#width=1280\n")
        g = subprocess.Popen([str(find_binary()), "-c", str(conf)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{api}/api").status_code == 200, timeout=10)
            reader = subprocess.Popen(["ffmpeg", "-hide_banner", "-rtsp_transport", "tcp", "-i",
                                       f"rtsp://127.0.0.1:{rtsp}/tc_h264", "-t", str(args.seconds),
                                       "-f", "null", "-"], stderr=subprocess.PIPE, text=True)
            time.sleep(4)  # let the transcode settle before sampling CPU
            procs = [psutil.Process(g.pid)] + psutil.Process(g.pid).children(recursive=True)
            for p in procs:
                p.cpu_percent(None)
            time.sleep(max(1, args.seconds - 6))
            cpu = sum(p.cpu_percent(None) for p in procs if p.is_running())
            _, err = reader.communicate(timeout=args.seconds + 60)
            last = [line for line in re.split(r"[\r\n]", err) if "frame=" in line][-1]
            print(f"transcode 3840x2160 H.265 -> 1280 H.264: {last.strip()}")
            print(f"go2rtc + its ffmpeg: {cpu:.0f} % of one core (2 cores = 200 %)")
        finally:
            g.terminate()
            g.wait(10)
            handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
