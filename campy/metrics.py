"""Prometheus metrics: what ``GET /metrics`` exposes (docs/metrics.md lists every one).

Everything is read at scrape time, nothing is polled in the background: the loop-side state
(camera health, recorders, detection, retention counters) is copied on the event loop, and
the database, the disk and the process table are read in a worker thread. HTTP requests are
counted by ``HttpMetrics``, an ASGI wrapper that labels each request by its route template
(``/api/cameras/{name}``), never by the raw path, so label sets stay bounded.
Labels carry camera names, states, labels and roles only: never a URL or a secret.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import anyio.to_thread
import psutil
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from campy import __version__
from campy.health import AUTH_FAILED, CONNECTING, DISABLED, OFFLINE, ONLINE, UNKNOWN
from campy.recording.storage_chart import days_left

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CAMERA_STATES = (ONLINE, CONNECTING, OFFLINE, AUTH_FAILED, DISABLED, UNKNOWN)
RECORDER_STATES = ("starting", "recording", "waiting", "error", "stopped")
ROLES = ("campy", "go2rtc", "recorder", "detector", "sim", "other")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# -- HTTP requests ---------------------------------------------------------------------------
class HttpMetrics:
    """Requests by method, route template and status, and their latency (to the last byte)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("campy_http_requests", "HTTP requests answered, by route template and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("campy_http_request_duration_seconds",
                                 "Time from a request's arrival to its response's last byte",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)

    def wrap(self, app: Any) -> Any:
        async def handler(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            began = time.perf_counter()
            status = [0]

            async def send_counted(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status[0] = int(message["status"])
                await send(message)

            try:
                await app(scope, receive, send_counted)
            finally:
                # Litestar sets path_template on the scope when a route matched; anything
                # else (404s, scans) shares one label value.
                route = scope.get("path_template") or "unmatched"
                method = scope.get("method", "GET")
                self.requests.labels(method, route, str(status[0] or 500)).inc()
                self.latency.labels(method, route).observe(time.perf_counter() - began)

        return handler


# -- the scrape ------------------------------------------------------------------------------
def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: Iterable[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


def _loop_state(runtime: Any) -> dict[str, Any]:
    """What lives on the event loop, copied there (cheap reads of in-memory state)."""
    now_ms = runtime.clock.now_ms()
    rec = runtime.recording
    recorders = [r.status() for r in list(rec.recorders.values()) + list(rec.sub_recorders.values())]
    det = runtime.detection
    server = runtime.server
    return {
        "now_ms": now_ms,
        "health": {n: h for n, h in runtime.health.all().items()},
        "recorders": recorders,
        "detection": {n: s for n, s in det.status.items()},
        "service": det.service,
        "retention": dict(rec.retention_totals),
        "protected_deleted": rec.protected_deleted_total,
        "go2rtc_up": runtime.health.go2rtc_up,
        "go2rtc_restarts": getattr(server, "restarts", 0),
        "pids": {
            "go2rtc": {server.pid} if server is not None and server.pid else set(),
            "recorder": {r["pid"] for r in recorders if r.get("pid")},
            "detector": {p for p in [det.service.pid] if p},
        },
        "looplag": runtime.looplag.summary(),
    }


def _classify(proc: psutil.Process, pids: dict[str, set[int]]) -> str:
    for role, known in pids.items():
        if proc.pid in known:
            return role
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    if "campy.detection" in cmd:
        return "detector"
    if "-sdp_file" in cmd or "campy.sim" in cmd:  # the simulator's looping ffmpeg sources
        return "sim"
    return "other"


def _children(pid: int) -> list[int]:
    """A process's children from /proc/<pid>/task/*/children: psutil's children() reads
    every process on the host per call (~50 ms on a busy box), this reads our own tree only."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            continue
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += _children(child)
    return found


def process_usage(pids: dict[str, set[int]]) -> dict[str, list[float]]:
    """CPU seconds, RSS bytes and a count per role: CamPy itself, and each child with all of
    its own descendants (go2rtc's ffmpeg transcoders count as go2rtc)."""
    out = {role: [0.0, 0.0, 0.0] for role in ROLES}

    def add(role: str, p: psutil.Process) -> None:
        try:
            with p.oneshot():
                cpu = p.cpu_times()
                out[role][0] += cpu.user + cpu.system
                out[role][1] += p.memory_info().rss
                out[role][2] += 1
        except psutil.Error:
            pass

    me = os.getpid()
    add("campy", psutil.Process(me))
    for child_pid in _children(me):
        try:
            child = psutil.Process(child_pid)
        except psutil.Error:
            continue
        role = _classify(child, pids)
        add(role, child)
        for pid in _descendants(child_pid):
            try:
                add(role, psutil.Process(pid))
            except psutil.Error:
                continue
    return out


def _thread_state(runtime: Any, pids: dict[str, set[int]]) -> dict[str, Any]:
    """The database and the process table, read in a worker thread."""
    rows = runtime.db.execute("SELECT camera, label, COUNT(*) FROM events GROUP BY camera, label").fetchall()
    return {"events": [(str(r[0]), str(r[1]), int(r[2])) for r in rows], "procs": process_usage(pids)}


class Snapshot(Collector):
    """One scrape's metric families, built from state already read."""

    def __init__(self, loop: dict[str, Any], thread: dict[str, Any], storage: dict[str, Any]) -> None:
        self.loop, self.thread, self.storage = loop, thread, storage

    def collect(self) -> Iterator[Metric]:
        yield from self._camera()
        yield from self._recorders()
        yield from self._detection()
        yield from self._storage()
        yield from self._processes()

    def _camera(self) -> Iterator[Metric]:
        loop = self.loop
        now_ms = loop["now_ms"]
        state = _gauge("campy_camera_state", "1 for the camera's current state, 0 for the others",
                       ["camera", "state"])
        uptime = _gauge("campy_camera_uptime_seconds", "Seconds since the camera came online (0 when not online)",
                        ["camera"])
        rx = _gauge("campy_camera_receive_bytes_per_second",
                    "Bytes per second go2rtc receives from the camera (its probe stream)", ["camera"])
        tx = _gauge("campy_camera_send_bytes_per_second",
                    "Bytes per second go2rtc sends out of the camera's streams (viewers, recorders, detection)",
                    ["camera"])
        viewers = _gauge("campy_camera_viewers", "People watching the camera live", ["camera"])
        reconnects = _counter("campy_camera_reconnects", "Times the camera came back online after being down",
                              ["camera"])
        for name, h in sorted(loop["health"].items()):
            for s in CAMERA_STATES:
                state.add_metric([name, s], 1.0 if h.state == s else 0.0)
            up = (now_ms - h.since_ms) / 1000 if h.state == ONLINE and h.since_ms else 0.0
            uptime.add_metric([name], max(up, 0.0))
            rx.add_metric([name], h.bitrate_kbps * 1000 / 8)
            tx.add_metric([name], h.bitrate_out_kbps * 1000 / 8)
            viewers.add_metric([name], h.viewers)
            reconnects.add_metric([name], h.reconnects)
        yield from (state, uptime, rx, tx, viewers, reconnects)
        up = _gauge("campy_go2rtc_up", "1 when go2rtc answers its API")
        up.add_metric([], 1.0 if loop["go2rtc_up"] else 0.0)
        restarts = _counter("campy_go2rtc_restarts", "Times CamPy restarted go2rtc")
        restarts.add_metric([], loop["go2rtc_restarts"])
        info = _gauge("campy_info", "CamPy's version", ["version"])
        info.add_metric([__version__], 1.0)
        lag = loop["looplag"]["recent"]
        loop_lag = _gauge("campy_event_loop_lag_seconds", "Event-loop lag over the last window", ["quantile"])
        for q, key in (("0.5", "p50_ms"), ("0.99", "p99_ms"), ("1", "max_ms")):
            if lag.get(key) is not None:
                loop_lag.add_metric([q], lag[key] / 1000)
        yield from (up, restarts, info, loop_lag)

    def _recorders(self) -> Iterator[Metric]:
        now_ms = self.loop["now_ms"]
        state = _gauge("campy_recorder_state", "1 for the recorder's current state, 0 for the others",
                       ["camera", "stream", "state"])
        age = _gauge("campy_recorder_last_segment_age_seconds",
                     "Seconds since the recorder's last closed segment ended", ["camera", "stream"])
        segments = _counter("campy_recorder_segments", "Segments the recorder closed since CamPy started",
                            ["camera", "stream"])
        restarts = _counter("campy_recorder_restarts", "Times the recorder's ffmpeg was restarted",
                            ["camera", "stream"])
        fps = _gauge("campy_recorder_frames_per_second",
                     "Video frames per second of stream time the recorder received from the camera "
                     "(absent while not recording)", ["camera", "stream"])
        frames = _counter("campy_recorder_frames", "Video frames the recorder copied since CamPy started",
                          ["camera", "stream"])
        for r in sorted(self.loop["recorders"], key=lambda r: (r["camera"], r["stream"])):
            lab = [r["camera"], r["stream"]]
            for s in RECORDER_STATES:
                state.add_metric([*lab, s], 1.0 if r["state"] == s else 0.0)
            if r.get("last_segment_end_ms"):
                age.add_metric(lab, max(now_ms - r["last_segment_end_ms"], 0) / 1000)
            segments.add_metric(lab, r.get("segments") or 0)
            restarts.add_metric(lab, r.get("restarts") or 0)
            if r.get("fps") is not None:
                fps.add_metric(lab, r["fps"])
            frames.add_metric(lab, r.get("frames_total") or 0)
        yield from (state, age, segments, restarts, fps, frames)

    def _detection(self) -> Iterator[Metric]:
        fps = _gauge("campy_detection_fps", "Frames per second the detection worker analyses", ["camera"])
        motion = _gauge("campy_detection_motion_seconds", "Motion analysis time per frame", ["camera"])
        infer = _gauge("campy_detection_inference_seconds", "Object detection time per analysed frame",
                       ["camera"])
        state = _gauge("campy_detection_state", "1 for the detection worker's current state", ["camera", "state"])
        restarts = _counter("campy_detection_restarts", "Times the detection worker was restarted", ["camera"])
        frames = _counter("campy_detection_frames", "Frames the detection worker analysed", ["camera"])
        for name, s in sorted(self.loop["detection"].items()):
            fps.add_metric([name], s.fps)
            if s.motion_ms is not None:
                motion.add_metric([name], s.motion_ms / 1000)
            if s.inference_ms is not None:
                infer.add_metric([name], s.inference_ms / 1000)
            state.add_metric([name, s.state], 1.0)
            restarts.add_metric([name], s.restarts)
            frames.add_metric([name], s.frames_total)
        svc = self.loop["service"]
        svc_ms = _gauge("campy_inference_service_inference_seconds", "The shared inference service's time per frame")
        if svc.inference_ms is not None:
            svc_ms.add_metric([], svc.inference_ms / 1000)
        svc_req = _counter("campy_inference_service_requests", "Frames the shared inference service analysed")
        svc_req.add_metric([], svc.requests)
        events = _counter("campy_events", "Detection events stored, by camera and label (pruned after "
                          "detection.snapshot_days)", ["camera", "label"])
        for cam, label, n in sorted(self.thread["events"]):
            events.add_metric([cam, label], n)
        yield from (fps, motion, infer, state, restarts, frames, svc_ms, svc_req, events)

    def _storage(self) -> Iterator[Metric]:
        st = self.storage
        recorded = _gauge("campy_recorded_bytes", "Bytes of footage indexed for the camera", ["camera"])
        segs = _gauge("campy_recorded_segments", "Segments indexed for the camera", ["camera"])
        rate = 0.0
        for c in st["cameras"]:
            recorded.add_metric([c["camera"]], c["size_bytes"] or 0)
            segs.add_metric([c["camera"]], c["segments"] or 0)
            rate += (c["bytes_per_second"] or 0) * 86400
        yield from (recorded, segs)
        for name, key, doc in (
            ("campy_disk_used_bytes", "used_bytes", "Bytes of footage (every camera)"),
            ("campy_disk_free_bytes", "free_bytes", "Free bytes on the recordings' file system"),
            ("campy_disk_total_bytes", "total_bytes", "Size of the recordings' file system"),
            ("campy_disk_cap_bytes", "max_bytes", "recording.max_bytes: the cap on footage (absent: none)"),
            ("campy_disk_floor_bytes", "min_free_bytes", "The free space retention keeps (absent: none)"),
        ):
            g = _gauge(name, doc)
            if st.get(key) is not None:
                g.add_metric([], st[key])
            yield g
        left = days_left(free_bytes=st["free_bytes"], cap_bytes=st["max_bytes"], used_bytes=st["used_bytes"],
                         bytes_per_day=rate) if rate else None
        g = _gauge("campy_disk_days_left", "Days until the cap or the free space is reached at the last hour's "
                   "rate (absent: nothing is being written)")
        if left is not None:
            g.add_metric([], left)
        yield g
        totals = self.loop["retention"]
        for name, value, doc in (
            ("campy_retention_passes", totals["passes"], "Retention passes since CamPy started"),
            ("campy_retention_deleted_segments", totals["deleted"], "Segments retention deleted since CamPy started"),
            ("campy_retention_freed_bytes", totals["freed_bytes"], "Bytes retention freed since CamPy started"),
            ("campy_retention_protected_deleted_segments", self.loop["protected_deleted"],
             "Protected (event) segments deleted because the disk ran out"),
        ):
            c = _counter(name, doc)
            c.add_metric([], value)
            yield c

    def _processes(self) -> Iterator[Metric]:
        cpu = _counter("campy_process_cpu_seconds", "CPU time (user + system) of CamPy and its children, by role",
                       ["role"])
        rss = _gauge("campy_process_resident_memory_bytes", "Resident memory, by role", ["role"])
        count = _gauge("campy_processes", "Running processes, by role", ["role"])
        for role, (c, r, n) in self.thread["procs"].items():
            cpu.add_metric([role], c)
            rss.add_metric([role], r)
            count.add_metric([role], n)
        yield from (cpu, rss, count)


async def scrape(runtime: Any, http: HttpMetrics | None) -> bytes:
    """The text exposition of every metric (the loop's part read here, the rest in a thread)."""
    loop = _loop_state(runtime)
    storage = await runtime.recording.storage_status_async()

    def work() -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Snapshot(loop, _thread_state(runtime, loop["pids"]), storage))
        text = generate_latest(registry)
        return text + (generate_latest(http.registry) if http is not None else b"")

    return await anyio.to_thread.run_sync(work)
