"""What every scheduled job did: last run, how long it took, its result and its next run.

``JobRegistry`` listens to the APScheduler events of ``runtime.scheduler``, so any job added
to it (by id, from any module) is tracked without registering anywhere else. A job's return
value, when a short string, is kept as its result detail ("deleted 12 segments"); an
exception becomes its error text. ``run_now`` moves a job's next run to now, so the run goes
through the scheduler like any other (``max_instances`` and the listeners included).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)

from campy.errors import NotFound

log = logging.getLogger(__name__)

_MASK = (EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
         | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_REMOVED)


@dataclass
class JobRecord:
    runs: int = 0
    errors: int = 0
    running_since: float | None = None  # monotonic, while a run is in progress
    started_at: datetime | None = None
    last_run: datetime | None = None  # when the last finished run started
    duration_s: float | None = None
    result: str | None = None  # "ok" or "error"
    detail: str | None = None  # the job's short return text, or the error text
    skipped: int = 0  # runs missed or refused (an instance still running)


def _ms(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


class JobRegistry:
    """Attach with ``JobRegistry(scheduler)``; read with ``snapshot()``."""

    def __init__(self, scheduler: Any, *, clock: Any = time.monotonic) -> None:
        self.scheduler = scheduler
        self._mono = clock
        self.records: dict[str, JobRecord] = {}
        scheduler.add_listener(self._on_event, _MASK)

    def _rec(self, job_id: str) -> JobRecord:
        return self.records.setdefault(job_id, JobRecord())

    def _on_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_REMOVED:
            self.records.pop(event.job_id, None)
            return
        rec = self._rec(event.job_id)
        if isinstance(event, JobSubmissionEvent):
            rec.running_since, rec.started_at = self._mono(), datetime.now(UTC)
            return
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            rec.skipped += 1
            return
        if not isinstance(event, JobExecutionEvent):
            return
        rec.runs += 1
        rec.last_run = rec.started_at or event.scheduled_run_time
        rec.duration_s = None if rec.running_since is None else self._mono() - rec.running_since
        rec.running_since = None
        if event.exception is not None:
            rec.errors += 1
            rec.result = "error"
            rec.detail = f"{type(event.exception).__name__}: {event.exception}"[:500]
        else:
            rec.result = "ok"
            rv = event.retval
            rec.detail = rv[:300] if isinstance(rv, str) else None

    def snapshot(self) -> list[dict[str, Any]]:
        """Every job on the scheduler (sorted by id), with its record; times in epoch ms."""
        out = []
        for job in sorted(self.scheduler.get_jobs(), key=lambda j: j.id):
            rec = self.records.get(job.id) or JobRecord()
            out.append({
                "id": job.id,
                "name": job.name,
                "trigger": str(job.trigger),
                "next_run_ms": _ms(getattr(job, "next_run_time", None)),
                "running": rec.running_since is not None,
                "last_run_ms": _ms(rec.last_run),
                "duration_ms": None if rec.duration_s is None else round(rec.duration_s * 1000, 1),
                "result": rec.result,
                "detail": rec.detail,
                "runs": rec.runs,
                "errors": rec.errors,
                "skipped": rec.skipped,
            })
        return out

    def get(self, job_id: str) -> dict[str, Any]:
        for entry in self.snapshot():
            if entry["id"] == job_id:
                return entry
        raise NotFound(f"no scheduled job {job_id!r}: GET /api/system/jobs lists them")

    def run_now(self, job_id: str) -> dict[str, Any]:
        """Schedule ``job_id``'s next run for now; the scheduler wakes and runs it."""
        job = self.scheduler.get_job(job_id)
        if job is None:
            raise NotFound(f"no scheduled job {job_id!r}: GET /api/system/jobs lists them")
        job.modify(next_run_time=datetime.now(UTC))
        log.info("job %s: run requested now", job_id)
        return self.get(job_id)
