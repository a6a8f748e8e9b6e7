"""Signed links from alert payloads: an event's snapshot and clip, opened without a login.

Public paths (see ``PUBLIC_PATHS`` in ``campy.web.auth``): the signature is the credential.
It covers the path (so the event id) and the expiry, nothing else; a bad or expired link
gets 403 with the reason. The clip is the event's footage, [start - pre-roll, end +
post-roll], exported from the recorded segments on the first request (stream copy) and
reused while the same range is asked for again.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, Response, route
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery

from campy.alerts.links import clip_path, snapshot_path
from campy.errors import Conflict, NotFound
from campy.recording.export import MAX_EXPORT_MS, ExportJob
from campy.web.ranges import file_response

_MAX_CLIPS = 200  # clip jobs remembered (the exporter deletes files after a day)
_OPEN_EVENT_REUSE_S = 30.0  # an event still going on: its clip is remade at most this often


def _checked(request: Request[Any, Any, Any], path: str, exp: str | None, sig: str | None) -> Any:
    runtime = request.app.state.runtime
    why = runtime.links.refusal(path, exp, sig)
    if why is not None:
        raise PermissionDeniedException(why)
    return runtime


def _event(runtime: Any, event_id: int) -> dict[str, Any]:
    row = runtime.detection.events.get(event_id)
    if row is None:
        raise NotFound("that event is gone (events are kept detection.snapshot_days days)")
    return row


def _clip_range(runtime: Any, row: dict[str, Any]) -> tuple[int, int]:
    cam = runtime.config.cameras.get(row["camera"])
    pre = cam.record.pre_roll_seconds if cam else 5
    post = cam.record.post_roll_seconds if cam else 5
    end = row["end_ms"] or runtime.clock.now_ms()
    start = int(row["start_ms"] - pre * 1000)
    return start, min(int(end + post * 1000), start + MAX_EXPORT_MS)


class _Clips:
    """The clip job per event, so a link opened again does not export again."""

    def __init__(self) -> None:
        self.jobs: dict[int, tuple[ExportJob, tuple[int, int], float]] = {}

    def reusable(self, event_id: int, want: tuple[int, int], *, ended: bool) -> ExportJob | None:
        entry = self.jobs.get(event_id)
        if entry is None or entry[0].state == "failed":
            return None
        job, rng, made = entry
        if rng == want or (not ended and time.monotonic() - made < _OPEN_EVENT_REUSE_S):
            return job
        return None


def _clips(state: State) -> _Clips:
    clips = state.get("signed_clips")
    if clips is None:
        clips = state["signed_clips"] = _Clips()
    return clips


class SignedLinks(Controller):
    path = "/signed"

    @route("/events/{event_id:int}/snapshot.jpg", http_method=["GET", "HEAD"])
    async def snapshot(self, request: Request[Any, Any, Any], event_id: FromPath[int],
                       exp: FromQuery[str | None] = None, sig: FromQuery[str | None] = None) -> Response[Any]:
        runtime = _checked(request, snapshot_path(event_id), exp, sig)
        row = _event(runtime, event_id)
        if not row["snapshot"]:
            raise NotFound("that event has no snapshot")
        return file_response(request, runtime.detection.snapshot_dir(row["camera"]) / row["snapshot"],
                             media_type="image/jpeg", cache_seconds=60)

    @route("/events/{event_id:int}/clip.mp4", http_method=["GET", "HEAD"])
    async def clip(self, request: Request[Any, Any, Any], event_id: FromPath[int],
                   exp: FromQuery[str | None] = None, sig: FromQuery[str | None] = None) -> Response[Any]:
        runtime = _checked(request, clip_path(event_id), exp, sig)
        row = _event(runtime, event_id)
        clips = _clips(request.app.state)
        want = _clip_range(runtime, row)
        job = clips.reusable(event_id, want, ended=row["end_ms"] is not None)
        if job is None:
            segs = await runtime.recording.segments_async(row["camera"], *want)
            if not segs:
                raise NotFound("nothing of this event was recorded (yet)")
            job = runtime.exporter.start(camera=row["camera"], start_ms=want[0], end_ms=want[1],
                                         owner=f"signed:event:{event_id}", storage=runtime.recording.storage,
                                         segments=segs)
            clips.jobs[event_id] = (job, want, time.monotonic())
            while len(clips.jobs) > _MAX_CLIPS:
                clips.jobs.pop(next(iter(clips.jobs)))
        await runtime.exporter.wait(job)
        path = runtime.exporter.path(job)
        if job.state != "done" or not path.exists():
            clips.jobs.pop(event_id, None)
            raise Conflict(f"the clip could not be made ({job.error or 'expired'}); try the link again")
        return file_response(request, path, media_type="video/mp4", filename=f"event-{event_id}.mp4")
