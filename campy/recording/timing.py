"""Placing one ffmpeg run's segments on CamPy's clock (docs/recording.md, "Time").

ffmpeg's segment list gives each closed segment as ``start,end`` in *stream* seconds (the
camera's clock, which is not trusted). The first segment of a run ends when its file was
last written (its mtime: ffmpeg flushes every fragment, and the list line comes only after
the file is closed, sometimes much later, at ffmpeg's exit). Later segments are placed by
their *stream position* relative to that anchor, so they neither overlap nor leave false
gaps, and nothing is lost between two segments: chaining ``end - start`` durations instead
dropped the stream time between one segment's last frame and the next one's first keyframe
(~20 ms a segment on the simulator), so the index fell seconds behind the wall clock over a
long run and the next mtime-anchored segment (after a restart, or the open one salvaged at
a stop) then showed the accumulated lag as a hole.

When the stream itself skips (go2rtc reconnected to the camera behind a running ffmpeg,
so the next segment's first keyframe comes seconds after the previous segment's last frame),
the segment after the skip is re-anchored on its mtime: the hole shows where it happened
(``jump_ms`` says how long it was, so the recorder can log its cause) instead of being
chained over and surfacing later, elsewhere, at the next anchor, with no cause.

Each closed file's mtime also keeps the stream clock honest. A segment cannot have ended
after its file was last written, so a placed end later than the mtime means the anchor was
late: the run began with a backlog (ffmpeg, slow to start under load, wrote its first
segment seconds after the packets were captured) and has since caught up. Such an end is
pulled back towards the mtime by at most ``MAX_PULL_MS`` per segment. An end more than
``DEADBAND_MS`` before the mtime (a camera clock running slow) is pushed forward by at most
``MAX_STEP_MS``. Either way one segment's span moves by less than invariant 1's 1 s
tolerance and no gap opens; segments were squashed to nothing before, when a late anchor
ran into "never in the future".
"""

from __future__ import annotations

DEADBAND_MS = 500
MAX_STEP_MS = 250
MAX_PULL_MS = 750
# mtimes are written after the fact; allow for their granularity before calling an end late.
_AHEAD_SLACK_MS = 50
_ABSURD_MS = 60_000
# A stream position this far from where the durations say it should be is a timestamp
# jump (the camera or go2rtc reconnected inside one ffmpeg run): start a new anchor.
JUMP_MS = 1_000


class RunTimeline:
    """Wall-clock spans for the segments of one ffmpeg run, in the order ffmpeg closes them."""

    def __init__(self, *, prev_end_ms: int | None = None) -> None:
        self.prev_end_ms = prev_end_ms
        self._anchor_ms: int | None = None  # wall-clock ms of stream position _anchor_s
        self._anchor_s = 0.0
        self._last_s: float | None = None
        self.jump_ms = 0  # the stream skip found before the segment last placed (0: none)

    @property
    def anchored(self) -> bool:
        return self._anchor_ms is not None

    def place(self, t0: float, t1: float, *, mtime_ms: int | None, now_ms: int) -> tuple[int, int]:
        """(start_ms, end_ms) of the segment that spans stream seconds [t0, t1)."""
        dur = max(1, int(round((t1 - t0) * 1000)))
        written = _written(mtime_ms, now_ms)
        last = self._last_s
        self.jump_ms = int(round((t0 - last) * 1000)) if last is not None and abs(t0 - last) * 1000 > JUMP_MS else 0
        if self._anchor_ms is None or self.prev_end_ms is None or self.jump_ms:
            end = written
            start = end - dur
            if self._anchor_ms is not None and self.prev_end_ms is not None:
                start = max(start, self.prev_end_ms)  # never overlap within a run
                end = max(end, start + 1)
        else:
            start = self.prev_end_ms
            end = self._anchor_ms + int(round((t1 - self._anchor_s) * 1000))
            err = written - end
            step = 0
            if mtime_ms is not None:  # no mtime (the file is gone): nothing to go by
                if err < -_AHEAD_SLACK_MS:
                    step = max(err, -MAX_PULL_MS)
                elif err > DEADBAND_MS:
                    step = min(err, MAX_STEP_MS)
            end = max(end + step, start + 1)
            self._anchor_ms += step
        if end > now_ms + _ABSURD_MS:
            # A stream clock wildly ahead of ours: start again from our clock.
            start = max(self.prev_end_ms or 0, now_ms - dur)
            end = max(now_ms, start + 1)
        self._anchor_ms, self._anchor_s, self._last_s = end, t1, t1
        self.prev_end_ms = end
        return start, end

    def moved(self, end_ms: int) -> None:
        """The store placed the last segment elsewhere (it would have overlapped an earlier
        run's last segment): follow on from where it really ends."""
        self.prev_end_ms = self._anchor_ms = end_ms


def _written(mtime_ms: int | None, now_ms: int) -> int:
    """When the file's last fragment was written; CamPy's clock if the mtime is unusable."""
    if mtime_ms is None or now_ms - mtime_ms >= 60_000:
        return now_ms
    return min(now_ms, mtime_ms)
