"""Test media for the simulator, encoded once and cached.

Live 4K encoding is impossible on a small box (libx265 manages ~5 fps), so each clip is
encoded once into a cache folder and then looped by stream copy. Clip names carry a hash
of their encoding parameters, so changing a parameter re-encodes. Content moves
(``testsrc2`` plus a burned-in frame counter) so tests can tell live video from a frozen one.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CLIP_SECONDS = 4


def cache_dir() -> Path:
    d = Path(os.environ.get("CAMPY_SIM_CACHE") or Path.home() / ".cache" / "campy" / "sim")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _video_filter(width: int, height: int, fps: int) -> str:
    # Draw the test pattern small and scale it up: generating testsrc2 at 4K costs more
    # than encoding it.
    chain = f"testsrc2=size=960x540:rate={fps},scale={width}:{height}:flags=fast_bilinear"
    if FONT.exists():
        size = max(24, height // 12)
        chain += (f",drawtext=fontfile={FONT}:text='%{{frame_num}}':x=w/20:y=h/20:"
                  f"fontsize={size}:fontcolor=white:box=1:boxcolor=black")
    return chain


WALKER_SECONDS = 12


def _still_filter(width: int, height: int, fps: int) -> str:
    # The walker's street with nobody on it (an idle scene for detection benchmarks).
    return (f"color=c=0x304050:s={width}x{height}:r={fps},"
            f"drawgrid=w={width // 10}:h={height // 6}:t=1:c=0x3a4a5a,trim=duration={WALKER_SECONDS}[out0]")


# The walker: a real person (a cut-out of a public-domain NASA photo, assets/SOURCE.md).
PERSON_PNG = Path(__file__).resolve().parent / "assets" / "person.png"


def _walker_graph(width: int, height: int, fps: int) -> str:
    # A calm scene (flat colour with a grid for texture) that the person crosses from left to
    # right in the first 8 s of a 12 s loop, then an empty street. Input 0 is PERSON_PNG (with
    # alpha); the figure is half the frame tall, standing near the bottom edge.
    ph = height // 2
    pw = round(ph * 166 / 240) // 2 * 2  # the PNG's aspect ratio (166x240)
    speed = (width + pw) / 8
    y = height - ph - height // 18
    return (f"color=c=0x304050:s={width}x{height}:r={fps},"
            f"drawgrid=w={width // 10}:h={height // 6}:t=1:c=0x3a4a5a[bg];"
            f"[0:v]scale={pw}:{ph},format=rgba[p];"
            f"[bg][p]overlay=x='-{pw}+t*{speed:.1f}':y={y}:eval=frame:format=auto,"
            f"trim=duration={WALKER_SECONDS},format=yuv420p[v]")


def _video_args(codec: str, fps: int, gop: int, kbps: int) -> list[str]:
    if codec == "h265":
        return ["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1",
                "-x265-params", f"keyint={gop}:min-keyint={gop}:bframes=0:scenecut=0:log-level=error",
                "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps * 2}k"]
    # Not ultrafast: it drops CABAC and 8x8 transforms, and the stream reads as
    # Constrained Baseline, while the camera sends High profile.
    return ["-c:v", "libx264", "-preset", "superfast", "-profile:v", "high", "-level", "5.1",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", "0",
            "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps * 2}k", "-pix_fmt", "yuv420p"]


@dataclass(frozen=True)
class ClipSpec:
    kind: str  # "main" or "sub"
    codec: str  # "h264" or "h265"
    width: int
    height: int
    fps: int
    gop: int
    kbps: int
    audio: bool
    scene: str = "testsrc"  # or "walker"

    def args(self, out: Path) -> list[str]:
        walker = self.scene in ("walker", "still")
        a = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
        if self.scene == "walker":
            a += ["-i", str(PERSON_PNG)]  # input 0: the person; the graph's output is [v]
        else:
            make = _still_filter if self.scene == "still" else _video_filter
            a += ["-f", "lavfi", "-i", make(self.width, self.height, self.fps)]
        if self.audio:
            a += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000"]
        if self.scene == "walker":
            a += ["-filter_complex", _walker_graph(self.width, self.height, self.fps), "-map", "[v]"]
            if self.audio:
                a += ["-map", "1:a"]
        seconds = WALKER_SECONDS if walker else CLIP_SECONDS
        a += ["-t", str(seconds), *_video_args(self.codec, self.fps, self.gop, self.kbps)]
        if self.audio:
            a += ["-c:a", "aac", "-ar", "16000", "-ac", "1", "-b:a", "32k"]
        a += ["-movflags", "+faststart", "-f", "mp4", str(out)]
        return a

    def path(self) -> Path:
        h = hashlib.sha256(" ".join(self.args(Path("x"))).encode())
        if self.scene == "walker":  # a new cut-out re-encodes, wherever the package lives
            h.update(PERSON_PNG.read_bytes())
        key = h.hexdigest()[:12]
        return cache_dir() / f"{self.kind}_{self.codec}_{self.width}x{self.height}_{key}.mp4"


MAIN = {"h265": ClipSpec("main", "h265", 3840, 2160, 25, 50, 6144, True),
        "h264": ClipSpec("main", "h264", 3840, 2160, 25, 50, 8192, True)}
SUB = ClipSpec("sub", "h264", 640, 360, 10, 40, 256, True)
SUB_WALKER = ClipSpec("sub", "h264", 640, 360, 10, 20, 256, True, scene="walker")
SUB_STILL = ClipSpec("sub", "h264", 640, 360, 10, 20, 256, True, scene="still")
SUB_SCENES = {"testsrc": SUB, "walker": SUB_WALKER, "still": SUB_STILL}


def ensure_clip(spec: ClipSpec) -> Path:
    """The clip for ``spec``, encoding it first if the cache lacks it (process-safe)."""
    target = spec.path()
    if target.exists():
        return target
    with open(cache_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be encoding the same clip
        if target.exists():
            return target
        tmp = target.with_suffix(".part.mp4")
        log.info("encoding simulator clip %s (once; cached)", target.name)
        proc = subprocess.run(spec.args(tmp), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"encoding {target.name} failed: {proc.stderr.strip()[-500:]}")
        os.replace(tmp, target)
    return target


def ensure_snapshot(clip: Path) -> Path:
    """A JPEG of the clip's first frame (for the HTTP API's Snap command)."""
    jpg = clip.with_suffix(".jpg")
    if not jpg.exists():
        tmp = clip.with_suffix(".part.jpg")
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip),
                        "-frames:v", "1", "-q:v", "5", str(tmp)], check=True, capture_output=True)
        os.replace(tmp, jpg)
    return jpg
