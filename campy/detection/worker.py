"""The detection worker: one process per camera (``python -m campy.detection.worker``).

It reads its settings as one JSON line on stdin, decodes go2rtc's loopback restream of the
camera's sub stream at the detect rate into raw BGR frames (ffmpeg on a pipe), runs the
motion detector on every frame and the object detector only on motion regions, tracks
objects, turns them into events, writes event snapshots (JPEG with the box drawn), and
reports on stdout, one JSON object per line:

    {"type": "status", "state": "running"|"waiting", "fps": …, "motion_ms": …, "inference_ms": …,
     "last_motion_ms": …, "error": …, "objects": bool, "objects_state": "ready"|"unavailable"|"off",
     "objects_skipped": …}
    {"type": "motion", "state": "start"|"end", "at_ms": …}
    {"type": "event", "kind": "start"|"update"|"end", "key": …, "label": …, "score": …,
     "box": [x1, y1, x2, y2], "zones": […], "start_ms": …, "end_ms": …, "snapshot": "<file>"}

The object detector normally lives in the shared inference service (``settings.inference``
is its address; :mod:`campy.detection.inference`): the worker sends the motion crops and
goes on with the next frames, and the detections are fed to the tracker in frame order as
they come back (``_Pending``). While the service is down, motion is still reported and
objects read ``unavailable``; frames whose crops could not be looked at are left out of the
tracker (its expiry is by time, so a short outage ends no track by itself). With
``settings.detector`` instead, the worker loads the model itself (the old per-worker path,
kept for comparison: ``CAMPY_DETECTION_INFERENCE=per-worker``).

The main process is the only database writer; the worker only writes snapshot files. When
the stream ends (camera or go2rtc gone) the worker starts ffmpeg again with backoff.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from campy.detection.types import Detection
from campy.procs import die_with_parent

if TYPE_CHECKING:
    from campy.detection.inference_client import InferenceClient

MOTION_END_MS = 2_000  # quiet this long → the motion window ends
STATUS_EVERY_S = 2.0
REPLY_TIMEOUT_S = 2.0  # a request unanswered this long is given up (objects skipped for that frame)
MAX_PENDING = 16  # frames held for the tracker while waiting for the service, at most
LATEST_EVERY_S = 10.0  # how often the worker saves the current frame (for drawing zones)


class WorkerSettings(msgspec.Struct, frozen=True):
    camera: str
    url: str
    width: int
    height: int
    fps: float
    snapshot_dir: str
    detector: dict[str, Any] | None = None  # DetectorConfig fields: the worker runs the model itself
    inference: str | None = None  # the shared inference service's address (used instead of detector)
    labels: list[str] = msgspec.field(default_factory=lambda: ["person"])
    min_score: float = 0.5
    min_area: int = 0
    min_frames: int = 3
    zones: dict[str, list[tuple[float, float]]] = msgspec.field(default_factory=dict)
    alert_zones: list[str] = msgspec.field(default_factory=list)
    motion_masks: list[list[tuple[float, float]]] = msgspec.field(default_factory=list)
    motion_threshold: int = 30
    motion_contour_area: int = 10
    motion_absorb_seconds: float = 30.0
    decode_threads: int = 0  # ffmpeg's decoder threads; 0 = its default (one per core, plus one)


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def ffmpeg_args(s: WorkerSettings) -> list[str]:
    # One decoder thread is plenty for a sub stream and saves each camera a few MiB of frame
    # buffers and a thread per core; a main stream (no sub) keeps ffmpeg's default.
    threads = ["-threads", str(s.decode_threads)] if s.decode_threads else []
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
            "-timeout", "5000000", *threads, "-i", s.url, "-an",
            "-vf", f"fps={s.fps},scale={s.width}:{s.height}", "-pix_fmt", "bgr24", "-f", "rawvideo", "pipe:1"]


def now_ms() -> int:
    return int(time.time() * 1000)


class _Pending(msgspec.Struct):
    """A frame waiting for its turn at the tracker (frames reach it in order)."""

    t_ms: int
    frame: np.ndarray | None  # kept only while the service may still find something in it
    rid: int | None = None  # the inference request, while unanswered
    sent: float = 0.0  # monotonic time of the request
    detections: list[Detection] | None = None  # None once answered = not looked at
    done: bool = False


class Pipeline:
    """Motion → objects (on motion regions) → tracker → events, for one camera.

    ``wait_s``: how long :meth:`process` waits for the service's answer about the frame it
    was given. The worker uses 0 (never wait; answers are taken as they come); tests that
    feed frames faster than real time wait, so that each frame is looked at as it would be.
    """

    def __init__(self, s: WorkerSettings, *, wait_s: float = 0.0) -> None:
        from campy.detection.events import EventBuilder, EventRules
        from campy.detection.motion import MotionConfig, MotionDetector
        from campy.detection.tracker import Tracker

        self.s = s
        self.wait_s = wait_s
        self.motion = MotionDetector(s.width, s.height,
                                     MotionConfig(threshold=s.motion_threshold, contour_area=s.motion_contour_area,
                                                  absorb_seconds=s.motion_absorb_seconds),
                                     masks=[list(m) for m in s.motion_masks], fps=s.fps)
        self.detector = None
        self.client: InferenceClient | None = None
        if s.inference:
            from campy.detection.inference_client import InferenceClient

            self.client = InferenceClient(s.inference, deadline_s=REPLY_TIMEOUT_S)
        elif s.detector:
            from campy.detection.objects import DetectorConfig, load_detector

            self.detector = load_detector(msgspec.convert(s.detector, DetectorConfig))
        self.tracker = Tracker()
        self.events = EventBuilder(EventRules(labels=list(s.labels), min_score=s.min_score, min_area=s.min_area,
                                              min_frames=s.min_frames, zones={k: list(v) for k, v in s.zones.items()},
                                              alert_zones=list(s.alert_zones)))
        self.in_motion = False
        self.last_motion_ms: int | None = None
        self.motion_ms: deque[float] = deque(maxlen=50)
        self.infer_ms: deque[float] = deque(maxlen=50)
        self.frames: deque[float] = deque(maxlen=100)
        self.pending: deque[_Pending] = deque()
        self._last_seen_frame: np.ndarray | None = None  # the last frame with detections
        self.skipped = 0  # motion frames the object detector could not look at
        self.inferences = 0  # motion frames it did look at
        self.analysed = 0  # frames analysed since this worker started
        self.run_id = now_ms()
        self.last_frame_saved = 0.0
        Path(s.snapshot_dir).mkdir(parents=True, exist_ok=True)

    @property
    def objects_state(self) -> str:
        if self.client is not None:
            return "ready" if self.client.state == "ready" else "unavailable"
        return "ready" if self.detector is not None else "off"

    def process(self, frame: np.ndarray, t_ms: int) -> None:
        self.frames.append(time.monotonic())
        self.analysed += 1
        t0 = time.perf_counter()
        boxes = self.motion.detect(frame)
        self.motion_ms.append((time.perf_counter() - t0) * 1000)
        if boxes:
            self.last_motion_ms = t_ms
            if not self.in_motion:
                self.in_motion = True
                emit({"type": "motion", "state": "start", "at_ms": t_ms})
        elif self.in_motion and self.last_motion_ms is not None and t_ms - self.last_motion_ms >= MOTION_END_MS:
            self.in_motion = False
            emit({"type": "motion", "state": "end", "at_ms": self.last_motion_ms})
        # A frame with nothing to look for is never a snapshot's best frame: hold no pixels for it.
        item = _Pending(t_ms, None, detections=[], done=True)
        if boxes and self.detector is not None:
            item.frame = frame
            t1 = time.perf_counter()
            item.detections = self.detector.detect(frame, regions=boxes)
            self.infer_ms.append((time.perf_counter() - t1) * 1000)
            self.inferences += 1
        elif boxes and self.client is not None:
            rid = self.client.submit(frame, boxes)
            if rid is None:  # the service is away or behind: this frame goes unlooked-at
                self.skipped += 1
                item.detections = None
            else:
                item.rid, item.sent, item.done, item.frame = rid, time.monotonic(), False, frame
        self.pending.append(item)
        self.collect(self.wait_s if item.rid is not None else 0.0)

    def collect(self, wait_s: float = 0.0) -> None:
        """Take the service's answers, then feed the tracker every frame whose turn has come."""
        if self.client is not None:
            deadline = time.monotonic() + wait_s
            timeout = 0.0
            while True:
                by_id = {p.rid: p for p in self.pending if p.rid is not None and not p.done}
                for reply in self.client.replies(timeout):
                    p = by_id.get(reply.id)
                    if p is not None:
                        p.detections, p.done = reply.detections, True
                        if reply.detections is not None:
                            self.infer_ms.append(reply.round_trip_ms)
                            self.inferences += 1
                left = deadline - time.monotonic()
                if not self.pending or self.pending[-1].done or left <= 0:
                    break
                timeout = min(left, 0.5)
        now = time.monotonic()
        while self.pending:
            head = self.pending[0]
            if not head.done:
                if now - head.sent < REPLY_TIMEOUT_S and len(self.pending) <= MAX_PENDING:
                    break
                assert self.client is not None and head.rid is not None
                self.client.forget(head.rid)  # given up: late answers are dropped
                head.detections, head.done = None, True
                self.skipped += 1
            self.pending.popleft()
            if head.detections is not None:
                self._track(head.frame, head.t_ms, head.detections)

    def _track(self, frame: np.ndarray | None, t_ms: int, detections: list[Detection]) -> None:
        if frame is not None and detections:
            self._last_seen_frame = frame
        frame = frame if frame is not None else self._last_seen_frame
        tracked = self.tracker.update(detections, t_ms)
        for ev in self.events.update(tracked, self.tracker.ended, t_ms):
            snapshot = None
            # The snapshot shows the best frame: retaken only when this frame is it (a start
            # always gets one, even if its best sighting was a frame or two earlier).
            if frame is not None and (ev.kind == "start" or (ev.kind == "update" and ev.best_frame_ms == t_ms)):
                snapshot = self._snapshot(frame, ev.event_key, ev.box, ev.label, ev.score)
            emit({"type": "event", "kind": ev.kind, "key": f"{self.run_id}-{ev.event_key}", "label": ev.label,
                  "score": round(float(ev.score), 4), "box": list(ev.box), "zones": list(ev.zones),
                  "start_ms": ev.start_ms, "end_ms": ev.end_ms, "snapshot": snapshot})

    def _snapshot(self, frame: np.ndarray, key: int, box: Any, label: str, score: float) -> str:
        import cv2

        img = frame.copy()
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), 2)
        cv2.putText(img, f"{label} {score:.0%}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 255, 0), 1, cv2.LINE_AA)
        name = f"{self.run_id}-{key}.jpg"
        target = Path(self.s.snapshot_dir) / name
        tmp = target.with_suffix(".part.jpg")
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            tmp.write_bytes(data.tobytes())
            os.replace(tmp, target)
        return name

    def save_latest(self, frame: np.ndarray) -> None:
        """The current frame as ``latest.jpg``: the picture zones are drawn on, at detect size."""
        import cv2

        self.last_frame_saved = time.monotonic()
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            target = Path(self.s.snapshot_dir) / "latest.jpg"
            tmp = target.with_suffix(".part.jpg")
            tmp.write_bytes(data.tobytes())
            os.replace(tmp, target)

    def status(self, state: str, error: str | None = None) -> dict[str, Any]:
        fps = 0.0
        if len(self.frames) >= 2 and time.monotonic() - self.frames[-1] < 3:
            fps = (len(self.frames) - 1) / max(1e-6, self.frames[-1] - self.frames[0])
        return {"type": "status", "state": state, "fps": round(fps, 2),
                "motion_ms": round(statistics.median(self.motion_ms), 3) if self.motion_ms else None,
                "inference_ms": round(statistics.median(self.infer_ms), 2) if self.infer_ms else None,
                "last_motion_ms": self.last_motion_ms, "error": error,
                "objects": self.detector is not None or self.client is not None,
                "objects_state": self.objects_state, "objects_skipped": self.skipped,
                "inferences": self.inferences, "analysed": self.analysed,
                "service_connects": self.client.connects if self.client is not None else 0}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def run(s: WorkerSettings) -> None:
    pipe = Pipeline(s)
    size = s.width * s.height * 3
    failures = 0
    while True:
        proc = subprocess.Popen(ffmpeg_args(s), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=die_with_parent(), bufsize=size * 2)
        assert proc.stdout is not None
        last_status = 0.0
        told = pipe.objects_state
        frames = 0
        started = time.monotonic()
        while True:
            buf = proc.stdout.read(size)
            if not buf or len(buf) < size:
                break
            frames += 1
            frame = np.frombuffer(buf, dtype=np.uint8).reshape(s.height, s.width, 3)
            pipe.process(frame, now_ms())
            # A change of the service's state is told at once (objects unavailable / back).
            if time.monotonic() - last_status >= STATUS_EVERY_S or pipe.objects_state != told:
                emit(pipe.status("running"))
                last_status, told = time.monotonic(), pipe.objects_state
            if time.monotonic() - pipe.last_frame_saved >= LATEST_EVERY_S:
                pipe.save_latest(frame)
        with contextlib.suppress(Exception):
            proc.kill()
        err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace").strip().splitlines()
        proc.wait()
        if pipe.in_motion and pipe.last_motion_ms is not None:
            pipe.in_motion = False
            emit({"type": "motion", "state": "end", "at_ms": pipe.last_motion_ms})
        failures = 0 if frames and time.monotonic() - started > 30 else failures + 1
        # ffmpeg names its input in errors; that URL holds go2rtc's secret stream name.
        reason = (err[-1].replace(s.url, "the restream") if err else "the stream ended")
        emit(pipe.status("waiting", reason[:300]))
        time.sleep((0.5, 1.0, 2.0)[min(failures, 2)])


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    line = sys.stdin.readline()
    try:
        settings = msgspec.json.decode(line.encode(), type=WorkerSettings)
    except msgspec.DecodeError as err:
        emit({"type": "status", "state": "error", "error": f"bad worker settings: {err}"})
        return 2
    try:
        run(settings)
    except Exception as err:  # the manager restarts us; say why first
        emit({"type": "status", "state": "error", "error": f"{type(err).__name__}: {err}"[:500]})
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
