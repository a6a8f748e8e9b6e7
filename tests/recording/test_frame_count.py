"""The recorder's frame count from ffmpeg's ``-progress`` blocks: real ffmpeg output, parsed."""

from __future__ import annotations

import subprocess

from campy.recording.recorder import FrameCount
from campy.recording.probe import ffmpeg_bin


def _block(frame: int, out_us: int) -> list[str]:
    return [f"frame={frame}", "fps=0.00", "stream_0_0_q=-1.0", "bitrate=N/A", "total_size=48",
            f"out_time_us={out_us}", f"out_time_ms={out_us}", "out_time=00:00:00.000000", "dup_frames=0",
            "drop_frames=0", "speed=1x", "progress=continue"]


def test_rate_is_frames_per_second_of_stream_time_and_the_total_spans_runs() -> None:
    fc = FrameCount()
    assert all(fc.feed(line) for line in _block(1, 0))
    assert fc.fps is None  # one block: no interval yet
    assert all(fc.feed(line) for line in _block(126, 5_000_000))
    assert fc.fps == 25.0 and fc.total == 126
    fc.new_run()  # ffmpeg restarted: counts from 0 again, the total keeps growing
    assert fc.fps is None
    for line in _block(10, 400_000) + _block(60, 2_400_000):
        fc.feed(line)
    assert fc.fps == 25.0 and fc.total == 186
    # ffmpeg's warnings are not progress lines: they stay in the recorder's error tail
    assert not fc.feed("[rtsp @ 0x55d] method DESCRIBE failed: 401 Unauthorized")
    assert not fc.feed("Connection timed out")


def test_parses_what_ffmpeg_really_prints() -> None:
    # 3 s of a 15 fps test picture, stream-copied the way the recorder copies: progress on stderr.
    enc = subprocess.run([ffmpeg_bin(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                          "-i", "testsrc=size=160x120:rate=15", "-t", "3", "-c:v", "libx264", "-g", "15",
                          "-f", "mpegts", "pipe:1"], capture_output=True, check=True)
    cp = subprocess.run([ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "warning",
                         "-stats_period", "1", "-progress", "pipe:2", "-i", "pipe:0", "-map", "0:v:0",
                         "-c", "copy", "-f", "null", "-"], input=enc.stdout, capture_output=True, check=True)
    fc = FrameCount()
    rest = [line for line in cp.stderr.decode().splitlines() if line.strip() and not fc.feed(line.strip())]
    assert rest == []
    assert fc.total == 45
