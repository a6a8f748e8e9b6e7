"""Events over HTTP: the JSON list, snapshots, live updates (server-sent events), the page,
and per-camera detection status."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import httpx
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import ServerSentEvent, Template

from campy.detection.manager import event_view
from campy.errors import BadRequest, NotFound
from campy.localtime import of_runtime
from campy.config import ConfigError
from campy.web.auditing import audit
from campy.web.auth import (
    can_view_camera,
    check_camera,
    current_user,
    require_admin,
    require_operator,
    require_user,
)
from campy.web.revoke import keys_for, until_revoked
from campy.web.ranges import file_response
from campy.web.recordings import parse_time

MAX_EVENTS = 1000


def _query(request: Request[Any, Any, Any], camera: str | None, label: str | None, zone: str | None,
           start: str | None, end: str | None, limit: int, *, local: bool = False) -> list[dict[str, Any]]:
    runtime = request.app.state.runtime
    user = current_user(request)
    if camera:
        check_camera(user, camera)  # ungranted: the same 404 as a missing camera
        if camera not in runtime.config.cameras:
            raise NotFound(f"no camera {camera!r}")
    if not 1 <= limit <= MAX_EVENTS:
        raise BadRequest(f"limit must be between 1 and {MAX_EVENTS}", fields={"limit": f"1-{MAX_EVENTS}"})
    tz = of_runtime(runtime).zone if local else UTC  # the page's inputs hold local times
    start_ms, end_ms = parse_time(start, name="start", tz=tz), parse_time(end, name="end", tz=tz)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise BadRequest("end must be after start", fields={"end": "after start"})
    rows = runtime.detection.events.query(camera=camera or None, label=label or None, zone=zone or None,
                                          start_ms=start_ms, end_ms=end_ms, limit=limit)
    return [event_view(r) for r in rows if can_view_camera(user, r["camera"])]


class EventsApi(Controller):
    path = "/api"
    guards = [require_user]

    @get("/events", sync_to_thread=False)
    def events(self, request: Request[Any, Any, Any], camera: FromQuery[str | None] = None,
               label: FromQuery[str | None] = None, zone: FromQuery[str | None] = None,
               start: FromQuery[str | None] = None, end: FromQuery[str | None] = None,
               limit: FromQuery[int] = 200) -> list[dict[str, Any]]:
        """Events overlapping [start, end), newest first, filtered by camera, label and zone."""
        return _query(request, camera, label, zone, start, end, limit)

    @get("/events/{event_id:int}", sync_to_thread=False)
    def event(self, request: Request[Any, Any, Any], event_id: FromPath[int]) -> dict[str, Any]:
        return event_view(_event(request, event_id))

    @post("/events/{event_id:int}/ack", guards=[require_operator], status_code=200, sync_to_thread=False)
    def ack(self, request: Request[Any, Any, Any], event_id: FromPath[int]) -> dict[str, Any]:
        """Acknowledge an event (operators and admins); the first acknowledgement stands."""
        return event_view(_ack(request, event_id))

    @get("/events/{event_id:int}/snapshot.jpg")
    async def snapshot(self, request: Request[Any, Any, Any], event_id: FromPath[int]) -> Response[Any]:
        runtime = request.app.state.runtime
        row = _event(request, event_id)
        if not row["snapshot"]:
            raise NotFound("no snapshot for that event")
        return file_response(request, runtime.detection.snapshot_dir(row["camera"]) / row["snapshot"],
                             media_type="image/jpeg", cache_seconds=60)

    @get("/detection/status", sync_to_thread=False)
    def detection_status(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Per camera: worker state, frames per second, motion and inference ms, last motion."""
        user = current_user(request)
        return {n: st for n, st in request.app.state.runtime.detection.status_view().items() if user.can_view(n)}

    @get("/detection/service", guards=[require_admin], sync_to_thread=False)
    def detection_service(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """The shared inference service: state, pid, restarts, inference ms, clients, requests."""
        return request.app.state.runtime.detection.service_view()

    @get("/events/stream")
    async def stream(self, request: Request[Any, Any, Any]) -> ServerSentEvent:
        """Live updates: one ``event`` message per event start/update/end, ``motion`` per window."""
        broadcast = request.app.state.runtime.detection.broadcast
        user = current_user(request)

        revocations = request.app.state.runtime.revocations

        async def gen() -> AsyncIterator[str]:
            yield json.dumps({"type": "hello"})
            with revocations.watch(keys_for(user)) as revoked:
                async for item in until_revoked(broadcast.listen(), revoked):
                    cam = item.get("camera") or item.get("event", {}).get("camera")
                    if not cam or not can_view_camera(user, cam):  # fail closed
                        continue
                    yield json.dumps(item)

        return ServerSentEvent(gen())


class EventsPages(Controller):
    guards = [require_user]

    @get("/events", sync_to_thread=False)
    def events_page(self, request: HTMXRequest, camera: FromQuery[str | None] = None,
                    label: FromQuery[str | None] = None, zone: FromQuery[str | None] = None,
                    start: FromQuery[str | None] = None, end: FromQuery[str | None] = None) -> Template:
        runtime = request.app.state.runtime
        events = _query(request, camera, label, zone, start, end, 200, local=True)
        user = current_user(request)
        cams = {n: c for n, c in runtime.config.cameras.items() if user.can_view(n)}
        zones = sorted({z for c in cams.values() if c.detect for z in c.detect.zones})
        labels = sorted({lbl for c in cams.values() if c.detect for lbl in c.detect.labels})
        ctx = {"events": events, "cameras": sorted(cams), "zones": zones, "labels": labels,
               "timezone": of_runtime(runtime).name,
               "f": {"camera": camera or "", "label": label or "", "zone": zone or "", "start": start or "",
                     "end": end or ""}}
        partial = request.htmx and request.htmx.target == "event-list"
        return Template("_event_list.html" if partial else "events.html", context=ctx)

    @post("/events/{event_id:int}/ack", guards=[require_operator], status_code=200, sync_to_thread=False)
    def ack_form(self, request: HTMXRequest, event_id: FromPath[int]) -> Template:
        """The events page's "Acknowledge" button: answers with the acknowledgement line."""
        return Template("_event_ack.html", context={"e": event_view(_ack(request, event_id))})

    @get("/cameras/{name:str}/latest.jpg")
    async def latest_picture(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
        """The detection worker's latest frame (at most ~10 s old): the live tiles' first picture,
        shown until live video's first frame arrives. Anyone granted the camera may see it."""
        runtime = request.app.state.runtime
        if name not in runtime.config.cameras:
            raise NotFound(f"no camera {name!r}")
        path = runtime.detection.snapshot_dir(name) / "latest.jpg"
        try:
            fresh = time.time() - path.stat().st_mtime < LATEST_FRESH_S
        except OSError:
            fresh = False
        if fresh:
            return file_response(request, path, media_type="image/jpeg", cache_seconds=2)
        data = await _go2rtc_frame(request, name)
        if data:
            return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=2"})
        if path.is_file():  # an old picture is still better than none
            return file_response(request, path, media_type="image/jpeg", cache_seconds=2)
        raise NotFound(f"no recent picture of camera {name!r}: it sends no video now and detection "
                       "has saved none; the tile shows live video once the camera streams")

    @get("/cameras/{name:str}/detection", sync_to_thread=False)
    def detection_badge(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        st = request.app.state.runtime.detection.status_view().get(name)
        return Template("_detection.html", context={"st": st, "name": name})


LATEST_FRESH_S = 30.0  # a detection frame younger than this is the camera's latest picture
_FRAME_CACHE_S = 30.0  # go2rtc transcodes each snapshot with ffmpeg: not on every page load


async def _go2rtc_frame(request: Request[Any, Any, Any], name: str) -> bytes | None:
    """A JPEG of the camera's next keyframe from go2rtc (sub stream, else main), for cameras
    without detection; kept 30 s so page loads cost at most one snapshot per camera per 30 s."""
    runtime = request.app.state.runtime
    if not runtime.config.cameras[name].enabled:
        return None
    cache: dict[str, tuple[float, bytes]] = request.app.state.setdefault("latest_frames", {})
    locks: dict[str, asyncio.Lock] = request.app.state.setdefault("latest_frame_locks", {})
    async with locks.setdefault(name, asyncio.Lock()):  # one go2rtc snapshot per camera at a time
        hit = cache.get(name)
        if hit and time.monotonic() - hit[0] < _FRAME_CACHE_S:
            return hit[1]
        roles = {spec.role: spec.name for spec in runtime.specs.values() if spec.camera == name}
        stream = roles.get("sub") or roles.get("main")
        if not stream:
            return None
        try:
            # Not through Go2rtcClient's call lock: waiting for a keyframe must not hold up its polls.
            r = await runtime.client._http.get("/api/frame.jpeg", params={"src": runtime.go2rtc_name(stream)},
                                               timeout=8.0)
        except httpx.HTTPError:
            return None
        if r.status_code != 200 or not r.content.startswith(b"\xff\xd8"):
            return None
        cache[name] = (time.monotonic(), r.content)
        return r.content


def _event(request: Request[Any, Any, Any], event_id: int) -> dict[str, Any]:
    """The event's row, or 404 when there is none or its camera is not granted."""
    row = request.app.state.runtime.detection.events.get(event_id)
    if row is None or not can_view_camera(current_user(request), row["camera"]):
        raise NotFound("no such event")
    return row


def _ack(request: Request[Any, Any, Any], event_id: int) -> dict[str, Any]:
    runtime = request.app.state.runtime
    _event(request, event_id)
    runtime.detection.events.ack(event_id, by=current_user(request).actor, at_ms=runtime.clock.now_ms())
    return _event(request, event_id)


def issue_lines(err: ConfigError, prefix: str) -> list[str]:
    """"key.path: message" lines, only those under ``prefix`` when there are any (a refused
    camera also fails what refers to it, such as an alert rule naming it)."""
    own = [i for i in err.issues if i.path == prefix or i.path.startswith(prefix + ".")]
    return [f"{i.path}: {i.message}" if i.path else i.message for i in own or err.issues]


def _zones_context(runtime: Any, name: str, *, errors: list[str] | None = None, saved: str | None = None) -> dict:
    cam = runtime.config.cameras.get(name)
    if cam is None:
        raise NotFound(f"no camera {name!r}")
    d = cam.detect
    return {"name": name, "title": cam.title or name, "width": d.width if d else 640, "height": d.height if d else 360,
            "zones": {k: [list(p) for p in v] for k, v in (d.zones.items() if d else [])},
            "alert_zones": list(d.alert_zones) if d else [], "detect_on": bool(d and d.enabled),
            "masks": [[list(p) for p in m] for m in (d.motion_masks if d else ())],
            "readonly": name in runtime.store.readonly,
            "has_frame": (runtime.detection.snapshot_dir(name) / "latest.jpg").exists(),
            "errors": errors or [], "saved": saved}


class ZonePages(Controller):
    """Drawing detection zones on the camera's current picture (admins)."""

    guards = [require_admin]

    @get("/cameras/{name:str}/zones", sync_to_thread=False)
    def zones_page(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        return Template("zones.html", context=_zones_context(request.app.state.runtime, name))

    @get("/cameras/{name:str}/detect-frame.jpg")
    async def frame(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
        runtime = request.app.state.runtime
        if name not in runtime.config.cameras:
            raise NotFound(f"no camera {name!r}")
        return file_response(request, runtime.detection.snapshot_dir(name) / "latest.jpg", media_type="image/jpeg")

    @post("/cameras/{name:str}/zones", status_code=200)
    async def save_zone(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        form = await request.form()
        zone = str(form.get("zone", "")).strip()
        errors: list[str] = []
        try:
            points = [(float(x), float(y)) for x, y in json.loads(str(form.get("points", "[]")))]
        except (ValueError, TypeError):
            points, errors = [], ["the points are not a list of [x, y] pairs"]
        if not zone:
            errors.append("give the zone a name")
        if not errors:
            try:
                runtime.store.set_zone(name, zone, points)
                await audit(request, "config.zone.set", target=f"{name}/{zone}", detail="points")
                await runtime.reload_now()
            except ConfigError as err:
                errors = issue_lines(err, f"cameras.{name}")
        ctx = _zones_context(runtime, name, errors=errors, saved=None if errors else zone)
        return Template("zones.html", context=ctx, status_code=200 if request.htmx or not errors else 400)

    @post("/cameras/{name:str}/zones/{zone:str}/delete", status_code=200)
    async def delete_zone(self, request: HTMXRequest, name: FromPath[str], zone: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        errors: list[str] = []
        try:
            runtime.store.set_zone(name, zone, None)
            await audit(request, "config.zone.delete", target=f"{name}/{zone}")
            await runtime.reload_now()
        except ConfigError as err:
            errors = issue_lines(err, f"cameras.{name}")
        return Template("zones.html", context=_zones_context(runtime, name, errors=errors))
