"""Detection in the main process: one supervised worker per camera, one shared inference
service that holds the object detector for all of them, and what the workers' reports become — motion marks and event marks for recording, event rows, snapshots, alerts and
live updates for the UI (server-sent events).

The main process is the only database writer; workers only write snapshot files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec

from campy.clock import Clock
from campy.config.model import CampyConfig, CameraConfig
from campy.detection.eventlog import EventLog
from campy.procs import cancel, die_with_parent, terminate
from campy.recording.model import DAY_MS

log = logging.getLogger(__name__)

_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
# "shared" (default): one inference service holds the model for every worker. "per-worker":
# each worker loads its own (the old design, kept selectable to compare; bench/detection_memory.py).
INFERENCE_MODE_ENV = "CAMPY_DETECTION_INFERENCE"
# Memory, times 16 cameras: one BLAS/OpenMP thread; glibc keeps at most two heaps (every thread
# would otherwise get its own, and the service has a thread per camera), and always maps
# frame-sized buffers (> 128 KiB) on their own, so freeing one gives it back to the system
# instead of leaving a hole in a heap.
_CHILD_ENV = {"OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}


class Broadcaster:
    """Fan-out of live updates to server-sent-event listeners (bounded queues; slow ones drop)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, item: dict[str, Any]) -> None:
        for q in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(item)

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._queues.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._queues.discard(q)


class CameraStatus(msgspec.Struct):
    camera: str
    state: str = "starting"
    fps: float = 0.0
    motion_ms: float | None = None
    inference_ms: float | None = None
    last_motion_ms: int | None = None
    error: str | None = None
    objects: bool = False
    restarts: int = 0
    events: int = 0
    objects_state: str = "off"  # ready | unavailable (the inference service is away) | off
    objects_skipped: int = 0  # motion frames the object detector could not look at
    inferences: int = 0  # motion frames it looked at (since the worker started)
    service_connects: int = 0  # times the worker (re)connected to the inference service
    frames_total: int = 0  # frames analysed, summed over every run of the worker (only grows)
    analysed_run: int = 0  # frames the current run has reported


class ServiceStatus(msgspec.Struct):
    """The shared inference service, as ``GET /api/detection/service`` shows it."""

    state: str = "off"  # off | starting | loading | ready | restarting | error
    pid: int | None = None
    restarts: int = 0
    slots: int | None = None
    clients: int = 0
    requests: int = 0
    expired: int = 0  # requests dropped unanswered because their worker had given up
    inference_ms: float | None = None
    input_size: int | None = None
    error: str | None = None


def detector_settings(cfg: CampyConfig) -> dict[str, Any] | None:
    det = cfg.detection.detector
    if det.model is None:
        return None
    return {"type": det.type, "model": str(det.model), "input_size": det.input_size, "layout": det.layout,
            "labels": det.labels, "threads": det.threads, "score_threshold": det.score_threshold}


def worker_settings(cfg: CampyConfig, cam: CameraConfig, *, url: str, snapshot_dir: Path,
                    inference: str | None = None) -> dict[str, Any]:
    """The worker's settings; with ``inference`` (the service's address) the worker asks the
    shared service instead of loading the model itself."""
    d = cam.detect
    assert d is not None
    detector = detector_settings(cfg)
    if detector is not None and inference is not None:
        detector = None
    else:
        inference = None
    return {"camera": cam.name, "url": url, "width": d.width, "height": d.height, "fps": d.fps,
            "snapshot_dir": str(snapshot_dir), "detector": detector, "inference": inference,
            "labels": list(d.labels),
            "min_score": d.min_score, "min_area": d.min_area, "min_frames": d.min_frames,
            "zones": {k: [list(p) for p in v] for k, v in d.zones.items()}, "alert_zones": list(d.alert_zones),
            "motion_masks": [[list(p) for p in m] for m in d.motion_masks],
            "motion_threshold": d.motion_threshold, "motion_contour_area": d.motion_contour_area, "motion_absorb_seconds": d.motion_absorb_seconds,
            "decode_threads": 1 if cam.sub else 0}


class DetectionManager:
    def __init__(self, *, db: Any, clock: Clock, config: Callable[[], CampyConfig], data_dir: Path,
                 source_url: Callable[[str], str], recording: Any, alerts: Any = None) -> None:
        self.events = EventLog(db)
        self.clock = clock
        self._config = config
        self.data_dir = data_dir
        self._source_url = source_url
        self.recording = recording
        self.alerts = alerts
        self.broadcast = Broadcaster()
        self.status: dict[str, CameraStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._desired: dict[str, str] = {}
        self._motion_marks: dict[str, int] = {}
        self.shared = os.environ.get(INFERENCE_MODE_ENV, "shared") != "per-worker"
        # Abstract-namespace socket: nothing on disk to leave behind after a kill -9.
        self.service_address = f"@campy-inference-{os.getpid()}-{secrets.token_hex(4)}"
        self.service = ServiceStatus()
        self._service_task: asyncio.Task[None] | None = None
        self._service_desired: str | None = None

    def snapshot_dir(self, camera: str) -> Path:
        return self.data_dir / "snapshots" / camera

    async def start(self) -> None:
        now = self.clock.now_ms()
        # Windows and events left open by a crash end where CamPy stopped seeing them.
        self.recording.index.close_open_marks(source="motion", end_ms=now)
        self.events.close_open(end_ms=now)
        await self.reconcile()

    async def stop(self) -> None:
        for name in list(self._tasks):
            await self._stop(name)
        await self._stop_service()

    async def reconcile(self) -> None:
        cfg = self._config()
        desired: dict[str, str] = {}
        address = self.service_address if self.shared else None
        for name, cam in cfg.cameras.items():
            if cam.enabled and cam.detect is not None and cam.detect.enabled:
                stream = f"{name}_sub" if cam.sub else name
                settings = worker_settings(cfg, cam, url=self._source_url(stream),
                                           snapshot_dir=self.snapshot_dir(name), inference=address)
                desired[name] = json.dumps(settings, sort_keys=True)
        detector = detector_settings(cfg)
        service = None
        if self.shared and detector is not None and desired:
            service = json.dumps({"address": self.service_address, "detector": detector}, sort_keys=True)
        if service != self._service_desired:
            # Workers keep running across a model change: they reconnect to the new service.
            await self._stop_service()
            if service is not None:
                self._service_desired = service
                self.service = ServiceStatus(state="starting")
                self._service_task = asyncio.create_task(self._supervise_service(service), name="inference")
        for name in list(self._tasks):
            if desired.get(name) != self._desired.get(name):
                await self._stop(name)
        for name, encoded in desired.items():
            if name not in self._tasks:
                self._desired[name] = encoded
                self.status[name] = CameraStatus(camera=name)
                self._tasks[name] = asyncio.create_task(self._supervise(name, encoded), name=f"detect-{name}")
        for name in list(self.status):
            if name not in desired:
                del self.status[name]

    async def _stop(self, name: str) -> None:
        self._desired.pop(name, None)
        await cancel(self._tasks.pop(name, None))
        self._end_motion(name, self.clock.now_ms())

    async def _stop_service(self) -> None:
        self._service_desired = None
        await cancel(self._service_task)
        self._service_task = None
        self.service = ServiceStatus()

    async def _supervise_service(self, settings: str) -> None:
        failures = 0
        while True:
            began = self.clock.monotonic()
            try:
                await self._run_child("inference service", "campy.detection.inference", settings,
                                      self._on_service_message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("detection: the inference service failed")
            self.service.restarts += 1
            self.service.pid = None
            if self.service.state != "error":
                self.service.state = "restarting"
            failures = 0 if self.clock.monotonic() - began > 60 else failures + 1
            log.warning("detection: the inference service stopped; restarting (restart %d)", self.service.restarts)
            await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])

    def _on_service_message(self, msg: dict[str, Any]) -> None:
        if msg.get("type") != "status":
            return
        for key in ("state", "pid", "slots", "clients", "requests", "expired", "inference_ms", "input_size",
                    "error"):
            if key in msg:
                setattr(self.service, key, msg[key])
        if self.service.state == "error":
            log.error("detection: the inference service: %s", self.service.error)

    async def _supervise(self, name: str, settings: str) -> None:
        failures = 0
        while True:
            began = self.clock.monotonic()
            try:
                await self._run_worker(name, settings)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("camera %s: detection worker failed", name)
            st = self.status.get(name)
            if st is not None:
                st.restarts += 1
                if st.state not in ("error",):
                    st.state = "restarting"
            failures = 0 if self.clock.monotonic() - began > 60 else failures + 1
            self._end_motion(name, self.clock.now_ms())
            if self.alerts is not None:  # its open events will not report an end: occupancy off
                self.alerts.ha_worker_gone(name)
            await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])

    async def _run_worker(self, name: str, settings: str) -> None:
        await self._run_child(f"camera {name}: detection worker", "campy.detection.worker", settings,
                              lambda msg: self._on_message(name, msg))

    async def _run_child(self, what: str, module: str, settings: str,
                         on_message: Callable[[dict[str, Any]], None]) -> None:
        """Run ``python -m module`` with ``settings`` on stdin until it exits, handing each
        JSON line it prints to ``on_message``; it dies with CamPy and is stopped term → kill."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM),
            env={**os.environ, **_CHILD_ENV}, limit=1 << 20)
        assert proc.stdin and proc.stdout and proc.stderr
        proc.stdin.write(settings.encode() + b"\n")
        await proc.stdin.drain()
        proc.stdin.close()
        err_task = asyncio.create_task(proc.stderr.read())
        try:
            async for raw in proc.stdout:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                try:
                    on_message(msg)
                except Exception:
                    log.exception("%s: could not handle %s", what, msg.get("type"))
            await proc.wait()
        finally:
            await terminate(proc, timeout=3)
        err = (await err_task).decode(errors="replace").strip()
        if err:
            log.warning("%s said: %s", what, err.splitlines()[-1][:300])

    # -- messages from a worker ---------------------------------------------------------
    def _on_message(self, name: str, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "status":
            st = self.status.setdefault(name, CameraStatus(camera=name))
            for key in ("state", "fps", "motion_ms", "inference_ms", "last_motion_ms", "error", "objects",
                        "objects_state", "objects_skipped", "inferences", "service_connects"):
                if key in msg:
                    setattr(st, key, msg[key])
            if "analysed" in msg:  # a run counts from 0: a smaller figure is a new run
                n = int(msg["analysed"])
                st.frames_total += n - st.analysed_run if n >= st.analysed_run else n
                st.analysed_run = n
            if st.state == "error":
                log.error("camera %s: detection: %s", name, st.error)
            if self.alerts is not None:
                for key in ("state", "fps", "inference_ms"):
                    self.alerts.publish_state(name, f"detect_{key}", getattr(st, key))
        elif kind == "motion":
            if msg.get("state") == "start":
                self._motion_marks[name] = self.recording.index.add_mark(
                    camera=name, kind="motion", source="motion", start_ms=int(msg["at_ms"]), end_ms=None,
                    keep_until_ms=None, created_ms=self.clock.now_ms())
                self.broadcast.publish({"type": "motion", "camera": name, "state": "start"})
                if self.alerts is not None:
                    self.alerts.publish_state(name, "motion", "ON")
            else:
                self._end_motion(name, int(msg["at_ms"]))
        elif kind == "event":
            self._on_event(name, msg)

    def motion_cameras(self) -> set[str]:
        """Cameras with motion going on now."""
        return set(self._motion_marks)

    def _end_motion(self, name: str, at_ms: int) -> None:
        mark = self._motion_marks.pop(name, None)
        if mark is not None:
            self.recording.index.close_mark(mark, at_ms)
            self.broadcast.publish({"type": "motion", "camera": name, "state": "end"})
            if self.alerts is not None:
                self.alerts.publish_state(name, "motion", "OFF")

    def _event_days(self, name: str) -> float:
        cam = self._config().cameras.get(name)
        return cam.record.event_days if cam else 30.0

    def _on_event(self, name: str, msg: dict[str, Any]) -> None:
        key, kind = str(msg["key"]), msg.get("kind")
        keep = int(self._event_days(name) * DAY_MS)
        if kind == "start":
            start = int(msg["start_ms"])
            # Open events protect their footage from the start (an event may outlast a pass).
            mark = self.recording.index.add_mark(camera=name, kind="event", source="detection", label=msg["label"],
                                                 start_ms=start, end_ms=None, keep_until_ms=start + keep,
                                                 created_ms=self.clock.now_ms())
            event_id = self.events.start(camera=name, key=key, label=msg["label"], score=float(msg["score"]),
                                         start_ms=start, zones=list(msg.get("zones") or []),
                                         box=list(msg.get("box") or []), snapshot=msg.get("snapshot"),
                                         mark_id=mark)
            st = self.status.get(name)
            if st is not None:
                st.events += 1
            log.info("camera %s: event %d started: %s %.0f%%", name, event_id, msg["label"], msg["score"] * 100)
        elif kind == "update":
            self.events.update(key, score=float(msg["score"]), zones=list(msg.get("zones") or []),
                               box=list(msg.get("box") or []), snapshot=msg.get("snapshot"))
        elif kind == "end":
            end = int(msg.get("end_ms") or self.clock.now_ms())
            self.events.update(key, end_ms=end)
            row = self.events.by_key(key)
            if row and row["mark_id"]:
                self.recording.index.update_mark(row["mark_id"], end_ms=end, keep_until_ms=end + keep)
        row = self.events.by_key(key)
        if row is None:
            return
        view = event_view(row)
        self.broadcast.publish({"type": "event", "kind": kind, "event": view})
        if self.alerts is not None:
            self.alerts.submit_event(view, kind=str(kind))
            snap = self.snapshot_dir(name) / row["snapshot"] if row["snapshot"] else None
            self.alerts.ha_event(view, kind=str(kind), snapshot=snap)

    def prune(self, *, now_ms: int) -> int:
        """Forget events (and their snapshots) older than ``detection.snapshot_days``."""
        days = self._config().detection.snapshot_days
        old = self.events.expired(before_ms=now_ms - int(days * DAY_MS))
        for ev in old:
            if ev["snapshot"]:
                with contextlib.suppress(OSError):
                    (self.snapshot_dir(ev["camera"]) / ev["snapshot"]).unlink()
        self.events.delete([ev["id"] for ev in old])
        return len(old)

    def status_view(self) -> dict[str, Any]:
        views = {n: msgspec.structs.asdict(s) for n, s in sorted(self.status.items())}
        for v in views.values():
            del v["analysed_run"]  # bookkeeping for frames_total
        return views

    def service_view(self) -> dict[str, Any]:
        """The shared inference service (``state: off`` when no camera needs the model)."""
        return {**msgspec.structs.asdict(self.service), "mode": "shared" if self.shared else "per-worker"}


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    """An event as the API shows it."""
    start, end = row["start_ms"], row["end_ms"]
    clip_end = (end or start) + 10_000
    return {"id": row["id"], "camera": row["camera"], "label": row["label"], "score": row["score"],
            "start_ms": start, "end_ms": end, "zones": row["zones"], "box": row["box"],
            "snapshot_url": f"/api/events/{row['id']}/snapshot.jpg" if row["snapshot"] else None,
            "clip_url": f"/api/cameras/{row['camera']}/export.mp4?start={start - 5_000}&end={clip_end}",
            "recordings_url": f"/cameras/{row['camera']}/recordings?at={start - 5_000}",
            "acked_ms": row.get("acked_ms"), "acked_by": row.get("acked_by")}
