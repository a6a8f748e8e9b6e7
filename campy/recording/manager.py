"""Recording as a whole: recorders per camera, startup recovery, retention, storage status.

``reconcile()`` is safe to call at any time: it starts, restarts or stops recorders so they
match the config (a camera whose recording settings did not change is left alone).
Retention runs on a schedule and at once when the disk is under pressure (free space below
the floor or the cap exceeded), checked every few seconds. A pass (read every row, plan,
delete) runs in a worker thread on its own SQLite connection, so the event loop never waits
for it; so do the storage page's aggregates and the gap listing.

Each camera's sub stream may be recorded beside the main one (``record.sub``; ``auto``: when
the main stream is H.265, learnt from the health monitor, the main recorder's probe or the
newest main segment), by a second recorder into ``<camera>.sub/``. Its segments follow the
camera's retention rules like the main ones and count toward the size cap.

The manager also keeps the recording log that explains gaps (``gaps.py``): its own starts
and stops, every recorder exit and stop, camera state changes read from health, and what
retention deleted between kept segments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from campy.clock import Clock
from campy.config.model import CampyConfig, CameraConfig
from campy.errors import BadRequest, NotFound
from campy.procs import cancel
from campy.recording.gaps import GAP_TOLERANCE_MS, Gap, explain, log_window
from campy.recording import quotas
from campy.recording.index import RecordingIndex
from campy.recording.model import DAY_MS, CameraPolicy, RetentionPlan, Segment
from campy.recording.passes import GivenUp, RetentionResult, _given_up, _interior_deletions, _iso
from campy.recording.recorder import Recorder, _check_writable
from campy.recording.recovery import RecoveryReport, recover
from campy.recording.retention import plan_retention
from campy.recording.store import SegmentStore

log = logging.getLogger(__name__)

_PRESSURE_CHECK_S = 3.0
_HEALTH_CHECK_S = 1.0
# Health states in which a camera sends nothing to record ("unknown": go2rtc unreachable).
_DOWN_STATES = {"offline", "auth_failed", "unknown"}
MAX_MARK_MS = DAY_MS
_SUB = ".sub"  # the key suffix of a camera's sub stream recorder


def policy_of(cam: CameraConfig, *, grace_ms: int) -> CameraPolicy:
    r = cam.record
    return CameraPolicy(mode=r.mode, days=r.days,  # type: ignore[arg-type]
                        pre_roll_ms=int(r.pre_roll_seconds * 1000), post_roll_ms=int(r.post_roll_seconds * 1000),
                        grace_ms=grace_ms)


class RecordingManager:
    """Owns recorders and retention; ``await start()``/``await stop()``."""

    def __init__(self, *, db: Any, clock: Clock, scrub: Callable[[str], str],
                 config: Callable[[], CampyConfig], source_url: Callable[[str], str],
                 health: Any = None) -> None:
        self.index = RecordingIndex(db)
        self.clock = clock
        self.scrub = scrub
        self._config = config
        self._source_url = source_url
        self.store = SegmentStore(storage=self.storage, index=self.index, clock=clock)
        self.recorders: dict[str, Recorder] = {}  # main stream recorders, by camera
        self.sub_recorders: dict[str, Recorder] = {}  # sub stream recorders, by camera
        self._reconcile_lock = asyncio.Lock()
        # tasks and their settings by key: the camera's name (main) or "<name>.sub"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._desired: dict[str, tuple[Any, ...]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._retention_lock = asyncio.Lock()
        self.last_retention: RetentionResult | None = None
        self.given_up: list[GivenUp] = []  # the most recent, newest last
        self.protected_deleted_total = 0  # protected segments deleted since start
        self.retention_totals = {"passes": 0, "deleted": 0, "freed_bytes": 0}  # since start (/metrics)
        self.recovery: RecoveryReport | None = None
        self.storage_error: str | None = None
        self.health = health  # campy.health.HealthMonitor: read only, for the recording log
        self._camera_down: dict[str, bool] = {}

    @property
    def cfg(self) -> Any:
        return self._config().recording

    @property
    def storage(self) -> Path:
        return Path(self._config().recording.path)

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self._log_start()
        self.storage_error = _check_writable(self.storage / ".campy")
        if self.storage_error:
            log.error("recording: %s; live view and the rest of CamPy keep running", self.storage_error)
        else:
            self.recovery = await recover(self.store)
        await self.reconcile()
        self._loops.append(asyncio.create_task(self._pressure_loop(), name="disk-pressure"))
        if self.health is not None:
            self._loops.append(asyncio.create_task(self._health_loop(), name="recording-health-log"))

    async def stop(self) -> None:
        for t in self._loops:
            t.cancel()
        for t in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._loops.clear()
        await asyncio.gather(*(self._stop_recorder(n, "CamPy stopping") for n in list(self._tasks)),
                             return_exceptions=True)
        self._log("campy_stop", "clean stop")

    # -- the recording log -------------------------------------------------------------
    def _log(self, kind: str, detail: str = "", *, camera: str | None = None, at_ms: int | None = None) -> None:
        try:
            self.index.log(kind=kind, at_ms=self.clock.now_ms() if at_ms is None else at_ms, camera=camera,
                           detail=self.scrub(detail))
        except Exception:
            log.exception("could not write the recording log (%s %s)", kind, camera)

    def _log_start(self) -> None:
        prev = self.index.last_campy_row()
        tz = self._config().server.timezone
        if prev is None:
            detail = "first start"
        elif prev.kind == "campy_stop":
            detail = f"after a clean stop at {_iso(prev.at_ms, tz)}"
        else:
            last = self.index.last_activity_ms()
            detail = ("after an unclean stop (killed or crashed)"
                      + (f"; last sign of life at {_iso(last, tz)}" if last else ""))
            log.warning("recording: CamPy did not stop cleanly last time; %s", detail)
        self._log("campy_start", detail)

    def _on_recorder_event(self, camera: str) -> Callable[..., None]:
        def on_event(kind: str, detail: str, at_ms: int | None = None) -> None:
            self._log(kind, detail, camera=camera, at_ms=at_ms)

        return on_event

    def check_health(self) -> None:
        """Log each camera's move into or out of a state that sends nothing to record."""
        if self.health is None:
            return
        for name, h in self.health.all().items():
            down = h.state in _DOWN_STATES
            if down == self._camera_down.get(name, False):
                continue
            self._camera_down[name] = down
            why = f"{h.state}: {h.message}" if h.message else h.state
            self._log("camera_offline" if down else "camera_online", why if down else "", camera=name,
                      at_ms=h.since_ms or None)

    async def _health_loop(self) -> None:
        while True:
            try:
                self.check_health()
                if self._sub_keys() != {k for k in self._desired if k.endswith(_SUB)}:
                    await self.reconcile()  # `record.sub: auto` learnt the main codec
            except Exception:
                log.exception("reading camera health for the recording log failed")
            await asyncio.sleep(_HEALTH_CHECK_S)

    def main_is_hevc(self, name: str) -> bool:
        """Whether the camera's main stream is H.265, from what is known now: go2rtc's codec
        (health), the running main recorder's probe, else the newest main segment."""
        codec: str | None = None
        if self.health is not None:
            codec = self.health.get(name).main_codec
        rec = self.recorders.get(name)
        if not codec and rec is not None and rec._info is not None:
            codec = rec._info.codec
        if not codec:
            codec = self.index.last_codec(name)
        return (codec or "").lower() in ("hevc", "h265")

    def records_sub(self, cam: CameraConfig) -> bool:
        """Whether the sub stream of ``cam`` is (to be) recorded."""
        if not (cam.enabled and cam.record.enabled and cam.sub) or cam.record.sub is False:
            return False
        return cam.record.sub is True or self.main_is_hevc(cam.name)

    def _sub_keys(self) -> set[str]:
        return {n + _SUB for n, c in self._config().cameras.items() if self.records_sub(c)}

    async def reconcile(self) -> None:
        async with self._reconcile_lock:
            await self._reconcile()

    async def _reconcile(self) -> None:
        cfg = self._config()
        if Path(cfg.recording.path) != self.store.storage:
            # A new storage path: stop everything, then start against the new path.
            for name in list(self._tasks):
                await self._stop_recorder(name, "storage path changed")
            self.store = SegmentStore(storage=self.storage, index=self.index, clock=self.clock)
            self.storage_error = _check_writable(self.storage / ".campy")
            if not self.storage_error:
                self.recovery = await recover(self.store)
        desired: dict[str, tuple[Any, ...]] = {}
        for name, cam in cfg.cameras.items():
            if cam.enabled and cam.record.enabled:
                desired[name] = (self._source_url(name), cfg.recording.segment_seconds, str(cfg.recording.path))
            if self.records_sub(cam):
                desired[name + _SUB] = (self._source_url(name + "_sub"), cfg.recording.segment_seconds,
                                        str(cfg.recording.path))
        for name in list(self._tasks):
            if desired.get(name) != self._desired.get(name):
                await self._stop_recorder(name, "recording settings changed" if name in desired
                                          else "recording turned off for this camera")
        for name, key in desired.items():
            if name not in self._tasks:
                self._start_recorder(name, key)
        self._desired = desired

    def _start_recorder(self, name: str, key: tuple[Any, ...]) -> None:
        camera, sub = (name[: -len(_SUB)], True) if name.endswith(_SUB) else (name, False)
        # The sub recorder's exits stay out of the recording log: gaps are the main stream's.
        rec = Recorder(camera=camera, url=key[0], storage=Path(key[2]), segment_seconds=key[1], sink=self.store,
                       clock=self.clock, scrub=self.scrub, on_storage_error=self._on_storage_error,
                       on_event=None if sub else self._on_recorder_event(camera), stream="sub" if sub else "main")
        (self.sub_recorders if sub else self.recorders)[camera] = rec
        if sub:
            log.info("camera %s: recording the sub stream beside the main one", camera)
        self._tasks[name] = asyncio.create_task(self._supervise(rec), name=f"recorder-{name}")
        self._desired[name] = key

    async def _supervise(self, rec: Recorder) -> None:
        while True:
            try:
                await rec.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("camera %s: recorder crashed; restarting", rec.camera)
                await asyncio.sleep(2)

    async def _stop_recorder(self, name: str, reason: str = "stopped") -> None:
        recorders, camera = ((self.sub_recorders, name[: -len(_SUB)]) if name.endswith(_SUB)
                             else (self.recorders, name))
        rec = recorders.get(camera)
        if rec is not None:
            rec.stop_reason = reason
        self._desired.pop(name, None)
        await cancel(self._tasks.pop(name, None))
        recorders.pop(camera, None)

    async def _on_storage_error(self, message: str) -> None:
        if self.storage_error != message:
            log.error("recording: %s", message)
        self.storage_error = message

    # -- retention -----------------------------------------------------------------------
    def _limits(self) -> tuple[int | None, int | None, int | None]:
        """(free bytes, cap bytes, floor bytes) for the storage filesystem."""
        cfg = self.cfg
        try:
            du = shutil.disk_usage(self.storage)
        except OSError:
            return None, cfg.max_bytes, None
        floor = cfg.min_free_bytes
        if cfg.min_free_percent is not None:
            floor = int(du.total * cfg.min_free_percent / 100)
        return du.free, cfg.max_bytes, floor

    def floor_bytes(self) -> int | None:
        """The free-space floor of the storage filesystem (None: no floor)."""
        return self._limits()[2]

    def under_pressure(self) -> bool:
        free, cap, floor = self._limits()
        if cap is not None and self.index.used_bytes() > cap:
            return True
        return free is not None and floor is not None and free < floor

    def plan(self, segments: list[Segment] | None = None, *, index: RecordingIndex | None = None) -> RetentionPlan:
        idx = index or self.index
        cfg = self._config()
        free, cap, floor = self._limits()
        grace = cfg.recording.grace_seconds * 1000
        policies = {n: policy_of(c, grace_ms=grace) for n, c in cfg.cameras.items()}
        segs = idx.all_segments() if segments is None else segments
        return plan_retention(segs, idx.all_marks(), policies,
                              now_ms=self.clock.now_ms(), used_bytes=idx.used_bytes(), free_bytes=free,
                              max_bytes=cap, min_free_bytes=floor,
                              default_policy=CameraPolicy(grace_ms=grace))

    async def retention_pass(self, reason: str = "schedule") -> RetentionResult:
        async with self._retention_lock:
            # Off the loop: reading 100k rows, planning and the delete bookkeeping take
            # tenths of a second; the worker thread uses its own connection.
            result = await asyncio.to_thread(self._retention_work, reason, self.store)
            self.last_retention = result
            self.retention_totals["passes"] += 1
            self.retention_totals["deleted"] += result.deleted
            self.retention_totals["freed_bytes"] += result.freed_bytes
            for g in result.given_up:
                log.warning("retention (%s): %s", reason, g.message)
                self.protected_deleted_total += g.segments
            self.given_up = (self.given_up + result.given_up)[-20:]
            if result.deleted or result.shortfall_bytes:
                log.info("retention (%s): deleted %d segments, %.1f MB; shortfall %d bytes", reason, result.deleted,
                         result.freed_bytes / 1e6, result.shortfall_bytes)
            return result

    def _retention_work(self, reason: str, store: SegmentStore) -> RetentionResult:
        t0 = self.clock.monotonic()
        idx = self.index.in_thread()
        every = idx.all_segments()
        plan = self.plan(every, index=idx)
        by_id = {d.segment_id for d in plan.deletions}
        segs = [s for s in every if s.id in by_id] if by_id else []
        now = self.clock.now_ms()
        if segs:
            # Logged first: a crash in between leaves a logged range whose files still exist.
            idx.log_many(_interior_deletions(every, by_id, reason=reason, now_ms=now))
        freed = store.delete(segs, index=idx)
        idx.prune_marks(before_ms=now - 400 * DAY_MS)
        oldest = min((s.start_ms for s in every if s.id not in by_id), default=now)
        idx.prune_log(before_ms=min(oldest, now - DAY_MS) - DAY_MS)
        return RetentionResult(at_ms=now, reason=reason, deleted=len(segs), freed_bytes=freed,
                               shortfall_bytes=plan.shortfall_bytes, took_ms=(self.clock.monotonic() - t0) * 1000,
                               given_up=_given_up(plan, segs, now_ms=now,
                                                  timezone=self._config().server.timezone))

    async def _pressure_loop(self) -> None:
        while True:
            await asyncio.sleep(_PRESSURE_CHECK_S)
            try:
                # off the loop: SUM over every segment row, and a statfs
                if await asyncio.to_thread(self.under_pressure):
                    await self.retention_pass("disk pressure")
            except Exception:
                log.exception("disk pressure check failed")

    # -- marks -----------------------------------------------------------------------
    def add_mark(self, camera: str, *, kind: str = "event", start_ms: int | None = None, end_ms: int | None = None,
                 seconds: float | None = None, label: str | None = None, source: str = "manual",
                 user: str | None = None) -> dict[str, Any]:
        """Mark a window (manual event / "record now"); returns the stored mark. A mark a
        ``user`` adds counts against their quota (``campy.recording.quotas``)."""
        cfg = self._config()
        cam = cfg.cameras.get(camera)
        if cam is None:
            raise NotFound(f"no camera {camera!r}")
        if kind not in ("event", "motion"):
            raise BadRequest("kind must be 'event' or 'motion'", fields={"kind": "event or motion"})
        now = self.clock.now_ms()
        if start_ms is None:
            start_ms = now
        if end_ms is None:
            secs = 30.0 if seconds is None else seconds
            if not 0 < secs <= MAX_MARK_MS / 1000:
                raise BadRequest("seconds must be between 0 and 86400", fields={"seconds": "0 < seconds ≤ 86400"})
            end_ms = start_ms + int(secs * 1000)
        if end_ms <= start_ms:
            raise BadRequest("end_ms must be after start_ms", fields={"end_ms": "after start_ms"})
        if end_ms - start_ms > MAX_MARK_MS:
            raise BadRequest("a mark may span at most one day", fields={"end_ms": "at most a day after start"})
        if start_ms > now + 60_000:
            raise BadRequest("a mark cannot start in the future", fields={"start_ms": "not in the future"})
        keep = end_ms + int(cam.record.event_days * DAY_MS) if kind == "event" else None
        if user is not None:
            quotas.check_marks(user=user, active=self.index.active_marks_by(
                user, now_ms=now, motion_counts_ms=quotas.MOTION_MARK_COUNTS_MS))
        mark_id = self.index.add_mark(camera=camera, kind=kind, source=source, label=label, start_ms=start_ms,
                                      end_ms=end_ms, keep_until_ms=keep, created_ms=now, created_by=user)
        return {"id": mark_id, "camera": camera, "kind": kind, "source": source, "label": label,
                "start_ms": start_ms, "end_ms": end_ms, "keep_until_ms": keep}

    # -- views -----------------------------------------------------------------------
    def segments(self, camera: str, start_ms: int, end_ms: int, *, limit: int | None = None,
                 stream: str = "main") -> list[Segment]:
        return self.index.segments_between(camera, start_ms, end_ms, limit=limit, stream=stream)

    async def segments_async(self, camera: str, start_ms: int, end_ms: int, *,
                             limit: int | None = None, stream: str = "main") -> list[Segment]:
        """``segments`` in a worker thread (a day of one camera is ~9k rows)."""
        return await asyncio.to_thread(lambda: self.index.in_thread().segments_between(
            camera, start_ms, end_ms, limit=limit, stream=stream))

    def gaps(self, *, since_ms: int | None = None, camera: str | None = None,
             index: RecordingIndex | None = None, min_ms: int = GAP_TOLERANCE_MS) -> list[Gap]:
        """Every gap between consecutive segments since ``since_ms``, with its cause."""
        idx = index or self.index
        found = idx.gaps(min_ms=min_ms, since_ms=since_ms, camera=camera)
        if not found:
            return []
        return explain(found, idx.log_rows(*log_window(found)))

    async def recent_gaps(self, *, hours: float = 24, limit: int = 50) -> list[Gap]:
        since = self.clock.now_ms() - int(hours * 3_600_000)
        found = await asyncio.to_thread(lambda: self.gaps(since_ms=since, index=self.index.in_thread()))
        return found[::-1][:limit]

    async def storage_status_async(self) -> dict[str, Any]:
        """``storage_status`` with its aggregates over every row read in a worker thread."""
        now = self.clock.now_ms()

        def read() -> tuple[int, dict[str, tuple[int, int]], list[dict[str, Any]]]:
            idx = self.index.in_thread()
            return idx.used_bytes(), idx.recent_rate(since_ms=now - 3_600_000), idx.camera_stats()

        return self.storage_status(aggregates=await asyncio.to_thread(read))

    def storage_status(self, *, aggregates: tuple[int, dict[str, tuple[int, int]], list[dict[str, Any]]] | None
                       = None) -> dict[str, Any]:
        free, cap, floor = self._limits()
        try:
            total = shutil.disk_usage(self.storage).total
        except OSError:
            total = None
        now = self.clock.now_ms()
        if aggregates is None:
            aggregates = (self.index.used_bytes(), self.index.recent_rate(since_ms=now - 3_600_000),
                          self.index.camera_stats())
        used, rates, camera_stats = aggregates
        stats = {s["camera"]: s for s in camera_stats}
        cameras = []
        for name in sorted(set(stats) | set(self.recorders)):
            s = stats.get(name, {"segments": 0, "size_bytes": 0, "oldest_ms": None, "newest_ms": None})
            b, ms = rates.get(name, (0, 0))
            rec = self.recorders.get(name)
            sub = self.sub_recorders.get(name)
            cameras.append({"camera": name, "segments": s["segments"], "size_bytes": s["size_bytes"] or 0,
                            "oldest_ms": s["oldest_ms"], "newest_ms": s["newest_ms"],
                            "bytes_per_second": (b * 1000 / ms) if ms else None,
                            "recorder": rec.status() if rec else None,
                            "sub_recorder": sub.status() if sub else None})
        warnings = []
        if self.storage_error:
            warnings.append(self.storage_error)
        if free is not None and floor is not None and free < floor:
            warnings.append(f"free space {free / 1e9:.2f} GB is below the floor of {floor / 1e9:.2f} GB; "
                            "retention is deleting the oldest footage")
        if cap is not None and used > cap:
            warnings.append(f"recordings use {used / 1e9:.2f} GB, over the cap of {cap / 1e9:.2f} GB")
        last = self.last_retention
        if last is not None and last.reason == "disk pressure" and now - last.at_ms < 600_000:
            warnings.append(f"disk pressure: retention deleted {last.deleted} of the oldest segments "
                            f"({last.freed_bytes / 1e6:.0f} MB) to stay within the limits")
        if last is not None and last.shortfall_bytes:
            warnings.append(f"retention could not free {last.shortfall_bytes / 1e6:.0f} MB: no footage is left "
                            "to delete")
        warnings += [g.message for g in self.given_up if now - g.at_ms < DAY_MS]
        return {"path": str(self.storage), "error": self.storage_error, "total_bytes": total, "free_bytes": free,
                "used_bytes": used, "max_bytes": cap, "min_free_bytes": floor, "cameras": cameras,
                "warnings": warnings, "protected_deleted_total": self.protected_deleted_total,
                "given_up": [msgspec.structs.asdict(g) | {"message": g.message} for g in self.given_up],
                "last_retention": msgspec.structs.asdict(last) if last else None}
