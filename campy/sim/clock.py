"""A live "clock" stream: every frame carries the wall-clock time it was painted.

For glass-to-glass latency (bench/firstrun_bench.py): Python paints each 640×360 grey frame
at 25 fps, writes the time of painting (ms since the epoch, modulo 2**32) into it as a row of
black/white blocks, and pipes it into ffmpeg, which encodes H.264 live (zerolatency, no
B-frames) and sends RTP like any simulator stream. A reader decodes the blocks of the frame
it shows and subtracts the painted time from its own clock (same machine, same clock).

Layout (16×16 px blocks, macroblock-aligned so H.264 keeps them sharp): row A at y 32..63
holds 40 blocks, bit 39 (leftmost) first: 32 bits of time, then an 8-bit checksum; row B at
y 64..95 holds the same 40 bits inverted. A frame decodes only when every block of A is the
opposite of B and the checksum matches, so a half-decoded or blended frame is rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import numpy as np

from campy.sim.source import MediaSource

log = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 640, 360, 25
GOP = 50  # a keyframe every 2 s
BLOCK = 16
ROW_A, ROW_B = 32, 64
BITS = 40
WHITE, BLACK = 255, 0


def checksum(value: int) -> int:
    v = value & 0xFFFFFFFF
    return (sum(v.to_bytes(4, "big")) & 0xFF) ^ 0xA5


def bits_of(ms: int) -> list[int]:
    v = ms & 0xFFFFFFFF
    word = (v << 8) | checksum(v)
    return [(word >> (BITS - 1 - i)) & 1 for i in range(BITS)]


def paint(frame: np.ndarray, ms: int) -> None:
    """Write ``ms`` into a HEIGHT×WIDTH uint8 grey frame (in place)."""
    for i, bit in enumerate(bits_of(ms)):
        x = i * BLOCK
        frame[ROW_A:ROW_A + BLOCK * 2, x:x + BLOCK] = WHITE if bit else BLACK
        frame[ROW_B:ROW_B + BLOCK * 2, x:x + BLOCK] = BLACK if bit else WHITE


def decode(grey: np.ndarray) -> int | None:
    """The 32-bit value painted into a grey frame of any size (scaled from 640×360), or
    None when the pattern is not there or does not check out."""
    h, w = grey.shape[:2]
    sx, sy = w / WIDTH, h / HEIGHT
    word = 0
    for i in range(BITS):
        cx = int((i * BLOCK + BLOCK / 2) * sx)
        ca = int((ROW_A + BLOCK) * sy)
        cb = int((ROW_B + BLOCK) * sy)
        r = max(1, int(3 * sx))
        a = float(grey[ca - r:ca + r, cx - r:cx + r].mean())
        b = float(grey[cb - r:cb + r, cx - r:cx + r].mean())
        if abs(a - b) < 96:  # not a clean black/white pair
            return None
        word = (word << 1) | (1 if a > b else 0)
    value, check = word >> 8, word & 0xFF
    return value if checksum(value) == check else None


def unwrap(value: int, now_ms: int) -> int:
    """The full epoch ms for a 32-bit painted value, taking the one nearest before ``now_ms``
    (valid for latencies under 49 days)."""
    return now_ms - ((now_ms - value) & 0xFFFFFFFF)


class ClockSource(MediaSource):
    """A ``MediaSource`` whose ffmpeg encodes frames painted live (no clip, no audio)."""

    _stdin = asyncio.subprocess.PIPE

    def __init__(self, *, fps: int = FPS, gop: int = GOP) -> None:
        super().__init__(Path("clock"), audio=False)
        self.fps, self.gop = fps, gop
        self.frames = 0
        self._painter: asyncio.Task[None] | None = None

    def _ffmpeg_args(self, ports: list[int], sdp_path: Path) -> list[str]:
        return ["ffmpeg", "-hide_banner", "-loglevel", "error",
                "-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer",
                "-f", "rawvideo", "-pix_fmt", "gray", "-video_size", f"{WIDTH}x{HEIGHT}",
                "-framerate", str(self.fps), "-i", "pipe:0",
                "-c:v", "libx264", "-preset", "superfast", "-tune", "zerolatency",
                "-profile:v", "high", "-pix_fmt", "yuv420p", "-g", str(self.gop),
                "-keyint_min", str(self.gop), "-sc_threshold", "0", "-bf", "0",
                "-b:v", "600k", "-maxrate", "600k", "-bufsize", "300k",
                "-f", "rtp", "-payload_type", "96",
                f"rtp://127.0.0.1:{ports[0]}?rtcpport={ports[1]}&pkt_size=1400",
                "-sdp_file", str(sdp_path)]

    def _started(self, proc: asyncio.subprocess.Process) -> None:
        self._painter = asyncio.get_running_loop().create_task(self._paint(proc))

    def _stopping(self) -> None:
        if self._painter is not None:
            self._painter.cancel()
            self._painter = None

    async def _paint(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        base = np.full((HEIGHT, WIDTH), 96, dtype=np.uint8)
        base[HEIGHT // 2:, :] = 64
        period = 1 / self.fps
        start = time.monotonic()
        n = 0
        with contextlib.suppress(ConnectionError, BrokenPipeError, asyncio.CancelledError):
            while proc.returncode is None:
                frame = base.copy()
                x = (n * 8) % (WIDTH - 64)  # a square that moves, so the picture is visibly live
                frame[200:264, x:x + 64] = 200
                paint(frame, time.time_ns() // 1_000_000)  # painted last: capture time
                proc.stdin.write(frame.tobytes())
                await proc.stdin.drain()
                n += 1
                self.frames = n
                # Absolute schedule: a late frame does not shift the ones after it.
                await asyncio.sleep(max(0.0, start + n * period - time.monotonic()))
        log.debug("clock painter stopped after %d frames", n)
