"""Per-user quotas on exports and marks (campy/recording/quotas.py)."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from campy.clock import ManualClock
from campy.errors import QuotaExceeded
from campy.recording import quotas
from campy.recording.model import DAY_MS, Segment
from tests.recording.test_manager import make_manager

NOW = 1_796_000_000_000


def job(owner="vera", state="done", created_ms=NOW - 1000, estimate_bytes=0):
    return SimpleNamespace(owner=owner, state=state, created_ms=created_ms, estimate_bytes=estimate_bytes)


def check(tmp_path, jobs, *, estimate=1000, floor=None, user="vera"):
    quotas.check_export(user=user, jobs=jobs, now_ms=NOW, estimate_bytes=estimate, directory=tmp_path / "exports",
                        storage=tmp_path, floor_bytes=floor)


def test_at_most_two_running_exports_per_user(tmp_path):
    running = [job(state="running"), job(state="queued")]
    with pytest.raises(QuotaExceeded, match=r"2 exports in progress \(at most 2\); wait for one to finish"):
        check(tmp_path, running)
    check(tmp_path, running, user="otto")  # another user is not held up
    check(tmp_path, [job(state="running"), job(state="done")])


def test_at_most_twenty_exports_a_day_per_user(tmp_path):
    day = [job(created_ms=NOW - DAY_MS + 60_000 * (i + 1)) for i in range(20)]
    with pytest.raises(QuotaExceeded, match=r"20 exports in the last 24 hours \(at most 20\); the next is possible "
                                            r"in 1 min") as err:
        check(tmp_path, day)
    assert err.value.status == 429
    check(tmp_path, day[1:])  # 19 in the window
    check(tmp_path, [job(created_ms=NOW - DAY_MS)] * 20)  # all older than a day


def test_an_export_may_not_push_free_space_under_the_floor(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    check(tmp_path, [], estimate=1000, floor=free // 2)
    with pytest.raises(QuotaExceeded, match="below the .* MB that recording keeps free; export a shorter range"):
        check(tmp_path, [], estimate=free // 2 + 10**9, floor=free // 2)
    # exports still being written count too
    pending = [job(owner="otto", state="running", estimate_bytes=free // 2)]
    with pytest.raises(QuotaExceeded):
        check(tmp_path, pending, estimate=10**9, floor=free // 2)


def test_export_estimate_is_the_trimmed_share_of_each_segment():
    segs = [Segment(1, "a", 0, 10_000, 1_000), Segment(2, "a", 10_000, 20_000, 2_000)]
    assert quotas.estimate_export_bytes(segs, 5_000, 15_000) == 500 + 1_000


def test_at_most_fifty_active_marks_per_user(tmp_path):
    clock = ManualClock(1_796_000_000.0)
    mgr = make_manager(tmp_path, clock)  # event_days: 3
    for _ in range(quotas.MAX_ACTIVE_MARKS):
        mgr.add_mark("yard", seconds=10, user="vera")
    with pytest.raises(QuotaExceeded, match=r"50 marks still protecting footage \(at most 50\)"):
        mgr.add_mark("yard", seconds=10, user="vera")
    mgr.add_mark("yard", seconds=10, user="otto")  # per user
    mgr.add_mark("yard", seconds=10)  # CamPy's own marks (detection) have no quota
    clock.advance(3 * 86_400 + 60)  # their protection ran out: they no longer count
    mgr.add_mark("yard", seconds=10, user="vera")
    # motion marks (no keep_until of their own) count for a week after they end
    for _ in range(quotas.MAX_ACTIVE_MARKS - 1):
        mgr.add_mark("yard", kind="motion", seconds=10, user="vera")
    with pytest.raises(QuotaExceeded):
        mgr.add_mark("yard", kind="motion", seconds=10, user="vera")
    row = mgr.index.db.execute("SELECT created_by FROM marks ORDER BY id LIMIT 1").fetchone()
    assert row[0] == "vera"
