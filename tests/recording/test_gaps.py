"""Naming the cause of every gap (gaps.py): table tests over hand-made log rows."""

from __future__ import annotations

import pytest

from campy.recording.gaps import explain
from campy.recording.model import LogRow

T = 1_796_000_000_000


def row(i, kind, at, camera="cam", detail="", end=None):
    return LogRow(id=i, at_ms=T + at, end_ms=None if end is None else T + end, camera=camera, kind=kind,
                  detail=detail)


CASES = [
    ("nothing logged", [], "unexplained"),
    ("ffmpeg exited", [row(1, "recorder_exit", 1_000, detail="End of file")], "recorder_restart"),
    ("exit of another camera", [row(1, "recorder_exit", 1_000, camera="other")], "unexplained"),
    ("recorder stopped", [row(1, "recorder_stop", 500, detail="recording turned off")], "recording_stopped"),
    ("camera offline inside", [row(1, "camera_offline", 6_000, detail="offline"),
                               row(2, "recorder_exit", 5_000), row(3, "camera_online", 25_000)], "camera_offline"),
    ("camera offline since before", [row(1, "camera_offline", -60_000)], "camera_offline"),
    ("camera back online long before", [row(1, "camera_offline", -90_000), row(2, "camera_online", -60_000)],
     "unexplained"),
    ("clean restart", [row(1, "recorder_stop", 100), row(2, "campy_stop", 200, camera=None),
                       row(3, "campy_start", 20_000, camera=None, detail="after a clean stop")], "campy_down"),
    ("killed CamPy", [row(1, "campy_start", 20_000, camera=None, detail="after an unclean stop")], "campy_down"),
    ("retention in motion mode", [row(1, "retention_delete", 0, end=30_000)], "retention"),
    ("files deleted by hand", [row(1, "footage_lost", 0, end=30_000)], "footage_lost"),
    ("an exit long before does not count", [row(1, "recorder_exit", -60_000)], "unexplained"),
]


@pytest.mark.parametrize(("rows", "cause"), [(r, c) for _, r, c in CASES], ids=[n for n, _, _ in CASES])
def test_cause_of_a_gap(rows, cause):
    [gap] = explain([("cam", T, T + 30_000)], rows)
    assert gap.cause == cause
    assert (gap.cause == "unexplained") == (gap.label == "unexplained")


def test_a_stream_skip_is_named():
    [gap] = explain([("cam", T, T + 2_300)], [row(1, "stream_gap", 2_300, detail="the stream skipped 2.3 s")])
    assert gap.cause == "stream_gap" and gap.label == "stream interrupted"
