"""The SQLite session store: expired rows are purged, and an hourly job does it."""

from __future__ import annotations

import asyncio

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from campy.clock import ManualClock
from campy.db.database import open_db
from campy.web.session_store import PURGE_JOB_ID, SQLiteSessionStore, schedule_purge


def _rows(db) -> int:
    return db.execute("SELECT count(*) FROM sessions").fetchone()[0]


def test_purge_deletes_only_expired_sessions(tmp_path):
    clock = ManualClock(1_000.0)
    db = open_db(tmp_path / "campy.db")
    store = SQLiteSessionStore(db, clock=clock)
    store._set("short", b"{}", 60)
    store._set("long", b"{}", 3600)
    store._set("forever", b"{}", None)
    assert store.purge_expired() == 0
    clock.advance(61)
    assert store.purge_expired() == 1
    assert _rows(db) == 2
    clock.advance(3600)
    assert store.purge_expired() == 1
    assert [r[0] for r in db.execute("SELECT key FROM sessions")] == ["forever"]


def test_the_purge_runs_as_an_hourly_scheduler_job(tmp_path):
    clock = ManualClock(1_000.0)
    db = open_db(tmp_path / "campy.db")
    store = SQLiteSessionStore(db, clock=clock)
    store._set("old", b"{}", 10)
    clock.advance(11)

    async def main() -> None:
        scheduler = AsyncIOScheduler()
        job = schedule_purge(scheduler, store)
        assert scheduler.get_job(PURGE_JOB_ID) is job
        assert job.trigger.interval.total_seconds() == 3600
        scheduler.start()
        try:
            await job.func()  # what the scheduler calls every hour
        finally:
            scheduler.shutdown(wait=False)

    asyncio.run(main())
    assert _rows(db) == 0


def test_the_runtime_registers_the_purge_job(tmp_path):
    from campy.runtime import Runtime
    from tests.helpers import free_port, write_config

    cfg = write_config(tmp_path / "campy.yaml", [{"name": "cam1", "main": "rtsp://127.0.0.1:9/x", "enabled": False}],
                       port=free_port(), password_secret="x")
    runtime = Runtime(cfg)
    job = runtime.scheduler.get_job(PURGE_JOB_ID)
    assert job is not None and job.name == "purge expired sessions"
