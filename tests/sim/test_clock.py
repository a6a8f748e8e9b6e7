"""The clock stream (campy/sim/clock.py): each frame carries the time it was painted."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from campy.sim import clock
from tests.sim.conftest import with_creds

PASSWORD = "clock-Pass!1"


def _frame(ms: int) -> np.ndarray:
    f = np.full((clock.HEIGHT, clock.WIDTH), 96, dtype=np.uint8)
    clock.paint(f, ms)
    return f


def test_painted_time_decodes_and_unwraps():
    ms = 1_796_000_123_456  # a time whose low 32 bits are far from the painted value's wrap
    value = clock.decode(_frame(ms))
    assert value == ms & 0xFFFFFFFF
    assert clock.unwrap(value, ms + 40) == ms
    # Across the 32-bit wrap: painted just before it, read just after.
    before = (ms | 0xFFFFFFFF) - 5
    assert clock.unwrap(clock.decode(_frame(before)), before + 20) == before


def test_a_damaged_or_scaled_frame():
    f = _frame(1_796_000_123_456)
    # Scaled (as a player may show it): still decodes.
    big = np.kron(f, np.ones((2, 2), dtype=np.uint8))
    assert clock.decode(big) == 1_796_000_123_456 & 0xFFFFFFFF
    # Row A's first block flipped: A and B no longer disagree there → rejected.
    a = (slice(clock.ROW_A, clock.ROW_A + 32), slice(0, 16))
    b = (slice(clock.ROW_B, clock.ROW_B + 32), slice(0, 16))
    f[a] = 255 - f[a]
    assert clock.decode(f) is None
    # Row B's flipped as well: a consistent pair again, but the checksum fails.
    f[b] = 255 - f[b]
    assert clock.decode(f) is None
    assert clock.decode(np.full((360, 640), 96, dtype=np.uint8)) is None  # no pattern at all


@pytest.fixture(scope="module")
def clock_cam():
    from campy.sim.camera import SimCamera

    c = SimCamera("clocktest", password=PASSWORD, clock=True)
    handle = c.run_in_thread()
    try:
        yield c
    finally:
        handle.stop()


def test_stream_frames_carry_their_paint_time(clock_cam):
    """Over RTSP, decoded by ffmpeg: every frame's time lies between the start and end of the
    read, and the times rise."""
    t_start = time.time_ns() // 1_000_000
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
                           "-i", with_creds(clock_cam.main_url, PASSWORD), "-frames:v", "20",
                           "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, timeout=120)
    t_end = time.time_ns() // 1_000_000
    assert proc.returncode == 0, proc.stderr[-500:]
    frames = np.frombuffer(proc.stdout, np.uint8).reshape(-1, clock.HEIGHT, clock.WIDTH)
    times = [clock.unwrap(v, t_end) for f in frames if (v := clock.decode(f)) is not None]
    assert len(times) == len(frames) == 20
    assert all(t_start <= t <= t_end for t in times), (t_start, times, t_end)
    assert times == sorted(times) and times[-1] > times[0]
