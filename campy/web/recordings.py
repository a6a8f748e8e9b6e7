"""Recordings over HTTP: listing, segment files, continuous playback, exports, marks, storage.

JSON under ``/api`` (``RecordingsApi``); pages and HTMX partials beside it
(``RecordingsPages``). Every route needs a session; every camera-scoped route checks the
camera exists and that the user may view it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, route
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Stream, Template

from campy.localtime import HOUR_MS, LocalTime, of_runtime
from campy.errors import BadRequest, CampyError, Conflict, NotFound, QuotaExceeded
from campy.recording.export import MAX_EXPORT_MS, ExportJob, contiguous, play_stream
from campy.recording.model import DAY_MS, Segment
from campy.recording.playfile import FIRST_WINDOW_FILES, WINDOW_FILES, window
from campy.recording.probe import keyframes
from campy.recording.storage_chart import StorageRow, days_left, human_bytes, storage_chart_svg
from campy.recording.timeline import day_timeline_svg, format_duration, merge_spans
from campy.web.auditing import audit
from campy.web.auth import can_view_camera, current_user, require_admin, require_operator, require_user
from campy.web.ranges import file_response

MAX_LIST_MS = 31 * DAY_MS
MAX_LIST_ROWS = 20_000
# 2000-01-01 .. 2100-01-01: anything outside is a typo, not a time CamPy recorded.
_MIN_MS, _MAX_MS = 946_684_800_000, 4_102_444_800_000


def parse_time(value: str | None, *, name: str, tz: tzinfo = UTC) -> int | None:
    """Epoch milliseconds from ``1733112000000`` or ISO 8601 (``2026-12-02T04:00:00Z``); an ISO
    time without an offset is in ``tz`` (UTC for the APIs, the local zone for page forms)."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        ms = int(text)
    except ValueError:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"{name} must be epoch milliseconds or an ISO 8601 time, not {value!r}",
                             fields={name: "epoch ms or ISO 8601"}) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=tz)
        ms = int(dt.timestamp() * 1000)
    if not _MIN_MS <= ms <= _MAX_MS:
        raise BadRequest(f"{name} is out of range (years 2000-2100)", fields={name: "out of range"})
    return ms


def time_range(start: str | None, end: str | None, *, now_ms: int, default_ms: int = DAY_MS,
               max_ms: int = MAX_LIST_MS) -> tuple[int, int]:
    end_ms = parse_time(end, name="end")
    start_ms = parse_time(start, name="start")
    if end_ms is None:
        end_ms = now_ms if start_ms is None else min(start_ms + default_ms, max(now_ms, start_ms + 1))
    if start_ms is None:
        start_ms = end_ms - default_ms
    if end_ms <= start_ms:
        raise BadRequest("end must be after start", fields={"end": "after start"})
    if end_ms - start_ms > max_ms:
        limit = f"{max_ms // DAY_MS} days" if max_ms > DAY_MS else f"{max_ms // 3_600_000} hours"
        raise BadRequest(f"the range may span at most {limit}", fields={"end": "range too long"})
    return start_ms, end_ms


def _camera(request: Request[Any, Any, Any], name: str) -> Any:
    runtime = request.app.state.runtime
    if not can_view_camera(current_user(request), name):
        raise NotFound(f"no camera {name!r}")  # ungranted looks exactly like missing
    if name not in runtime.config.cameras and not runtime.recording.index.last_end_ms(name):
        raise NotFound(f"no camera {name!r}")
    return runtime


def segment_view(camera: str, seg: Segment) -> dict[str, Any]:
    return {"id": seg.id, "camera": camera, "start_ms": seg.start_ms, "end_ms": seg.end_ms,
            "duration_ms": seg.end_ms - seg.start_ms, "size_bytes": seg.size_bytes, "codec": seg.codec,
            "audio": seg.audio, "url": f"/api/cameras/{camera}/segments/{seg.id}/video.mp4"}


class ExportIn(msgspec.Struct, forbid_unknown_fields=True):
    start_ms: int
    end_ms: int


class MarkIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: str = "event"
    start_ms: int | None = None
    end_ms: int | None = None
    seconds: float | None = None
    label: str | None = None


async def _start_export(request: Request[Any, Any, Any], name: str, start_ms: int, end_ms: int) -> ExportJob:
    runtime = _camera(request, name)
    if end_ms <= start_ms:
        raise BadRequest("end must be after start", fields={"end_ms": "after start_ms"})
    if end_ms - start_ms > MAX_EXPORT_MS:
        raise BadRequest("an export may span at most 24 hours", fields={"end_ms": "at most 24 h after start"})
    segs = await runtime.recording.segments_async(name, start_ms, end_ms)  # up to a day: off the loop
    if not segs:
        raise NotFound("nothing was recorded in that range")
    job = runtime.exporter.start(camera=name, start_ms=start_ms, end_ms=end_ms,
                                 owner=current_user(request).username, storage=runtime.recording.storage,
                                 segments=segs, floor_bytes=runtime.recording.floor_bytes(),
                                 timezone=of_runtime(runtime).name)
    await audit(request, "export.create", target=name,
                detail=f"job={job.id} from_ms={start_ms} to_ms={end_ms} segments={len(segs)}")
    return job


def _stream(value: str | None) -> str:
    if value in (None, "", "main"):
        return "main"
    if value == "sub":
        return "sub"
    raise BadRequest("stream must be 'main' or 'sub'", fields={"stream": "main or sub"})


async def _playable(request: Request[Any, Any, Any], name: str, start: str | None,
                    stream: str = "main") -> tuple[Any, int, list[Segment]]:
    """(runtime, start in ms, the contiguous run of segments of ``stream`` from there) or a 4xx."""
    runtime = _camera(request, name)
    start_ms = parse_time(start, name="start")
    if start_ms is None:
        raise BadRequest("start is required", fields={"start": "required"})
    segs = contiguous(await runtime.recording.segments_async(name, start_ms, start_ms + 3_600_000, stream=stream),
                      start_ms)
    if not segs:
        what = "" if stream == "main" else " on the sub stream (is record.sub on?)"
        raise NotFound(f"nothing was recorded{what} at or after that time (within an hour)")
    return runtime, start_ms, segs


def _job(request: Request[Any, Any, Any], job_id: str) -> ExportJob:
    job = request.app.state.runtime.exporter.jobs.get(job_id)
    user = current_user(request)
    # An export is its maker's (or an admin's) and stays within the maker's camera grant.
    if job is None or (job.owner != user.username and not user.is_admin) or not can_view_camera(user, job.camera):
        raise NotFound("no such export")
    return job


class RecordingsApi(Controller):
    path = "/api"
    guards = [require_user]

    @get("/cameras/{name:str}/recordings")
    async def recordings(self, request: Request[Any, Any, Any], name: FromPath[str],
                         start: FromQuery[str | None] = None, end: FromQuery[str | None] = None,
                         stream: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        """Segments of a camera's main (or ``stream=sub``) recording overlapping [start, end)
        (default: the last 24 h), oldest first."""
        runtime = _camera(request, name)
        start_ms, end_ms = time_range(start, end, now_ms=runtime.clock.now_ms())
        segs = await runtime.recording.segments_async(name, start_ms, end_ms, limit=MAX_LIST_ROWS,
                                                      stream=_stream(stream))
        return [segment_view(name, s) for s in segs]

    @get("/cameras/{name:str}/timeline")
    async def timeline(self, request: Request[Any, Any, Any], name: FromPath[str],
                       start: FromQuery[str | None] = None, end: FromQuery[str | None] = None) -> dict[str, Any]:
        """Recorded spans (gaps merged away up to 1.5 s) and marks, for drawing a timeline."""
        runtime = _camera(request, name)
        start_ms, end_ms = time_range(start, end, now_ms=runtime.clock.now_ms())
        segs = await runtime.recording.segments_async(name, start_ms, end_ms)
        spans = merge_spans((s.start_ms, s.end_ms) for s in segs)
        return {"camera": name, "start_ms": start_ms, "end_ms": end_ms,
                "spans": [{"start_ms": a, "end_ms": b} for a, b in spans],
                "marks": runtime.recording.index.mark_rows(name, start_ms, end_ms),
                "play_url": f"/api/cameras/{name}/play.mp4?start={{start_ms}}"}

    @route("/cameras/{name:str}/segments/{seg_id:int}/video.mp4", http_method=["GET", "HEAD"])
    async def segment_file(self, request: Request[Any, Any, Any], name: FromPath[str],
                           seg_id: FromPath[int]) -> Response[Any]:
        runtime = _camera(request, name)
        seg = runtime.recording.index.segment(seg_id)
        if seg is None or seg.camera != name:
            raise NotFound("no such segment")
        return file_response(request, runtime.recording.storage / seg.path, media_type="video/mp4",
                             cache_seconds=3600)

    @get("/cameras/{name:str}/play.mp4")
    async def play(self, request: Request[Any, Any, Any], name: FromPath[str], start: FromQuery[str | None] = None,
                   end: FromQuery[str | None] = None, stream: FromQuery[str | None] = None) -> Response[Any]:
        """Footage of the main (or ``stream=sub``) recording from ``start``, stream copy.

        Without ``end``: one continuous fragmented MP4 up to the next gap (at most an hour),
        streamed as it is made. With ``end`` (as ``/playback`` gives it): a finite MP4 of
        [start, end) with its index in front, served with Range, so a player can seek in it
        (``campy.recording.playfile``). Stream copy begins at a keyframe: pass a ``start``
        from ``/playback`` to begin exactly there."""
        which = _stream(stream)
        end_ms = parse_time(end, name="end")
        runtime, start_ms, segs = await _playable(request, name, start, which)
        begin = max(start_ms, segs[0].start_ms)
        if end_ms is None:
            return Stream(play_stream(runtime.recording.storage, segs, start_ms=begin), media_type="video/mp4",
                          headers={"X-Campy-Start-Ms": str(begin), "X-Campy-End-Ms": str(segs[-1].end_ms),
                                   "X-Campy-Codec": segs[0].codec, "Cache-Control": "no-store"})
        if end_ms <= begin:
            raise BadRequest("end must be after start", fields={"end": "after start"})
        # At most one (full) window (``campy.recording.playfile``), whatever ``end`` says.
        segs = window([s for s in segs if s.start_ms < end_ms], begin)
        end_ms = min(end_ms, segs[-1].end_ms)
        try:
            path = await runtime.play_files.get(runtime.recording.storage, camera=name, stream=which, segments=segs,
                                                start_ms=begin, end_ms=end_ms)
        except RuntimeError as err:
            raise Conflict(f"could not read that footage: {err}") from None
        resp = file_response(request, path, media_type="video/mp4")
        resp.headers.update({"X-Campy-Start-Ms": str(begin), "X-Campy-End-Ms": str(end_ms),
                             "X-Campy-Codec": segs[0].codec})
        return resp

    @get("/cameras/{name:str}/playback")
    async def playback(self, request: Request[Any, Any, Any], name: FromPath[str],
                       start: FromQuery[str | None] = None, stream: FromQuery[str | None] = None,
                       more: FromQuery[bool] = False) -> dict[str, Any]:
        """Where playback of ``start`` really begins (the keyframe at or before it), the end of
        its seekable window and its URL (a finite MP4, ``play.mp4?start=..&end=..``); ``stream=sub``
        plays the camera's sub recording. ``run_end_ms`` is where the footage reaches a gap.
        The window is short (a few segments, so it starts quickly) unless ``more=true`` asks
        for a full one (the page does for the windows that follow).

        The file's time 0 is exactly ``start_ms``, so a player shows footage time as
        ``start_ms + currentTime``.
        """
        which = _stream(stream)
        runtime, want, segs = await _playable(request, name, start, which)
        seg = segs[0]
        begin = seg.start_ms
        if want > seg.start_ms:
            offset_s = (want - seg.start_ms) / 1000
            kfs = [k for k in await keyframes(runtime.recording.storage / seg.path) if k <= offset_s]
            if kfs:
                # Rounded up to the ms: the concat demuxer starts at the keyframe at or before it.
                begin = seg.start_ms + math.ceil(kfs[-1] * 1000)
        end_ms = window(segs, begin, files=WINDOW_FILES if more else FIRST_WINDOW_FILES)[-1].end_ms
        tail = "" if which == "main" else "&stream=sub"
        return {"camera": name, "stream": which, "requested_ms": want, "start_ms": begin, "end_ms": end_ms,
                "run_end_ms": segs[-1].end_ms, "codec": seg.codec,
                "url": f"/api/cameras/{name}/play.mp4?start={begin}&end={end_ms}{tail}"}

    @post("/cameras/{name:str}/exports", guards=[require_operator], status_code=202)
    async def create_export(self, request: Request[Any, Any, Any], name: FromPath[str],
                            data: JSONBody[ExportIn]) -> dict[str, Any]:
        return (await _start_export(request, name, data.start_ms, data.end_ms)).view()

    @get("/cameras/{name:str}/export.mp4", guards=[require_operator])
    async def export_now(self, request: Request[Any, Any, Any], name: FromPath[str], start: FromQuery[str | None] = None,
                         end: FromQuery[str | None] = None) -> Response[Any]:
        """Export [start, end) and answer with the MP4 itself (for scripts; the UI uses jobs)."""
        if not start or not end:
            raise BadRequest("start and end are required", fields={"start": "required", "end": "required"})
        start_ms, end_ms = time_range(start, end, now_ms=request.app.state.runtime.clock.now_ms(),
                                      max_ms=MAX_EXPORT_MS)
        job = await _start_export(request, name, start_ms, end_ms)
        await request.app.state.runtime.exporter.wait(job)
        if job.state != "done":
            raise Conflict(f"export failed: {job.error}")
        return file_response(request, request.app.state.runtime.exporter.path(job), media_type="video/mp4",
                             filename=job.filename)

    @get("/exports/{job_id:str}", guards=[require_operator], sync_to_thread=False)
    def export_status(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> dict[str, Any]:
        return _job(request, job_id).view()

    @route("/exports/{job_id:str}/download", http_method=["GET", "HEAD"], guards=[require_operator])
    async def export_download(self, request: Request[Any, Any, Any], job_id: FromPath[str]) -> Response[Any]:
        job = _job(request, job_id)
        if job.state != "done":
            raise Conflict(f"the export is {job.state}")
        return file_response(request, request.app.state.runtime.exporter.path(job), media_type="video/mp4",
                             filename=job.filename)

    @post("/cameras/{name:str}/marks", guards=[require_operator], status_code=201)
    async def add_mark(self, request: Request[Any, Any, Any], name: FromPath[str],
                       data: JSONBody[MarkIn]) -> dict[str, Any]:
        """Mark a window to keep ("record now" or an external trigger's event)."""
        runtime = _camera(request, name)
        return runtime.recording.add_mark(name, kind=data.kind, start_ms=data.start_ms, end_ms=data.end_ms,
                                          seconds=data.seconds, label=data.label, source="api",
                                          user=current_user(request).username)

    @get("/storage")
    async def storage(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        recording = request.app.state.runtime.recording
        status, gaps = _storage_for(current_user(request), await recording.storage_status_async(),
                                    await recording.recent_gaps())
        status["gaps"] = [msgspec.structs.asdict(g) | {"cause_label": g.label} for g in gaps]
        return status

    @post("/recording/retention", guards=[require_admin], status_code=200)
    async def run_retention(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        result = await request.app.state.runtime.recording.retention_pass("manual")
        out = msgspec.structs.asdict(result)
        await audit(request, "retention.run", detail=f"deleted={result.deleted},freed_bytes={result.freed_bytes}")
        return out


def _inline_error(request: HTMXRequest, template: str, err: CampyError) -> Template:
    # htmx 2 swaps only 2xx responses: the form's partial carries the message with 200 to
    # htmx, and the real status (400, 404, 429) to anything else.
    return Template(template, context={"error": err.message}, status_code=200 if request.htmx else err.status)


# Figures about the whole disk (its path, size, free space, limits, warnings, retention
# passes) describe every camera's footage: admins only.
_DISK_WIDE = ("path", "error", "total_bytes", "free_bytes", "max_bytes", "min_free_bytes", "warnings",
              "last_retention")


def _storage_for(user: Any, status: dict[str, Any], gaps: list[Any]) -> tuple[dict[str, Any], list[Any]]:
    """Storage as ``user`` may see it: a non-admin gets only granted cameras' rows and gaps,
    ``used_bytes`` summed over those rows, and no disk-wide figures."""
    if user.is_admin:
        return status, gaps
    rows = [c for c in status["cameras"] if user.can_view(c["camera"])]
    out = {k: v for k, v in status.items() if k not in _DISK_WIDE}
    out.update(cameras=rows, used_bytes=sum(c["size_bytes"] for c in rows))
    return out, [g for g in gaps if user.can_view(g.camera)]


def _day(lt: LocalTime, day: str | None, now_ms: int) -> tuple[str, int, int]:
    if not day:
        day = lt.day_of(now_ms)
    try:
        return (day, *lt.day_bounds(day))
    except ValueError:
        raise BadRequest(f"day must be YYYY-MM-DD, not {day!r}", fields={"day": "YYYY-MM-DD"}) from None


def hour_slots(lt: LocalTime, day: str) -> list[dict[str, Any]]:
    """The local day's hour slots (23, 24 or 25): start ms and a label; the hours either
    side of a clock change carry the zone's abbreviation (02 CEST, 02 CET)."""
    starts = lt.hour_starts(day)
    names = [lt.abbrev(t) for t in starts]

    def named(i: int) -> bool:  # the hours either side of a change
        return (i > 0 and names[i - 1] != names[i]) or (i + 1 < len(names) and names[i + 1] != names[i])
    return [{"index": i, "start_ms": t, "label": lt.format(t, "%H %Z" if named(i) else "%H")}
            for i, t in enumerate(starts)]


def _span_label(lt: LocalTime, a: int, b: int) -> str:
    """``03:00–04:00 CET``; across a clock change both ends are named (02:00 CEST–02:00 CET)."""
    first = "%H:%M %Z" if lt.abbrev(a) != lt.abbrev(b) else "%H:%M"
    return f"{lt.format(a, first)}–{lt.format(b, '%H:%M %Z')}"


async def timeline_context(runtime: Any, name: str, day: str | None, hour: int | None = None) -> dict[str, Any]:
    """The local day strip (overview) and one hour of it (detail), both clickable to play."""
    now = runtime.clock.now_ms()
    lt = of_runtime(runtime)
    day, start, end = _day(lt, day, now)
    segs = await runtime.recording.segments_async(name, start, end)
    spans = merge_spans((s.start_ms, s.end_ms) for s in segs)
    marks = runtime.recording.index.marks_between(name, start, end)
    svg = day_timeline_svg(day_start_ms=start, spans=spans, marks=marks, now_ms=now, span_ms=end - start, tz=lt.zone)
    slots = hour_slots(lt, day)
    if hour is None:
        # The hour of the newest footage of the day (else the current hour, else midnight).
        latest = spans[-1][1] - 1 if spans else min(max(now, start), end - 1)
        hour = (latest - start) // HOUR_MS
    if not 0 <= hour < len(slots):
        raise BadRequest(f"hour must be 0-{len(slots) - 1} on {day}", fields={"hour": f"0-{len(slots) - 1}"})
    h0 = slots[hour]["start_ms"]
    h1 = min(h0 + HOUR_MS, end)
    hour_spans = [(max(a, h0), min(b, h1)) for a, b in spans if a < h1 and b > h0]
    hour_svg = day_timeline_svg(day_start_ms=h0, spans=hour_spans, marks=[m for m in marks if m.start_ms < h1],
                                now_ms=now, span_ms=h1 - h0, tz=lt.zone)
    recorded = sum(min(b, end) - max(a, start) for a, b in spans)
    codecs = sorted({s.codec for s in segs})
    next_day = lt.shift_day(day, 1)
    return {"day": day, "day_start_ms": start, "day_end_ms": end, "svg": svg, "hour": hour, "hour_svg": hour_svg,
            "slots": slots, "hour_label": _span_label(lt, h0, h1),
            "timezone": lt.name, "zone_names": lt.abbrevs(start), "spans": spans, "segments": len(segs),
            "recorded": format_duration(recorded), "codecs": codecs,
            "events": sum(1 for m in marks if m.kind == "event"),
            "prev_day": lt.shift_day(day, -1), "next_day": next_day if end <= now else None}


class RecordingsPages(Controller):
    guards = [require_user]

    @get("/cameras/{name:str}/recordings")
    async def recordings_page(self, request: HTMXRequest, name: FromPath[str], day: FromQuery[str | None] = None,
                              hour: FromQuery[int | None] = None, at: FromQuery[str | None] = None) -> Template:
        """A camera's recordings; ``at`` (ms) opens its day and hour and plays from there."""
        runtime = _camera(request, name)
        at_ms = parse_time(at, name="at")
        if at_ms is not None:
            lt = of_runtime(runtime)
            day = lt.day_of(at_ms)
            hour = (at_ms - lt.day_start_ms(day)) // HOUR_MS
        ctx = await timeline_context(runtime, name, day, hour)
        ctx["at_ms"] = at_ms
        cam = runtime.config.cameras.get(name)
        rec = runtime.recording.recorders.get(name)
        ctx.update({"name": name, "title": (cam.title if cam and cam.title else name),
                    "recorder": rec.status() if rec else None,
                    "mode": cam.record.mode if cam else None})
        template = "_timeline.html" if request.htmx and request.htmx.target == "timeline" else "recordings.html"
        return Template(template, context=ctx)

    @post("/cameras/{name:str}/exports", guards=[require_operator], status_code=200)
    async def export_form(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        form = await request.form()
        try:
            tz = of_runtime(request.app.state.runtime).zone  # the inputs hold local times
            start_ms = parse_time(str(form.get("start_ms", "")), name="start_ms", tz=tz)
            end_ms = parse_time(str(form.get("end_ms", "")), name="end_ms", tz=tz)
            if start_ms is None or end_ms is None:
                raise BadRequest("choose a start and an end", fields={"start_ms": "required"})
            job = await _start_export(request, name, start_ms, end_ms)
        except (BadRequest, NotFound, QuotaExceeded) as err:
            return _inline_error(request, "_export.html", err)
        return Template("_export.html", context={"job": job.view()})

    @post("/cameras/{name:str}/marks", guards=[require_operator], status_code=200)
    async def mark_form(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        """The page's "Mark event" button: an event window from now, kept for event_days."""
        runtime = _camera(request, name)
        form = await request.form()
        try:
            try:
                seconds = float(str(form.get("seconds", "30")))
            except ValueError:
                raise BadRequest("seconds must be a number", fields={"seconds": "a number"}) from None
            mark = runtime.recording.add_mark(name, seconds=seconds, label=str(form.get("label", "")) or "manual",
                                              source="ui", user=current_user(request).username)
        except (BadRequest, QuotaExceeded) as err:
            return _inline_error(request, "_mark.html", err)
        return Template("_mark.html", context={
            "mark": mark, "seconds": int(seconds), "days": runtime.config.cameras[name].record.event_days,
            "at": of_runtime(runtime).format(mark["start_ms"], "%H:%M:%S %Z")})

    @get("/exports/{job_id:str}", guards=[require_operator], sync_to_thread=False)
    def export_partial(self, request: HTMXRequest, job_id: FromPath[str]) -> Template:
        return Template("_export.html", context={"job": _job(request, job_id).view()})

    @get("/storage")
    async def storage_page(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        status, gaps = _storage_for(current_user(request), await runtime.recording.storage_status_async(),
                                    await runtime.recording.recent_gaps())
        status = {**dict.fromkeys(_DISK_WIDE), "warnings": [], **status}  # a viewer's page: none of them
        rows = [StorageRow(camera=c["camera"], size_bytes=c["size_bytes"], oldest_ms=c["oldest_ms"],
                           bytes_per_day=(c["bytes_per_second"] * 86400) if c["bytes_per_second"] else None)
                for c in status["cameras"]]
        rate = sum(r.bytes_per_day or 0 for r in rows)
        left = days_left(free_bytes=status["free_bytes"], cap_bytes=status["max_bytes"], used_bytes=status["used_bytes"],
                         bytes_per_day=rate) if rate else None
        lt = of_runtime(runtime)
        chart = storage_chart_svg(rows, free_bytes=status["free_bytes"], cap_bytes=status["max_bytes"], tz=lt.zone)
        return Template("storage.html", context={
            "status": status, "chart": chart, "gaps": gaps, "rate_per_day": human_bytes(int(rate)) if rate else None,
            "days_left": left, "human_bytes": human_bytes, "is_admin": current_user(request).is_admin,
            "fmt_ms": lambda ms: lt.format(ms, "%Y-%m-%d %H:%M %Z"),
            "fmt_s": lambda ms: lt.format(ms, "%m-%d %H:%M:%S %Z"),
        })
