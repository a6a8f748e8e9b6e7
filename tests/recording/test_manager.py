"""Recording modes and retention passes end to end over real files, SQLite and a manual clock."""

from __future__ import annotations

import asyncio

import pytest

from campy.clock import ManualClock
from campy.config import load_config
from campy.db.database import open_db
from campy.errors import BadRequest, NotFound
from campy.recording.layout import INCOMING
from campy.recording.manager import RecordingManager
from tests.recording.conftest import clip_bytes, make_clip

SEG_MS = 2000


def make_manager(tmp_path, clock, *, mode="continuous", extra="", server_extra=""):
    cfg_path = tmp_path / "campy.yaml"
    cfg_path.write_text(
        f"server:\n  data_dir: {tmp_path / 'data'}\n{server_extra}"
        f"recording:\n  grace_seconds: 60\n  min_free: null\n{extra}"
        "cameras:\n"
        "  yard:\n    main: rtsp://192.0.2.10/main\n"
        f"    record:\n      mode: {mode}\n      days: 1\n      event_days: 3\n"
        "      pre_roll_seconds: 2\n      post_roll_seconds: 2\n")
    cfg = load_config(cfg_path)
    db = open_db(tmp_path / "campy.db")
    return RecordingManager(db=db, clock=clock, scrub=lambda s: s, config=lambda: cfg,
                            source_url=lambda cam: f"rtsp://127.0.0.1:1/{cam}")


def record(mgr, start_ms, count):
    """`count` consecutive real 2 s segments from `start_ms`, committed as the recorder would."""
    out = []
    for i in range(count):
        f = make_clip(mgr.storage / "yard" / INCOMING / f"s{start_ms}_{i}.mp4", SEG_MS / 1000)
        seg = asyncio.run(mgr.store.commit("yard", f, start_ms=start_ms + i * SEG_MS,
                                           end_ms=start_ms + (i + 1) * SEG_MS))
        assert seg is not None
        out.append(seg)
    return out


def kept_starts(mgr):
    return [s.start_ms for s in mgr.index.all_segments()]


@pytest.fixture
def clock():
    return ManualClock(1_796_000_000.0)


def test_continuous_keeps_footage_for_its_days(tmp_path, clock):
    mgr = make_manager(tmp_path, clock)
    t0 = clock.now_ms()
    segs = record(mgr, t0, 3)
    clock.advance(86_400 - 10)
    assert asyncio.run(mgr.retention_pass()).deleted == 0
    clock.advance(20)  # now 1 day after the first two segments ended
    result = asyncio.run(mgr.retention_pass())
    assert result.deleted == 3  # all three ended ≥ 1 day ago (the last at +6 s)
    assert kept_starts(mgr) == []
    assert not any((mgr.storage / s.path).exists() for s in segs)


def test_events_mode_keeps_only_footage_around_events(tmp_path, clock):
    mgr = make_manager(tmp_path, clock, mode="events")
    t0 = clock.now_ms()
    record(mgr, t0, 10)  # 20 s of footage: segments at 0,2,4,…,18 s
    # A manual event from 9.0 s to 10.5 s; with 2 s pre/post roll it covers 7.0–12.5 s.
    mark = mgr.add_mark("yard", start_ms=t0 + 9000, end_ms=t0 + 10_500, label="doorbell")
    assert mark["keep_until_ms"] == t0 + 10_500 + 3 * 86_400_000
    clock.advance(30)
    assert asyncio.run(mgr.retention_pass()).deleted == 0  # within the 60 s grace nothing goes
    clock.advance(60)
    result = asyncio.run(mgr.retention_pass())
    assert kept_starts(mgr) == [t0 + 6000, t0 + 8000, t0 + 10_000, t0 + 12_000]
    assert result.deleted == 6
    # The event's own retention (3 days) outlives the camera's 1 day.
    clock.advance(2 * 86_400)
    asyncio.run(mgr.retention_pass())
    assert len(kept_starts(mgr)) == 4
    clock.advance(86_400 + 10)
    asyncio.run(mgr.retention_pass())
    assert kept_starts(mgr) == []


def test_motion_mode_counts_motion_windows(tmp_path, clock):
    mgr = make_manager(tmp_path, clock, mode="motion")
    t0 = clock.now_ms()
    record(mgr, t0, 5)
    mgr.add_mark("yard", kind="motion", start_ms=t0 + 100, end_ms=t0 + 500)
    clock.advance(120)
    asyncio.run(mgr.retention_pass())
    # 0.1–0.5 s widened by 2 s → up to 2.5 s: the first two segments stay.
    assert kept_starts(mgr) == [t0, t0 + 2000]


def test_size_cap_deletes_oldest_first_but_never_event_footage(tmp_path, clock):
    one = len(clip_bytes(SEG_MS / 1000))
    capped = make_manager(tmp_path, clock, extra=f"  max_size: {one * 3}\n")
    t0 = clock.now_ms()
    record(capped, t0, 6)
    capped.add_mark("yard", start_ms=t0 + 500, end_ms=t0 + 600)
    assert capped.under_pressure()
    result = asyncio.run(capped.retention_pass("disk pressure"))
    # Protected: 0 s (and 2 s through the 2 s pre/post roll); then oldest first until ≤ cap.
    assert kept_starts(capped)[:2] == [t0, t0 + 2000]
    assert capped.index.used_bytes() <= one * 3 + 100
    assert result.deleted == 3
    assert not capped.under_pressure()
    status = capped.storage_status()
    assert any("disk pressure" in w for w in status["warnings"])


def test_marks_are_validated(tmp_path, clock):
    mgr = make_manager(tmp_path, clock)
    with pytest.raises(NotFound):
        mgr.add_mark("nope")
    for kwargs in ({"kind": "party"}, {"start_ms": 10, "end_ms": 5}, {"seconds": 0},
                   {"seconds": 10**9}, {"start_ms": clock.now_ms() + 3_600_000}):
        with pytest.raises(BadRequest):
            mgr.add_mark("yard", **kwargs)
    mark = mgr.add_mark("yard", seconds=30)
    assert mark["end_ms"] - mark["start_ms"] == 30_000


def test_events_mode_deletions_between_kept_footage_are_logged_as_the_gaps_cause(tmp_path, clock):
    mgr = make_manager(tmp_path, clock, mode="events")
    t0 = clock.now_ms()
    record(mgr, t0, 10)
    mgr.add_mark("yard", start_ms=t0, end_ms=t0 + 1000)                       # keeps the first segment
    mgr.add_mark("yard", start_ms=t0 + 17_000, end_ms=t0 + 18_000)            # and the last one
    clock.advance(120)  # past the grace
    assert asyncio.run(mgr.retention_pass()).deleted > 0
    [gap] = mgr.gaps()
    assert gap.cause == "retention" and gap.start_ms <= t0 + 4_000 and gap.end_ms >= t0 + 12_000


class _Health:
    def __init__(self):
        self.states = {}

    def all(self):
        return self.states


class _H:
    def __init__(self, state, since_ms, message=""):
        self.state, self.since_ms, self.message = state, since_ms, message


def test_camera_outages_and_campy_restarts_are_logged_and_name_gaps(tmp_path, clock):
    mgr = make_manager(tmp_path, clock)
    mgr.health = _Health()
    mgr._log_start()
    t0 = clock.now_ms()
    record(mgr, t0, 2)                                                        # ends at t0 + 4 s
    mgr.health.states["yard"] = _H("online", t0)
    mgr.check_health()
    mgr.health.states["yard"] = _H("offline", t0 + 10_000, "no data from the camera for 6 s")
    mgr.check_health()
    mgr.check_health()                                                        # no change, no row
    mgr.health.states["yard"] = _H("online", t0 + 30_000)
    mgr.check_health()
    record(mgr, t0 + 32_000, 2)                                               # the camera is back
    clock.advance(40)
    mgr._log("campy_stop", "clean stop")
    clock.advance(20)
    mgr._log_start()                                                          # a clean restart
    record(mgr, clock.now_ms(), 1)
    clock.advance(20)
    mgr._log_start()                                                          # killed: no stop logged
    record(mgr, clock.now_ms(), 1)
    gaps = mgr.gaps()
    assert [g.cause for g in gaps] == ["camera_offline", "campy_down", "campy_down"], gaps
    assert "no data" in gaps[0].detail
    assert "clean stop" in gaps[1].detail and "unclean" in gaps[2].detail
    kinds = [r[0] for r in mgr.index.db.execute("SELECT kind FROM recording_log ORDER BY id").fetchall()]
    assert kinds.count("camera_offline") == 1 and kinds.count("camera_online") == 1


def test_retention_runs_off_the_event_loop(tmp_path, clock):
    import threading

    mgr = make_manager(tmp_path, clock)
    record(mgr, clock.now_ms(), 2)
    seen = []
    real = mgr._retention_work

    def spy(*args):
        seen.append(threading.current_thread() is threading.main_thread())
        return real(*args)

    mgr._retention_work = spy
    clock.advance(2 * 86_400)
    assert asyncio.run(mgr.retention_pass()).deleted == 2
    assert seen == [False]
    assert kept_starts(mgr) == []


def test_the_size_cap_wins_over_marks_and_says_what_it_gave_up(tmp_path, clock):
    one = len(clip_bytes(SEG_MS / 1000))
    capped = make_manager(tmp_path, clock, extra=f"  max_size: {one * 2}\n")
    t0 = clock.now_ms()
    record(capped, t0, 5)
    capped.add_mark("yard", start_ms=t0, end_ms=t0 + 5 * SEG_MS)  # every segment protected
    result = asyncio.run(capped.retention_pass("disk pressure"))
    # the cap holds: the oldest protected footage went, the newest two segments stay
    assert capped.index.used_bytes() <= one * 2 + 100
    assert kept_starts(capped) == [t0 + 3 * SEG_MS, t0 + 4 * SEG_MS]
    assert not capped.under_pressure()
    assert result.shortfall_bytes == 0
    [given] = result.given_up
    assert (given.camera, given.segments, given.limit) == ("yard", 3, "size")
    assert (given.start_ms, given.end_ms) == (t0, t0 + 3 * SEG_MS)
    status = capped.storage_status()  # what /api/storage and the storage page show
    assert status["protected_deleted_total"] == 3
    assert any(w.startswith("3 protected segments (") and "yard" in w
               and "were deleted to keep recordings under the size cap" in w for w in status["warnings"])
    assert status["given_up"][0]["segments"] == 3


def test_start_and_given_up_texts_use_server_timezone(tmp_path, clock):
    from campy.recording.manager import GivenUp

    # 1_796_000_000 s is 2026-11-30 00:53:20 UTC, 01:53:20 CET.
    mgr = make_manager(tmp_path, clock, extra="", server_extra="  timezone: Europe/Berlin\n")
    mgr._log("campy_stop", "clean stop")
    clock.advance(60)
    mgr._log_start()
    row = mgr.index.last_campy_row()
    assert row is not None and row.detail == "after a clean stop at 2026-11-30 01:53:20 CET", row
    g = GivenUp(at_ms=clock.now_ms(), camera="yard", segments=2, size_bytes=10**9, start_ms=1_796_000_000_000,
                end_ms=1_796_000_060_000, limit="size", timezone="Europe/Berlin")
    assert "2026-11-30 01:53:20 CET – 2026-11-30 01:54:20 CET" in g.message, g.message
