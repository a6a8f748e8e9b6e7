"""CamPy's periodic jobs on ``runtime.scheduler`` (APScheduler, in the one event loop).

=================  ==========================================  ==================================
id                 what                                        when
=================  ==========================================  ==================================
retention          a retention pass (worker thread)            every recording.retention_interval_seconds
purge-expired      finished exports past their keep time,       hourly
                   tokens and embeds expired or revoked over
                   30 days ago
purge-sessions     expired login sessions (session_store.py)   hourly
purge-audit        audit rows older than server.audit_days      daily, and at start
prune-events       events older than detection.snapshot_days    every 10 minutes
db-maintenance     quick_check (integrity_check on Sundays),    daily at server.maintenance_at,
                   index check, ANALYZE, VACUUM if worth it     server.timezone
=================  ==========================================  ==================================

Other modules add theirs by id (``runtime.scheduler.add_job(..., id="backup")``); every job
is tracked by ``campy.jobs.JobRegistry``. Blocking work runs in worker threads, never on
the loop. A job's string return value is shown as its result on the system page.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from campy.db.maintenance import maintain

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
PURGE_AFTER_DAYS = 30  # expired or revoked tokens and embeds are kept this long, then deleted


def _cron(at: str, timezone: str) -> CronTrigger:
    hour, minute = (int(x) for x in at.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(timezone))


def purge_stale_credentials(db: Any, *, now_ms: int, days: int = PURGE_AFTER_DAYS) -> int:
    """Delete tokens and embeds that expired or were revoked over ``days`` ago (a thread)."""
    cutoff = now_ms - days * DAY_MS
    removed = 0
    with db.write():
        for table in ("tokens", "embeds"):
            cur = db.execute(f"DELETE FROM {table} WHERE (expires_ms IS NOT NULL AND expires_ms < ?) "
                             "OR (revoked_ms IS NOT NULL AND revoked_ms < ?)", [cutoff, cutoff])
            removed += cur.rowcount
    return removed


class Maintenance:
    """Adds the jobs at ``schedule()``; ``reschedule()`` after a config change."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._key: tuple[Any, ...] | None = None

    @property
    def scheduler(self) -> Any:
        return self.rt.scheduler

    def _wanted(self) -> tuple[Any, ...]:
        cfg = self.rt.config
        return (cfg.recording.retention_interval_seconds, cfg.server.maintenance_at, cfg.server.timezone)

    def schedule(self) -> None:
        s = self.scheduler
        # coalesce + no misfire limit: a run delayed by a busy box still happens, once
        opts: dict[str, Any] = {"replace_existing": True, "coalesce": True, "max_instances": 1,
                                "misfire_grace_time": None}
        s.add_job(self.purge_expired, "interval", hours=1, id="purge-expired",
                  name="purge expired exports, tokens and embeds", **opts)
        s.add_job(self.purge_audit, "interval", days=1, id="purge-audit", name="purge old audit rows",
                  next_run_time=datetime.now(UTC) + timedelta(seconds=5), **opts)
        s.add_job(self.prune_events, "interval", minutes=10, id="prune-events", name="prune old events",
                  next_run_time=datetime.now(UTC) + timedelta(seconds=10), **opts)
        self._key = None
        self.reschedule()

    def reschedule(self) -> None:
        """(Re)create the jobs whose timing comes from the config, when it changed."""
        wanted = self._wanted()
        if wanted == self._key:
            return
        interval, at, tz = wanted
        opts: dict[str, Any] = {"replace_existing": True, "coalesce": True, "max_instances": 1,
                                "misfire_grace_time": None}
        self.scheduler.add_job(self.retention, IntervalTrigger(seconds=interval), id="retention",
                               name="retention pass", **opts)
        self.scheduler.add_job(self.db_maintenance, _cron(at, tz), id="db-maintenance",
                               name="database check, ANALYZE and VACUUM", **opts)
        if self._key is not None:
            log.info("jobs rescheduled: retention every %d s, maintenance at %s %s", interval, at, tz)
        self._key = wanted

    # -- the jobs (coroutines: the blocking parts go to worker threads) ----------------
    async def retention(self) -> str:
        r = await self.rt.recording.retention_pass("schedule")
        return f"deleted {r.deleted} segments ({r.freed_bytes / 1e6:.1f} MB) in {r.took_ms:.0f} ms" + (
            f"; shortfall {r.shortfall_bytes / 1e6:.0f} MB" if r.shortfall_bytes else "")

    async def purge_expired(self) -> str:
        before = len(self.rt.exporter.jobs)
        self.rt.exporter._expire()  # a few unlinks of finished exports
        exports = before - len(self.rt.exporter.jobs)
        creds = await asyncio.to_thread(purge_stale_credentials, self.rt.db, now_ms=self.rt.clock.now_ms())
        if exports or creds:
            log.info("purged %d finished exports and %d stale tokens/embeds", exports, creds)
        return f"{exports} exports, {creds} tokens/embeds removed"

    async def purge_audit(self) -> str:
        days = self.rt.config.server.audit_days
        n = await asyncio.to_thread(self.rt.audit.purge, days)
        if n:
            log.info("audit log: removed %d rows older than %g days", n, days)
        return f"{n} audit rows removed"

    async def prune_events(self) -> str:
        n = await asyncio.to_thread(self.rt.detection.prune, now_ms=self.rt.clock.now_ms())
        return f"{n} events removed"

    async def db_maintenance(self) -> str:
        full = datetime.now(ZoneInfo(self.rt.config.server.timezone)).weekday() == 6  # Sunday
        report = await asyncio.to_thread(maintain, self.rt.db, full_check=full)
        return report.summary()
