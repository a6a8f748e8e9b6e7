"""The system page's figures and the admin API behind it: jobs, loop lag, processes, disk.

``GET /api/system/jobs`` lists every scheduled job (``campy.jobs``); ``POST
/api/system/jobs/run`` (``{"id": …}``) and the page's "Run now" button run one at once;
``GET /api/system/looplag`` is the event-loop lag (``campy.looplag``). Process figures come
from psutil: CamPy and every descendant, labelled by what CamPy knows about each pid.
Command lines are never shown (go2rtc's ffmpeg children carry camera URLs).
"""

from __future__ import annotations

import json
import os
import time
from typing import Annotated, Any

import anyio.to_thread
import msgspec
import psutil
from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery, JSONBody
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect

import campy
from campy import procs as procs_mod
from campy.errors import BadRequest
from campy.web.auditing import audit
from campy.web.auth import require_admin

_CPU_SAMPLE_S = 0.25


class RunJob(msgspec.Struct, forbid_unknown_fields=True):
    id: str


def _labels(runtime: Any) -> dict[int, str]:
    labels: dict[int, str] = {}
    guardian = getattr(procs_mod, "_guardian", None)
    if guardian is not None and guardian.poll() is None:
        labels[guardian.pid] = "guardian"
    server = runtime.server
    if server is not None and server.pid:
        labels[server.pid] = "go2rtc"
    rec = runtime.recording
    for kind, recorders in (("recorder", rec.recorders), ("sub recorder", rec.sub_recorders)):
        for cam, r in recorders.items():
            proc = getattr(r, "proc", None)
            if proc is not None and proc.returncode is None:
                labels[proc.pid] = f"{kind} · {cam}"
    det = runtime.detection
    svc = getattr(det, "service", None)
    if svc is not None and getattr(svc, "pid", None):
        labels[svc.pid] = "inference service"
    return labels


def _guess(p: psutil.Process, name: str) -> str:
    """A label for a child CamPy keeps no pid of (read from its module name, never shown)."""
    try:
        cmd = p.cmdline()
    except psutil.Error:
        return name
    if "campy.detection.worker" in cmd:
        return "detection worker"
    if "campy.detection.inference" in cmd:
        return "inference service"
    return name


def processes(runtime: Any) -> list[dict[str, Any]]:
    """CamPy and its descendants, depth-first, with CPU % (over a short sample) and RSS.
    Blocks for the sample: call from a worker thread."""
    labels = _labels(runtime)
    me = psutil.Process(os.getpid())
    tree: list[tuple[int, psutil.Process]] = []

    def walk(p: psutil.Process, depth: int) -> None:
        tree.append((depth, p))
        try:
            kids = sorted(p.children(), key=lambda c: c.pid)
        except psutil.Error:
            return
        for c in kids:
            walk(c, depth + 1)

    walk(me, 0)
    for _, p in tree:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(_CPU_SAMPLE_S)
    out = []
    for depth, p in tree:
        try:
            with p.oneshot():
                cpu, rss, name = p.cpu_percent(None), p.memory_info().rss, p.name()
        except psutil.Error:
            continue
        label = "CamPy" if p.pid == me.pid else labels.get(p.pid) or _guess(p, name)
        out.append({"pid": p.pid, "depth": depth, "label": label, "name": name,
                    "cpu_percent": round(cpu, 1), "rss_bytes": rss})
    return out


async def go2rtc_version(runtime: Any) -> str | None:
    try:
        body = await runtime.client.get_text("/api")
        return str(json.loads(body).get("version") or "") or None
    except Exception:
        return None


async def system_context(request: Request[Any, Any, Any]) -> dict[str, Any]:
    runtime = request.app.state.runtime
    disk = await runtime.recording.storage_status_async()
    procs = await anyio.to_thread.run_sync(processes, runtime)
    return {
        "version": campy.__version__,
        "uptime_s": int(time.time() - runtime.started_at),
        "go2rtc_version": await go2rtc_version(runtime),
        "procs": procs,
        "disk": {k: disk.get(k) for k in ("path", "total_bytes", "free_bytes", "used_bytes", "max_bytes",
                                          "min_free_bytes", "warnings")},
        "jobs": runtime.jobs.snapshot(),
    }


def _run(request: Request[Any, Any, Any], job_id: str) -> dict[str, Any]:
    if not job_id.strip():
        raise BadRequest("id: name the job to run, e.g. \"retention\" (GET /api/system/jobs lists them)")
    return request.app.state.runtime.jobs.run_now(job_id.strip())  # type: ignore[no-any-return]


class SystemApi(Controller):
    path = "/api/system"
    guards = [require_admin]

    @get("/jobs", sync_to_thread=False)
    def jobs(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return {"jobs": request.app.state.runtime.jobs.snapshot()}

    @post("/jobs/run", status_code=202)
    async def run_job(self, request: Request[Any, Any, Any], data: JSONBody[RunJob]) -> dict[str, Any]:
        entry = _run(request, data.id)
        await audit(request, "job.run", target=data.id)
        return entry

    @get("/looplag", sync_to_thread=False)
    def looplag(self, request: Request[Any, Any, Any], histogram: FromQuery[bool] = False) -> dict[str, Any]:
        """p50/p99/max; ``?histogram=true`` adds the samples per whole ms since start."""
        mon = request.app.state.runtime.looplag
        out: dict[str, Any] = mon.summary()
        if histogram:
            out["histogram_ms"] = {str(k): v for k, v in sorted(mon.histogram().items())}
        return out

    @get("/processes")
    async def procs(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return {"processes": await anyio.to_thread.run_sync(processes, request.app.state.runtime)}


Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


class SystemPages(Controller):
    path = "/system"
    guards = [require_admin]

    @post("/jobs/run", status_code=303)
    async def run_job_form(self, request: HTMXRequest, data: Form) -> Redirect:
        job_id = data.get("id", "")
        _run(request, job_id)
        await audit(request, "job.run", target=job_id)
        return Redirect(f"/system?ran={job_id}#jobs", status_code=303)
