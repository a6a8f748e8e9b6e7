"""Placing a run's segments on CamPy's clock from ffmpeg's segment list (timing.py)."""

from __future__ import annotations

from campy.recording.timing import DEADBAND_MS, MAX_PULL_MS, MAX_STEP_MS, RunTimeline

T0 = 1_796_000_000_000


def _feed(tl, segments, *, lag_ms=150):
    """segments: (t0, t1, true wall end ms); the file's mtime is the true end + lag."""
    out = []
    for t0, t1, wall_end in segments:
        out.append(tl.place(t0, t1, mtime_ms=wall_end + lag_ms, now_ms=wall_end + lag_ms + 5))
    return out


def test_stream_time_between_segments_is_not_lost():
    # The simulator's list: each segment ends one frame-ish before the next one's keyframe
    # (11.704 → 11.736). Chaining end - start lost those ~20 ms a segment, seconds an hour.
    segs, t = [], 0.0
    for _ in range(360):  # an hour of 10 s segments
        t0, t1 = t, t + 10.032
        segs.append((t0, t1, T0 + int(round(t1 * 1000))))
        t = t1 + 0.032
    placed = _feed(RunTimeline(), segs)
    assert all(b[0] == a[1] for a, b in zip(placed, placed[1:], strict=False)), "contiguous"
    # The last end is where the stream says, give or take the mtime lag: no drift.
    assert abs(placed[-1][1] - segs[-1][2]) <= 200


def test_the_first_segment_ends_at_its_files_mtime():
    tl = RunTimeline()
    start, end = tl.place(0.0, 11.7, mtime_ms=T0, now_ms=T0 + 30_000)  # the line came late
    assert (start, end) == (T0 - 11_700, T0)


def test_a_camera_clock_running_slow_is_slewed_to_the_wall_clock_without_gaps():
    # The camera's clock runs 1 % slow: 10 s of stream time take 10.1 s of wall time.
    segs = [(k * 10.0, (k + 1) * 10.0, T0 + int((k + 1) * 10_100)) for k in range(200)]
    placed = _feed(RunTimeline(), segs, lag_ms=0)
    assert all(b[0] == a[1] for a, b in zip(placed, placed[1:], strict=False))
    for (start, end), (t0, t1, _wall) in zip(placed, segs, strict=True):
        assert abs((end - start) - (t1 - t0) * 1000) <= MAX_STEP_MS  # within invariant 1's 1 s
    assert abs(placed[-1][1] - segs[-1][2]) <= DEADBAND_MS + MAX_STEP_MS


def test_a_late_anchor_is_pulled_back_to_the_files_mtimes_without_squashing_segments():
    # Under load ffmpeg wrote its first segment 3 s after capture, then caught up: later
    # ends placed by stream position would lie after their files were last written.
    segs = [(k * 2.0, (k + 1) * 2.0, T0 + (k + 1) * 2000) for k in range(12)]
    tl = RunTimeline()
    placed = [tl.place(*segs[0][:2], mtime_ms=segs[0][2] + 3000, now_ms=segs[0][2] + 3000)]
    placed += [tl.place(t0, t1, mtime_ms=w + 20, now_ms=w + 30) for t0, t1, w in segs[1:]]
    assert all(b[0] == a[1] for a, b in zip(placed, placed[1:], strict=False))
    assert all(end - start >= 2000 - MAX_PULL_MS for start, end in placed)
    assert all(end <= w + 20 for (_, end), (_, _, w) in zip(placed[5:], segs[5:], strict=True))


def test_a_timestamp_jump_reanchors_on_the_mtime_and_never_overlaps():
    tl = RunTimeline()
    _, end1 = tl.place(0.0, 10.0, mtime_ms=T0, now_ms=T0)
    start2, end2 = tl.place(5000.0, 5010.0, mtime_ms=T0 + 10_050, now_ms=T0 + 10_060)
    assert start2 >= end1 and end2 == T0 + 10_050


def test_a_new_run_follows_its_anchor_not_the_previous_run():
    # The previous run ended at T0; the new run's first segment is placed by its own mtime
    # (the store keeps it from overlapping), and a real outage stays a gap.
    tl = RunTimeline(prev_end_ms=T0)
    start, end = tl.place(0.0, 4.0, mtime_ms=T0 + 7_000, now_ms=T0 + 7_010)
    assert (start, end) == (T0 + 3_000, T0 + 7_000)


def _recorder(tmp_path, monkeypatch, clock_s):
    from campy.clock import ManualClock
    from campy.recording import recorder as rec_mod
    from campy.recording.probe import ProbeResult

    probes, committed, events = [], [], []

    async def fake_probe(path):
        probes.append(path.name)
        return ProbeResult(duration_ms=10_000, codec="h264", audio=True)

    monkeypatch.setattr(rec_mod, "probe", fake_probe)

    class Sink:
        async def commit(self, camera, file, *, start_ms, end_ms, info=None, stream="main"):
            committed.append((file.name, start_ms, end_ms, info))
            return type("S", (), {"end_ms": end_ms})()

        async def salvage(self, camera, file, *, start_ms, stream="main"):
            return None

    r = rec_mod.Recorder(camera="cam", url="rtsp://x", storage=tmp_path, segment_seconds=10, sink=Sink(),
                         clock=ManualClock(clock_s), scrub=str,
                         on_event=lambda kind, detail, at_ms=None: events.append((kind, at_ms)))
    return r, probes, committed, events


def _lines(r, tmp_path, lines):
    import asyncio
    import os

    from campy.recording.layout import incoming_dir

    out = incoming_dir(tmp_path, "cam")
    out.mkdir(parents=True, exist_ok=True)
    for name, t0, t1, mtime in lines:
        (out / name).write_bytes(b"x")
        os.utime(out / name, (mtime / 1000, mtime / 1000))
        asyncio.run(r._on_line(out, f"{name},{t0},{t1}"))


def test_a_runs_backlog_is_anchored_on_the_first_segment_written_at_the_streams_pace(tmp_path, monkeypatch):
    # Captured from T0; ffmpeg wrote the first three 2 s segments at once, 4 s late, then kept pace.
    r, _, committed, _ = _recorder(tmp_path, monkeypatch, T0 / 1000 + 30)
    _lines(r, tmp_path, [("a.mp4", 0.0, 2.0, T0 + 6_000), ("b.mp4", 2.0, 4.0, T0 + 6_100),
                         ("c.mp4", 4.0, 6.0, T0 + 6_200), ("d.mp4", 6.0, 8.0, T0 + 8_050)])
    assert [(c[1], c[2]) for c in committed] == [(T0 + 50 + k * 2000, T0 + 50 + (k + 1) * 2000) for k in range(4)]


def test_the_recorder_places_lines_without_probing_each_file_and_logs_a_stream_skip(tmp_path, monkeypatch):
    import asyncio
    import os

    from campy.recording.layout import incoming_dir

    r, probes, committed, events = _recorder(tmp_path, monkeypatch, T0 / 1000 + 40)
    out = incoming_dir(tmp_path, "cam")
    out.mkdir(parents=True)
    lines = [("a.mp4", 0.0, 10.0, T0 + 10_000), ("b.mp4", 10.02, 20.0, T0 + 20_000),
             ("c.mp4", 22.3, 32.3, T0 + 32_300)]  # 2.3 s of stream missing before c
    for name, t0, t1, mtime in lines:
        (out / name).write_bytes(b"x")
        os.utime(out / name, (mtime / 1000, mtime / 1000))
        asyncio.run(r._on_line(out, f"{name},{t0},{t1}"))
    assert probes == ["a.mp4"]  # codecs probed once per run
    assert [c[3].codec for c in committed] == ["h264"] * 3
    (_, a0, a1, _), (_, b0, b1, _), (_, c0, c1, _) = committed
    assert (a0, a1) == (T0, T0 + 10_000) and b0 == a1 and b1 == T0 + 20_000
    assert c0 - b1 == 2_300 and c1 == T0 + 32_300  # the hole shows where it happened
    assert events == [("stream_gap", c0)]
