"""Recording as a whole: recorders per camera, startup recovery, retention, storage status.

``reconcile()`` is safe to call at any time: it starts, restarts or stops recorders so they
match the config (a camera whose recording settings did not change is left alone).
Retention runs on a schedule and at once when the disk is under pressure (free space below
the floor or the cap exceeded), checked every few seconds.
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
from campy.recording.index import RecordingIndex
from campy.recording.model import DAY_MS, CameraPolicy, RetentionPlan, Segment
from campy.recording.recorder import Recorder, _check_writable
from campy.recording.recovery import RecoveryReport, recover
from campy.recording.retention import plan_retention
from campy.recording.store import SegmentStore

log = logging.getLogger(__name__)

_PRESSURE_CHECK_S = 3.0
MAX_MARK_MS = DAY_MS


class RetentionResult(msgspec.Struct):
    at_ms: int
    reason: str
    deleted: int
    freed_bytes: int
    shortfall_bytes: int
    took_ms: float


def policy_of(cam: CameraConfig, *, grace_ms: int) -> CameraPolicy:
    r = cam.record
    return CameraPolicy(mode=r.mode, days=r.days,  # type: ignore[arg-type]
                        pre_roll_ms=int(r.pre_roll_seconds * 1000), post_roll_ms=int(r.post_roll_seconds * 1000),
                        grace_ms=grace_ms)


class RecordingManager:
    """Owns recorders and retention; ``await start()``/``await stop()``."""

    def __init__(self, *, db: Any, clock: Clock, scrub: Callable[[str], str],
                 config: Callable[[], CampyConfig], source_url: Callable[[str], str]) -> None:
        self.index = RecordingIndex(db)
        self.clock = clock
        self.scrub = scrub
        self._config = config
        self._source_url = source_url
        self.store = SegmentStore(storage=self.storage, index=self.index, clock=clock)
        self.recorders: dict[str, Recorder] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._desired: dict[str, tuple[Any, ...]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._retention_lock = asyncio.Lock()
        self.last_retention: RetentionResult | None = None
        self.recovery: RecoveryReport | None = None
        self.storage_error: str | None = None

    @property
    def cfg(self) -> Any:
        return self._config().recording

    @property
    def storage(self) -> Path:
        return Path(self._config().recording.path)

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self.storage_error = _check_writable(self.storage / ".campy")
        if self.storage_error:
            log.error("recording: %s; live view and the rest of CamPy keep running", self.storage_error)
        else:
            self.recovery = await recover(self.store)
        await self.reconcile()
        self._loops.append(asyncio.create_task(self._retention_loop(), name="retention"))
        self._loops.append(asyncio.create_task(self._pressure_loop(), name="disk-pressure"))

    async def stop(self) -> None:
        for t in self._loops:
            t.cancel()
        for t in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._loops.clear()
        await asyncio.gather(*(self._stop_recorder(n) for n in list(self._tasks)), return_exceptions=True)

    async def reconcile(self) -> None:
        cfg = self._config()
        if Path(cfg.recording.path) != self.store.storage:
            # A new storage path: stop everything, then start against the new path.
            for name in list(self._tasks):
                await self._stop_recorder(name)
            self.store = SegmentStore(storage=self.storage, index=self.index, clock=self.clock)
            self.storage_error = _check_writable(self.storage / ".campy")
            if not self.storage_error:
                self.recovery = await recover(self.store)
        desired: dict[str, tuple[Any, ...]] = {}
        for name, cam in cfg.cameras.items():
            if cam.enabled and cam.record.enabled:
                desired[name] = (self._source_url(name), cfg.recording.segment_seconds, str(cfg.recording.path))
        for name in list(self._tasks):
            if desired.get(name) != self._desired.get(name):
                await self._stop_recorder(name)
        for name, key in desired.items():
            if name not in self._tasks:
                self._start_recorder(name, key)
        self._desired = desired

    def _start_recorder(self, name: str, key: tuple[Any, ...]) -> None:
        rec = Recorder(camera=name, url=key[0], storage=Path(key[2]), segment_seconds=key[1], sink=self.store,
                       clock=self.clock, scrub=self.scrub, on_storage_error=self._on_storage_error)
        self.recorders[name] = rec
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

    async def _stop_recorder(self, name: str) -> None:
        self._desired.pop(name, None)
        await cancel(self._tasks.pop(name, None))
        self.recorders.pop(name, None)

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

    def under_pressure(self) -> bool:
        free, cap, floor = self._limits()
        if cap is not None and self.index.used_bytes() > cap:
            return True
        return free is not None and floor is not None and free < floor

    def plan(self, segments: list[Segment] | None = None) -> RetentionPlan:
        cfg = self._config()
        free, cap, floor = self._limits()
        grace = cfg.recording.grace_seconds * 1000
        policies = {n: policy_of(c, grace_ms=grace) for n, c in cfg.cameras.items()}
        segs = self.index.all_segments() if segments is None else segments
        return plan_retention(segs, self.index.all_marks(), policies,
                              now_ms=self.clock.now_ms(), used_bytes=self.index.used_bytes(), free_bytes=free,
                              max_bytes=cap, min_free_bytes=floor,
                              default_policy=CameraPolicy(grace_ms=grace))

    async def retention_pass(self, reason: str = "schedule") -> RetentionResult:
        async with self._retention_lock:
            t0 = self.clock.monotonic()
            every = self.index.all_segments()
            plan = self.plan(every)
            by_id = {d.segment_id for d in plan.deletions}
            segs = [s for s in every if s.id in by_id] if by_id else []
            freed = self.store.delete(segs)
            self.index.prune_marks(before_ms=self.clock.now_ms() - 400 * DAY_MS)
            result = RetentionResult(at_ms=self.clock.now_ms(), reason=reason, deleted=len(segs), freed_bytes=freed,
                                     shortfall_bytes=plan.shortfall_bytes,
                                     took_ms=(self.clock.monotonic() - t0) * 1000)
            self.last_retention = result
            if segs or plan.shortfall_bytes:
                log.info("retention (%s): deleted %d segments, %.1f MB; shortfall %d bytes", reason, len(segs),
                         freed / 1e6, plan.shortfall_bytes)
            return result

    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.retention_interval_seconds)
            try:
                await self.retention_pass("schedule")
            except Exception:
                log.exception("retention pass failed")

    async def _pressure_loop(self) -> None:
        while True:
            await asyncio.sleep(_PRESSURE_CHECK_S)
            try:
                if self.under_pressure():
                    await self.retention_pass("disk pressure")
            except Exception:
                log.exception("disk pressure check failed")

    # -- marks -----------------------------------------------------------------------
    def add_mark(self, camera: str, *, kind: str = "event", start_ms: int | None = None, end_ms: int | None = None,
                 seconds: float | None = None, label: str | None = None, source: str = "manual") -> dict[str, Any]:
        """Mark a window (manual event / "record now"); returns the stored mark."""
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
        mark_id = self.index.add_mark(camera=camera, kind=kind, source=source, label=label, start_ms=start_ms,
                                      end_ms=end_ms, keep_until_ms=keep, created_ms=now)
        return {"id": mark_id, "camera": camera, "kind": kind, "source": source, "label": label,
                "start_ms": start_ms, "end_ms": end_ms, "keep_until_ms": keep}

    # -- views -----------------------------------------------------------------------
    def segments(self, camera: str, start_ms: int, end_ms: int, *, limit: int | None = None) -> list[Segment]:
        return self.index.segments_between(camera, start_ms, end_ms, limit=limit)

    def storage_status(self) -> dict[str, Any]:
        free, cap, floor = self._limits()
        try:
            total = shutil.disk_usage(self.storage).total
        except OSError:
            total = None
        used = self.index.used_bytes()
        now = self.clock.now_ms()
        rates = self.index.recent_rate(since_ms=now - 3_600_000)
        stats = {s["camera"]: s for s in self.index.camera_stats()}
        cameras = []
        for name in sorted(set(stats) | set(self.recorders)):
            s = stats.get(name, {"segments": 0, "size_bytes": 0, "oldest_ms": None, "newest_ms": None})
            b, ms = rates.get(name, (0, 0))
            rec = self.recorders.get(name)
            cameras.append({"camera": name, "segments": s["segments"], "size_bytes": s["size_bytes"] or 0,
                            "oldest_ms": s["oldest_ms"], "newest_ms": s["newest_ms"],
                            "bytes_per_second": (b * 1000 / ms) if ms else None,
                            "recorder": rec.status() if rec else None})
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
            warnings.append(f"retention could not free {last.shortfall_bytes / 1e6:.0f} MB: the rest is "
                            "protected by events")
        return {"path": str(self.storage), "error": self.storage_error, "total_bytes": total, "free_bytes": free,
                "used_bytes": used, "max_bytes": cap, "min_free_bytes": floor, "cameras": cameras,
                "warnings": warnings,
                "last_retention": msgspec.structs.asdict(last) if last else None}
