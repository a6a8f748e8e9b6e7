"""The sub stream recorded beside the main one (`record.sub`): layout, index, recovery, `campy
check`, the auto decision and retention, over real files, SQLite and a manual clock."""

from __future__ import annotations

import asyncio

import pytest

from campy.clock import ManualClock
from campy.config import ConfigError, load_config
from campy.db.database import open_db
from campy.recording.check import check_recordings
from campy.recording.layout import INCOMING, parse_track_relpath, segment_relpath
from campy.recording.manager import RecordingManager
from campy.recording.recovery import recover
from tests.recording.conftest import clip_bytes, make_clip

SEG_MS = 2000
T0 = 1_796_000_000_000


def make_manager(tmp_path, clock, *, sub="auto", mode="continuous", extra=""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg_path = tmp_path / "campy.yaml"
    cfg_path.write_text(
        f"server:\n  data_dir: {tmp_path / 'data'}\n"
        f"recording:\n  grace_seconds: 60\n  min_free: null\n{extra}"
        "cameras:\n"
        "  yard:\n    main: rtsp://192.0.2.10/main\n    sub: rtsp://192.0.2.10/sub\n"
        f"    record:\n      mode: {mode}\n      days: 1\n      event_days: 3\n      sub: {sub}\n"
        "      pre_roll_seconds: 2\n      post_roll_seconds: 2\n")
    cfg = load_config(cfg_path)
    db = open_db(tmp_path / "campy.db")
    return RecordingManager(db=db, clock=clock, scrub=lambda s: s, config=lambda: cfg,
                            source_url=lambda cam: f"rtsp://127.0.0.1:1/{cam}")


def record(mgr, start_ms, count, *, stream="main", seconds=2.0):
    out = []
    d = "yard" if stream == "main" else "yard.sub"
    for i in range(count):
        f = make_clip(mgr.storage / d / INCOMING / f"{stream}{start_ms}_{i}.mp4", seconds)
        seg = asyncio.run(mgr.store.commit("yard", f, start_ms=start_ms + i * SEG_MS,
                                           end_ms=start_ms + (i + 1) * SEG_MS, stream=stream))
        assert seg is not None
        out.append(seg)
    return out


@pytest.fixture
def clock():
    return ManualClock(T0 / 1000)


def test_layout_keeps_the_sub_stream_beside_the_main_one():
    rel = segment_relpath("yard", T0 + 5, "sub")
    assert rel.startswith("yard.sub/2026-11-30/00/")
    assert parse_track_relpath(rel) == ("yard", "sub", T0 + 5)
    assert parse_track_relpath(segment_relpath("yard", T0 + 5)) == ("yard", "main", T0 + 5)


def test_both_streams_are_indexed_apart_and_reads_default_to_main(tmp_path, clock):
    mgr = make_manager(tmp_path, clock)
    main = record(mgr, T0, 3)
    # The sub stream overlaps the main one in time: each stream is its own track.
    sub = record(mgr, T0 + 500, 3, stream="sub")
    assert [s.start_ms for s in sub] == [T0 + 500, T0 + 2500, T0 + 4500]
    assert all(s.path.startswith("yard.sub/") and (mgr.storage / s.path).exists() for s in sub)
    assert [s.id for s in mgr.segments("yard", T0, T0 + 10_000)] == [s.id for s in main]
    assert [s.id for s in mgr.segments("yard", T0, T0 + 10_000, stream="sub")] == [s.id for s in sub]
    assert mgr.index.last_end_ms("yard") == T0 + 6000
    assert mgr.index.last_end_ms("yard", "sub") == T0 + 6500
    # Sizes count both streams; the recorded time is the main stream's.
    total = sum(s.size_bytes for s in main + sub)
    assert mgr.index.used_bytes() == total
    assert mgr.index.camera_stats()[0]["size_bytes"] == total
    assert mgr.index.recent_rate(since_ms=T0)["yard"] == (total, 6000)
    # A gap is the main stream's: the sub stream starting late is not one.
    assert mgr.index.gaps(min_ms=100) == []
    violations, counts = check_recordings(mgr.index, mgr.storage, deep=True, settle_s=0)
    assert violations == [] and counts["rows"] == counts["files"] == 6


def test_recovery_indexes_a_sub_file_without_a_row_and_salvages_its_incoming(tmp_path, clock):
    mgr = make_manager(tmp_path, clock)
    record(mgr, T0, 2)
    make_clip(mgr.storage / segment_relpath("yard", T0, "sub"))  # a file without a row
    torn = make_clip(mgr.storage / "yard.sub" / INCOMING / f"{T0 + 60_000}-000001.mp4", 2.0)
    report = asyncio.run(recover(mgr.store))
    assert report.indexed_orphans == 1 and report.salvaged == 1 and report.quarantined == 0
    subs = [s for s in mgr.index.all_segments() if s.stream == "sub"]
    assert subs[0].path == segment_relpath("yard", T0, "sub")
    assert len(subs) == 2 and subs[1].path.startswith("yard.sub/") and not torn.exists()
    assert [s.stream for s in mgr.segments("yard", T0 - 1, T0 + 3_600_000)] == ["main", "main"]


def test_sub_true_needs_a_sub_url(tmp_path):
    p = tmp_path / "campy.yaml"
    p.write_text("cameras:\n  yard:\n    main: rtsp://192.0.2.10/main\n    record:\n      sub: true\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert "cameras.yard.record.sub" in str(err.value) and "sub' URL" in str(err.value)


def test_auto_records_the_sub_stream_when_the_main_stream_is_h265(tmp_path, clock):
    mgr = make_manager(tmp_path, clock)
    cam = mgr._config().cameras["yard"]
    assert not mgr.records_sub(cam)  # codec unknown (and the clips are H.264)

    class Health:
        codec = "H265"

        def get(self, name):
            return type("H", (), {"main_codec": self.codec})()

    mgr.health = Health()
    assert mgr.records_sub(cam)
    Health.codec = "H264"
    assert not mgr.records_sub(cam)
    on = make_manager(tmp_path / "on", clock, sub="true")
    assert on.records_sub(on._config().cameras["yard"])
    off = make_manager(tmp_path / "off", clock, sub="false")
    off.health = Health()
    Health.codec = "H265"
    assert not off.records_sub(off._config().cameras["yard"])


def test_retention_deletes_sub_footage_by_the_same_age_rules(tmp_path, clock):
    mgr = make_manager(tmp_path, clock, mode="events")
    record(mgr, T0, 10)
    record(mgr, T0 + 300, 10, stream="sub")
    # An event from 9.0 s to 10.5 s (2 s pre/post roll: 7.0–12.5 s) keeps both streams there.
    mgr.add_mark("yard", start_ms=T0 + 9000, end_ms=T0 + 10_500, label="doorbell")
    clock.advance(90)  # past the 60 s grace
    asyncio.run(mgr.retention_pass())
    left = {(s.stream, s.start_ms - T0) for s in mgr.index.all_segments()}
    assert left == {("main", 6000), ("main", 8000), ("main", 10_000), ("main", 12_000),
                    ("sub", 6300), ("sub", 8300), ("sub", 10_300), ("sub", 12_300)}
    clock.advance(3 * 86_400)  # the event's own retention is over
    asyncio.run(mgr.retention_pass())
    assert mgr.index.all_segments() == []
    assert not any(p.suffix == ".mp4" for p in (mgr.storage / "yard.sub").rglob("*.mp4"))


def test_the_size_cap_counts_sub_footage_and_deletes_it_with_main_of_the_same_age(tmp_path, clock):
    one = len(clip_bytes(2.0))  # every segment below is this clip
    # A cap of 8 segments' bytes: main alone (6) fits, main + sub (12) does not.
    mgr = make_manager(tmp_path, clock, extra=f"  max_size: {8 * one}\n")
    record(mgr, T0, 6)
    record(mgr, T0 + 300, 6, stream="sub")
    assert mgr.index.used_bytes() == 12 * one and mgr.under_pressure()
    result = asyncio.run(mgr.retention_pass())
    assert result.deleted == 4
    left = sorted((s.start_ms - T0, s.stream) for s in mgr.index.all_segments())
    # The four oldest of the one oldest-first list went: two main, two sub.
    assert left == [(4000, "main"), (4300, "sub"), (6000, "main"), (6300, "sub"),
                    (8000, "main"), (8300, "sub"), (10_000, "main"), (10_300, "sub")]
    assert mgr.index.used_bytes() == 8 * one


def test_a_playback_window_is_one_finite_mp4_made_once(tmp_path, clock):
    """Two asks for the same window at once run one ffmpeg; the file has its index in front
    and plays the window's length; the window is bounded by WINDOW_MS."""
    from campy.recording import playfile
    from campy.recording.probe import probe_sync

    mgr = make_manager(tmp_path, clock)
    segs = record(mgr, T0, 4, stream="sub")
    files = playfile.PlayFiles(tmp_path / "playback")
    made: list[int] = []
    real = files._make

    async def counting(*args):
        made.append(1)
        await real(*args)

    files._make = counting

    async def ask():
        return await asyncio.gather(*(files.get(mgr.storage, camera="yard", stream="sub", segments=segs[1:],
                                                start_ms=T0 + 2000, end_ms=T0 + 8000) for _ in range(2)))

    a, b = asyncio.run(ask())
    assert a == b and len(made) == 1
    data = a.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    assert abs(probe_sync(a).duration_ms - 6000) < 300
    assert asyncio.run(ask())[0] == a and len(made) == 1  # kept: a seek's Range requests reuse it
    assert [s.start_ms for s in playfile.window(segs, T0)] == [T0, T0 + 2000, T0 + 4000, T0 + 6000]
    long = [s.__class__(**{**{f: getattr(s, f) for f in s.__struct_fields__}, "start_ms": s.start_ms + i * 240_000,
                           "end_ms": s.end_ms + i * 240_000}) for i, s in enumerate(segs)]
    assert len(playfile.window(long, T0)) == 3  # the 4th ends past 10 minutes
