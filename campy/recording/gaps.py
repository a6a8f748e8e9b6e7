"""Every gap in a camera's footage, with the cause that explains it.

A gap is the time between the end of one segment and the start of the next of the same
camera, when it is longer than a small tolerance (consecutive segments of one ffmpeg run
touch exactly; see ``timing.py``). Its cause comes from the recording log
(``recording_log``, written by the recording manager), first match wins:

1. ``campy_down``: CamPy started inside the gap (it was stopped, or killed or crashed:
   a start that found no clean stop after the previous start).
2. ``camera_offline``: health saw the camera offline (or go2rtc unreachable) during the gap.
3. ``stream_gap``: the recorder kept running but its input skipped (go2rtc reconnected to
   the camera for a moment, too briefly for health to call it offline).
4. ``recorder_restart`` / ``recording_stopped``: the recorder's ffmpeg exited (the reason is
   ffmpeg's own message) or the recorder was stopped (a config change, a storage error).
5. ``retention``: retention deleted the footage in between (motion/events modes).
6. ``footage_lost``: startup recovery dropped rows whose files were gone (deleted outside CamPy).
7. ``unexplained``: none of these. A hole with no cause is a bug; ``campy check`` counts it
   as a violation.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from campy.recording.model import LogRow

GAP_TOLERANCE_MS = 500
# A log row may be written a little before the gap's first millisecond (the exit is seen as
# ffmpeg's last segment closes) or after its last (a start logged just before the first
# segment of the new run is placed by its file's mtime).
_SLACK_MS = 2_000

CAUSES = {
    "campy_down": "CamPy down",
    "camera_offline": "camera offline",
    "stream_gap": "stream interrupted",
    "recorder_restart": "recorder restart",
    "recording_stopped": "recording stopped",
    "retention": "deleted by retention",
    "footage_lost": "files lost",
    "unexplained": "unexplained",
}
_DOWN = "camera_offline"


class Gap(msgspec.Struct, frozen=True):
    camera: str
    start_ms: int
    end_ms: int
    cause: str
    detail: str = ""

    @property
    def label(self) -> str:
        return CAUSES.get(self.cause, self.cause)

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def log_window(gaps: Iterable[tuple[str, int, int]]) -> tuple[int, int]:
    """The span of log rows that can explain ``gaps`` (with the slack ``explain`` allows)."""
    spans = list(gaps)
    return min(a for _, a, _ in spans) - _SLACK_MS, max(b for _, _, b in spans) + _SLACK_MS


def explain(gaps: Iterable[tuple[str, int, int]], rows: Iterable[LogRow]) -> list[Gap]:
    """The cause of each ``(camera, start_ms, end_ms)`` gap, from the log ``rows``."""
    log = sorted(rows, key=lambda r: (r.at_ms, r.id))
    down = _down_intervals(log)
    out = []
    for camera, a, b in gaps:
        cause, detail = _cause(camera, a, b, log, down.get(camera, []))
        out.append(Gap(camera=camera, start_ms=a, end_ms=b, cause=cause, detail=detail))
    return out


def _down_intervals(log: list[LogRow]) -> dict[str, list[tuple[int, int | None, str]]]:
    """Per camera: (from, to or None while still down, why) from the state-change rows."""
    open_: dict[str, tuple[int, str]] = {}
    spans: dict[str, list[tuple[int, int | None, str]]] = {}
    for r in log:
        if r.kind == "camera_offline" and r.camera and r.camera not in open_:
            open_[r.camera] = (r.at_ms, r.detail)
        elif r.kind == "camera_online" and r.camera in open_:
            since, why = open_.pop(r.camera)  # type: ignore[arg-type]
            spans.setdefault(r.camera, []).append((since, r.at_ms, why))  # type: ignore[arg-type]
        elif r.kind in ("campy_stop", "campy_start"):
            # A restarted CamPy learns each camera's state afresh.
            for cam, (since, why) in open_.items():
                spans.setdefault(cam, []).append((since, r.at_ms, why))
            open_.clear()
    for cam, (since, why) in open_.items():
        spans.setdefault(cam, []).append((since, None, why))
    return spans


def _cause(camera: str, a: int, b: int, log: list[LogRow],
           down: list[tuple[int, int | None, str]]) -> tuple[str, str]:
    near = sorted((r for r in log if a - _SLACK_MS <= r.at_ms <= b + _SLACK_MS
                   and (r.camera is None or r.camera == camera)),
                  key=lambda r: max(0, a - r.at_ms, r.at_ms - b))  # inside the gap first
    for r in near:
        if r.kind == "campy_start":
            return "campy_down", r.detail or "CamPy restarted"
    for r in near:
        if r.kind == "campy_stop":
            return "campy_down", "CamPy was stopped"
    for since, until, why in down:
        if since <= b + _SLACK_MS and (until is None or until >= a - _SLACK_MS):
            return "camera_offline", why
    for r in near:
        if r.kind == "stream_gap" and r.camera == camera:
            return "stream_gap", r.detail
    for r in near:
        if r.kind == "recorder_exit" and r.camera == camera:
            return "recorder_restart", r.detail
    for r in near:
        if r.kind == "recorder_stop" and r.camera == camera:
            return "recording_stopped", r.detail
    for r in log:
        if r.kind == "retention_delete" and r.camera == camera and r.at_ms < b and (r.end_ms or r.at_ms) > a:
            return "retention", r.detail
    for r in log:
        if r.kind == "footage_lost" and r.camera == camera and r.at_ms < b and (r.end_ms or r.at_ms) > a:
            return "footage_lost", r.detail
    return "unexplained", ""
