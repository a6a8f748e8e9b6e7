"""The job registry (campy/jobs.py) on a real AsyncIOScheduler: next run, errors, run now."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from campy.errors import NotFound
from campy.jobs import JobRegistry


async def _until(pred, timeout: float = 10.0) -> None:
    async def wait() -> None:
        while not pred():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout)


def test_jobs_listed_errors_kept_and_run_now() -> None:
    async def main() -> None:
        sched = AsyncIOScheduler(timezone=UTC)
        reg = JobRegistry(sched)
        calls: list[str] = []

        async def good() -> str:
            calls.append("good")
            await asyncio.sleep(0)
            return "did 3 things"

        def bad() -> None:  # a plain function: APScheduler runs it in a worker thread
            calls.append("bad")
            raise RuntimeError("disk on fire")

        sched.add_job(good, "interval", hours=1, id="good", name="a good job")
        sched.add_job(bad, "interval", hours=1, id="bad", name="a failing job")
        sched.start()
        try:
            listed = {j["id"]: j for j in reg.snapshot()}
            assert set(listed) == {"good", "bad"}
            assert all(j["next_run_ms"] and j["last_run_ms"] is None and j["result"] is None
                       for j in listed.values())
            reg.run_now("bad")
            await _until(lambda: reg.get("bad")["result"] is not None)
            bad_entry = reg.get("bad")
            assert bad_entry["result"] == "error" and "RuntimeError: disk on fire" in bad_entry["detail"]
            assert bad_entry["errors"] == 1 and bad_entry["next_run_ms"] is not None
            # the scheduler keeps running: another job still runs (and says what it did)
            reg.run_now("good")
            await _until(lambda: reg.get("good")["result"] is not None)
            good_entry = reg.get("good")
            assert good_entry["result"] == "ok" and good_entry["detail"] == "did 3 things"
            assert good_entry["last_run_ms"] and good_entry["duration_ms"] is not None
            assert sched.running and calls == ["bad", "good"]
            with pytest.raises(NotFound):
                reg.run_now("nope")
            sched.remove_job("good")
            assert [j["id"] for j in reg.snapshot()] == ["bad"]
        finally:
            sched.shutdown(wait=False)

    asyncio.run(main())


def test_maintenance_jobs_follow_the_config(tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from campy.config import ConfigError, load_config
    from campy.maintenance import Maintenance
    from tests.config.test_config import GOOD, write

    monkeypatch.setenv("BACK_PW", "env-pw")
    assert load_config(write(tmp_path, GOOD)).server.maintenance_at == "03:30"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD.replace("port: 8099", "port: 8099\n  maintenance_at: '25:00'")))
    assert any(i.path == "server.maintenance_at" and "HH:MM" in i.message for i in err.value.issues)

    def cfg(interval: int, at: str, tz: str) -> SimpleNamespace:
        return SimpleNamespace(recording=SimpleNamespace(retention_interval_seconds=interval),
                               server=SimpleNamespace(maintenance_at=at, timezone=tz))

    rt = SimpleNamespace(scheduler=AsyncIOScheduler(timezone=UTC), config=cfg(60, "03:30", "UTC"))
    m = Maintenance(rt)
    m.schedule()
    jobs = {j.id: j for j in rt.scheduler.get_jobs()}
    assert {"retention", "db-maintenance", "purge-expired", "purge-audit", "prune-events"} <= set(jobs)
    assert jobs["retention"].trigger.interval.total_seconds() == 60
    assert "hour='3', minute='30'" in str(jobs["db-maintenance"].trigger)
    rt.config = cfg(5, "04:15", "Europe/Berlin")
    m.reschedule()
    jobs = {j.id: j for j in rt.scheduler.get_jobs()}
    assert jobs["retention"].trigger.interval.total_seconds() == 5
    trig = jobs["db-maintenance"].trigger
    assert "hour='4', minute='15'" in str(trig) and str(trig.timezone) == "Europe/Berlin"
