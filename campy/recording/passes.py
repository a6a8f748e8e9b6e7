"""What a retention pass reports: the result, the protected footage it gave up, and the log
rows for the gaps it leaves (used by ``campy.recording.manager``)."""

from __future__ import annotations

import msgspec

from campy.localtime import local_time
from campy.recording.model import RetentionPlan, Segment


class GivenUp(msgspec.Struct):
    """Protected (marked) footage of one camera that the size cap or the floor took (rule 3b)."""

    at_ms: int
    camera: str
    segments: int
    size_bytes: int
    start_ms: int
    end_ms: int
    limit: str  # "size" or "free"
    timezone: str = "UTC"  # server.timezone: the zone of the times in ``message``

    @property
    def message(self) -> str:
        why = "to keep recordings under the size cap" if self.limit == "size" else \
            "to keep free space above the floor"
        return (f"{self.segments} protected segments ({self.size_bytes / 1e9:.2f} GB, {self.camera}, "
                f"{_iso(self.start_ms, self.timezone)} – {_iso(self.end_ms, self.timezone)}) were deleted {why}")


class RetentionResult(msgspec.Struct):
    at_ms: int
    reason: str
    deleted: int
    freed_bytes: int
    shortfall_bytes: int
    took_ms: float
    given_up: list[GivenUp] = []


def _iso(ms: int, timezone: str) -> str:
    """A time as people there read it, with the zone's abbreviation (CET, EDT, UTC)."""
    return local_time(timezone).format(ms, "%Y-%m-%d %H:%M:%S %Z")


def _interior_deletions(every: list[Segment], doomed: set[int], *, reason: str,
                        now_ms: int) -> list[tuple[int, int | None, str | None, str, str]]:
    """Log rows for deleted runs of segments that leave a gap (a kept segment before them);
    deleting the oldest footage leaves none, so it is not logged."""
    rows: list[tuple[int, int | None, str | None, str, str]] = []
    by_cam: dict[str, list[Segment]] = {}
    for s in every:
        if s.stream == "main":  # gaps are the main stream's; the sub recording follows it
            by_cam.setdefault(s.camera, []).append(s)
    for cam, segs in by_cam.items():
        kept_before = False
        run: list[Segment] = []
        for s in segs:
            if s.id in doomed:
                if kept_before:
                    run.append(s)
                continue
            if run:
                rows.append((run[0].start_ms, run[-1].end_ms, cam, "retention_delete", f"retention ({reason})"))
                run = []
            kept_before = True
        if run:
            rows.append((run[0].start_ms, run[-1].end_ms, cam, "retention_delete", f"retention ({reason})"))
    return rows


def _given_up(plan: RetentionPlan, deleted: list[Segment], *, now_ms: int,
              timezone: str = "UTC") -> list[GivenUp]:
    """Protected segments the plan deletes (rule 3b), summed per camera and limit."""
    forced = {d.segment_id: d.reason for d in plan.deletions if d.protected}
    groups: dict[tuple[str, str], list[Segment]] = {}
    for seg in deleted:
        if seg.id in forced:
            groups.setdefault((seg.camera, forced[seg.id]), []).append(seg)
    return [GivenUp(at_ms=now_ms, camera=cam, segments=len(segs), size_bytes=sum(s.size_bytes for s in segs),
                    start_ms=min(s.start_ms for s in segs), end_ms=max(s.end_ms for s in segs), limit=limit,
                    timezone=timezone)
            for (cam, limit), segs in sorted(groups.items())]
