"""Real media for recording tests: short fMP4 clips made by ffmpeg, like the recorder's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from campy.clock import ManualClock
from campy.db.database import open_db
from campy.recording.index import RecordingIndex
from campy.recording.probe import FRAG_FLAGS
from campy.recording.store import SegmentStore

_CACHE: dict[float, bytes] = {}


def clip_bytes(seconds: float) -> bytes:
    """An H.264 + AAC fragmented MP4 of ``seconds`` (made once per length, then copied)."""
    if seconds not in _CACHE:
        res = subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
             "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=10:duration={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}",
             "-c:v", "libx264", "-g", "10", "-c:a", "aac", "-shortest",
             "-movflags", FRAG_FLAGS, "-f", "mp4", "pipe:1"],
            capture_output=True, check=True)
        _CACHE[seconds] = res.stdout
    return _CACHE[seconds]


def make_clip(path: Path, seconds: float = 2.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(clip_bytes(seconds))
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_796_000_000.0)


@pytest.fixture
def store(tmp_path, clock) -> SegmentStore:
    db = open_db(tmp_path / "campy.db")
    return SegmentStore(storage=tmp_path / "rec", index=RecordingIndex(db), clock=clock)
