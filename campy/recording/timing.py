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

Each closed file's mtime also keeps the stream clock honest: when the placed end and the
mtime drift more than ``DEADBAND_MS`` apart (a camera clock running fast or slow), the
anchor is slewed by at most ``MAX_STEP_MS`` per segment, which stretches or shrinks that one
segment's span by less than invariant 1's tolerance and never opens a gap.
"""

from __future__ import annotations

DEADBAND_MS = 500
MAX_STEP_MS = 250
FUTURE_MS = 2_000
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

    @property
    def anchored(self) -> bool:
        return self._anchor_ms is not None

    def place(self, t0: float, t1: float, *, mtime_ms: int | None, now_ms: int) -> tuple[int, int]:
        """(start_ms, end_ms) of the segment that spans stream seconds [t0, t1)."""
        dur = max(1, int(round((t1 - t0) * 1000)))
        written = _written(mtime_ms, now_ms)
        if self._anchor_ms is None or self.prev_end_ms is None or self._jumped(t0, dur):
            end = written
            start = end - dur
            if self._anchor_ms is not None and self.prev_end_ms is not None:
                start = max(start, self.prev_end_ms)  # never overlap within a run
                end = max(end, start + 1)
        else:
            start = self.prev_end_ms
            end = self._anchor_ms + int(round((t1 - self._anchor_s) * 1000))
            err = written - end
            if abs(err) > DEADBAND_MS:
                step = max(-MAX_STEP_MS, min(MAX_STEP_MS, err))
                self._anchor_ms += step
                end += step
            end = max(end, start + 1)
        if end > now_ms + FUTURE_MS:
            # Footage cannot end in the future: our clock wins.
            start, end = max(0, now_ms - (end - start)), now_ms
        self._anchor_ms, self._anchor_s, self._last_s = end, t1, t1
        self.prev_end_ms = end
        return start, end

    def moved(self, end_ms: int) -> None:
        """The store placed the last segment elsewhere (it would have overlapped an earlier
        run's last segment): follow on from where it really ends."""
        self.prev_end_ms = self._anchor_ms = end_ms

    def _jumped(self, t0: float, dur: int) -> bool:
        return self._last_s is not None and abs((t0 - self._last_s) * 1000) > JUMP_MS


def _written(mtime_ms: int | None, now_ms: int) -> int:
    """When the file's last fragment was written; CamPy's clock if the mtime is unusable."""
    if mtime_ms is None or now_ms - mtime_ms >= 60_000:
        return now_ms
    return min(now_ms, mtime_ms)
