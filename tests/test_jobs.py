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
