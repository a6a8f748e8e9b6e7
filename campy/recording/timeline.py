"""The recordings timeline as SVG: a day (or an hour) of recorded spans, gaps and marks.

Pure functions: every input is an argument (no clock, no I/O) and every output a string of
well-formed SVG (XML with the SVG namespace) that the Jinja templates embed as it is.
Elements carry classes for the page stylesheet and default ``fill`` attributes so that a
picture also looks right on its own. No ``style`` attributes; thin lines (ticks, the cap)
are narrow rects so that they take ``fill`` like everything else.

Times are UTC epoch milliseconds (labels read local time in ``tz``), sizes bytes (see ``campy.recording.model``).

The day timeline maps time to x linearly over the plot area, which spans
``TIMELINE_PLOT_X .. width - TIMELINE_PAD_RIGHT`` (the whole width: both paddings are 0).
The root element repeats the mapping as ``data-day-start-ms``, ``data-day-ms``,
``data-plot-x`` and ``data-plot-width``, so page JavaScript can turn a click into a time::

    t = dayStart + (x - plotX) / plotWidth * dayMs
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import NamedTuple


from campy.recording.model import DAY_MS, Mark
from campy.recording.svg import FILL_TEXT, FONT, FONT_SIZE, el, svg_root, text_el, title_el


# --- day timeline geometry ------------------------------------------------------------
TIMELINE_PLOT_X = 0  # left edge of the plot area (px)
TIMELINE_PAD_RIGHT = 0  # space right of the plot area (px)
TIMELINE_LANE_H = 8  # each mark lane (events at the top, then motion) is this tall (px)
TIMELINE_LABEL_H = 16  # strip under the recording band for hour ticks and labels (px)
TIMELINE_TICK_H = 4  # hour tick length, at the top of the label strip (px)
TIMELINE_TICK_HOURS = 3  # a tick and label every this many hours, 00 .. 24
MIN_SPAN_PX = 1.0  # recordings and marks are drawn at least this wide
# the recording band (y) starts under the two mark lanes
TIMELINE_REC_Y = 2 * TIMELINE_LANE_H
TIMELINE_MIN_HEIGHT = TIMELINE_REC_Y + TIMELINE_LABEL_H + 4

FILL_GAP = "#e5e7eb"
FILL_REC = "#16a34a"
FILL_MOTION = "#f59e0b"
FILL_EVENT = "#dc2626"
FILL_FUTURE = "#6b7280"
FUTURE_OPACITY = "0.25"

# --- formatting ------------------------------------------------------------------------


def format_duration(ms: int) -> str:
    """A duration for people, truncated to its two largest units.

    ``"5 h 12 min"``, ``"3 min 5 s"``, ``"42 s"``; ``"24 h"``, ``"3 min"`` when the smaller
    unit is 0; ``"< 1 s"`` for a positive duration under a second; negatives count as 0.
    """
    if 0 < ms < 1000:
        return "< 1 s"
    s = max(ms, 0) // 1000
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    if m:
        return f"{m} min {s} s" if s else f"{m} min"
    return f"{s} s"


def _clock(ms: int, day_start_ms: int, day_ms: int = DAY_MS, tz: tzinfo = UTC) -> str:
    """``HH:MM:SS`` (in ``tz``) within the day (its end reads 24:00:00), a full date-time outside."""
    if ms == day_start_ms + day_ms and day_ms >= 23 * 3_600_000:
        return "24:00:00"
    dt = datetime.fromtimestamp(ms // 1000, tz=tz)
    if day_start_ms <= ms < day_start_ms + day_ms:
        return dt.strftime("%H:%M:%S")
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- spans ------------------------------------------------------------------------------


def merge_spans(
    segments: Iterable[tuple[int, int]], *, max_gap_ms: int = 1500
) -> list[tuple[int, int]]:
    """Merge ``(start_ms, end_ms)`` pairs, in any order, into sorted continuous spans.

    Consecutive pairs join when the gap between them is at most ``max_gap_ms`` (overlapping
    and touching pairs always join). Pairs that end before they start are dropped.
    """
    out: list[tuple[int, int]] = []
    for start, end in sorted(p for p in segments if p[1] >= p[0]):
        if out and start - out[-1][1] <= max_gap_ms:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def gaps(
    spans: Iterable[tuple[int, int]], *, start_ms: int, end_ms: int
) -> list[tuple[int, int]]:
    """The parts of ``start_ms .. end_ms`` that no span covers, in order, none empty."""
    out: list[tuple[int, int]] = []
    cursor = start_ms
    for s, e in merge_spans(spans, max_gap_ms=0):
        if e <= cursor:
            continue
        if s >= end_ms:
            break
        if s > cursor:
            out.append((cursor, s))
        cursor = e
    if cursor < end_ms:
        out.append((cursor, end_ms))
    return out


def _clamp(start: int, end: int, lo: int, hi: int) -> tuple[int, int] | None:
    """``start .. end`` cut to ``lo .. hi``; None when they do not overlap.

    An empty interval (``start == end``) is kept when it lies in ``lo .. hi`` (end excluded).
    """
    if end < start:
        return None
    if start == end:
        return (start, end) if lo <= start < hi else None
    if start >= hi or end <= lo:
        return None
    return max(start, lo), min(end, hi)


# --- day timeline ----------------------------------------------------------------------


class _Axis(NamedTuple):
    """Maps a time of the day to x over the plot area."""

    day_start_ms: int
    left: float
    width: float
    span_ms: int = DAY_MS
    tz: tzinfo = UTC

    def clock(self, ms: int) -> str:
        return _clock(ms, self.day_start_ms, self.span_ms, self.tz)

    @property
    def right(self) -> float:
        return self.left + self.width

    def x(self, ms: int) -> float:
        return self.left + (ms - self.day_start_ms) / self.span_ms * self.width

    def bar(self, start_ms: int, end_ms: int) -> tuple[float, float]:
        """``(x, width)`` of a clamped interval, at least MIN_SPAN_PX wide, inside the plot."""
        x0, x1 = self.x(start_ms), self.x(end_ms)
        w = max(x1 - x0, MIN_SPAN_PX)
        x0 = max(self.left, min(x0, self.right - w))
        return x0, w


def _rec_rects(axis: _Axis, spans: Sequence[tuple[int, int]], band_h: float) -> list[str]:
    out = []
    for s, e in spans:
        x, w = axis.bar(s, e)
        label = f"recorded {axis.clock(s)}–{axis.clock(e)}"
        out.append(el("rect", {
            "class": "rec", "x": x, "y": TIMELINE_REC_Y, "width": w, "height": band_h,
            "fill": FILL_REC, "data-start-ms": s, "data-end-ms": e,
        }, title_el(label)))
    return out


def _mark_rect(axis: _Axis, mark: Mark, now_ms: int | None) -> str | None:
    day_end = axis.day_start_ms + axis.span_ms
    end = mark.end_ms
    if end is None:
        end = max(mark.start_ms, min(now_ms if now_ms is not None else day_end, day_end))
    clamped = _clamp(mark.start_ms, end, axis.day_start_ms, day_end)
    if clamped is None:
        return None
    s, e = clamped
    x, w = axis.bar(s, e)
    lane = 0 if mark.kind == "event" else 1
    until = "ongoing" if mark.end_ms is None else axis.clock(mark.end_ms)
    label = f"{mark.kind} {axis.clock(mark.start_ms)}–{until}"
    return el("rect", {
        "class": f"mark-{mark.kind}", "x": x, "y": lane * TIMELINE_LANE_H, "width": w,
        "height": TIMELINE_LANE_H - 1, "fill": FILL_EVENT if mark.kind == "event" else FILL_MOTION,
        "data-start-ms": s, "data-end-ms": e, "data-open": "true" if mark.end_ms is None else None,
    }, title_el(label))


def _ticks(axis: _Axis, tick_y: float, label_y: float) -> list[str]:
    """A tick at every hour of a local day (23, 24 or 25 hours), labelled with the local
    hour every TIMELINE_TICK_HOURS hours and at the day's end (``24``)."""
    if axis.span_ms < 23 * 3_600_000:
        return _minute_ticks(axis, tick_y, label_y)
    out = []
    hours = -(-axis.span_ms // 3_600_000)
    for hour in range(hours + 1):
        t = min(axis.day_start_ms + hour * 3_600_000, axis.day_start_ms + axis.span_ms)
        pos = axis.x(t)
        anchor = "start" if hour == 0 else "end" if hour == hours else "middle"
        labelled = hour % TIMELINE_TICK_HOURS == 0 or hour == hours
        text = "24" if hour == hours else datetime.fromtimestamp(t / 1000, tz=axis.tz).strftime("%H")
        out.append(el(
            "g", {"class": "tick" if labelled else "tick minor", "data-hour": hour, "data-ms": t},
            el("rect", {"x": max(axis.left, min(pos - 0.5, axis.right - 1)), "y": tick_y,
                         "width": 1, "height": TIMELINE_TICK_H if labelled else TIMELINE_TICK_H / 2,
                         "fill": FILL_TEXT}),
            text_el("text", {"x": pos, "y": label_y, "text-anchor": anchor, "fill": FILL_TEXT,
                              "font-family": FONT, "font-size": FONT_SIZE}, text) if labelled else "",
        ))
    return out


def _minute_ticks(axis: _Axis, tick_y: float, label_y: float) -> list[str]:
    """Ticks for a zoomed window (an hour or less): six labelled steps, ``HH:MM``."""
    out = []
    step = axis.span_ms // 6
    for i in range(7):
        t = axis.day_start_ms + i * step
        pos = axis.x(t)
        anchor = "start" if i == 0 else "end" if i == 6 else "middle"
        label = datetime.fromtimestamp(t / 1000, tz=axis.tz).strftime("%H:%M")
        out.append(el(
            "g", {"class": "tick", "data-ms": t},
            el("rect", {"x": max(axis.left, min(pos - 0.5, axis.right - 1)), "y": tick_y,
                         "width": 1, "height": TIMELINE_TICK_H, "fill": FILL_TEXT}),
            text_el("text", {"x": pos, "y": label_y, "text-anchor": anchor, "fill": FILL_TEXT,
                              "font-family": FONT, "font-size": FONT_SIZE}, label),
        ))
    return out


def _day_label(recorded_ms: int, events: int, motions: int, span_ms: int = DAY_MS) -> str:
    label = f"Recorded {format_duration(recorded_ms)} of {format_duration(span_ms)}"
    label += f"; {plural(events, 'event')}"
    if motions:
        label += f"; {plural(motions, 'motion period')}"
    return label


def day_timeline_svg(
    *,
    day_start_ms: int,
    spans: Sequence[tuple[int, int]],
    marks: Sequence[Mark],
    now_ms: int | None = None,
    width: int = 1200,
    height: int = 64,
    span_ms: int = DAY_MS,
    tz: tzinfo = UTC,
) -> str:
    """One day (``day_start_ms``, a midnight in ``tz``, + ``span_ms``: 23-25 h) as an SVG strip.

    From the top: event marks, motion marks (one lane each), the recording band (gap colour
    behind recorded ``spans``), hour ticks and labels. Everything is clamped to the day;
    rec rects carry their clamped ``data-start-ms``/``data-end-ms``. Open marks run to
    ``now_ms`` (the end of the day when None); after ``now_ms`` the band is shaded as future.
    With ``span_ms`` under 23 h the strip is a zoomed window from ``day_start_ms``
    (e.g. one hour), with ``HH:MM`` ticks. Tick labels and titles read local time in ``tz``.
    """
    if width <= TIMELINE_PLOT_X + TIMELINE_PAD_RIGHT or height < TIMELINE_MIN_HEIGHT:
        raise ValueError(f"timeline too small: {width}x{height}")
    day_end = day_start_ms + span_ms
    axis = _Axis(day_start_ms, TIMELINE_PLOT_X, width - TIMELINE_PLOT_X - TIMELINE_PAD_RIGHT, span_ms, tz)
    band_h = height - TIMELINE_LABEL_H - TIMELINE_REC_Y

    kept = sorted(c for s, e in spans if (c := _clamp(s, e, day_start_ms, day_end)) is not None)
    body = [el("rect", {"class": "gap", "x": axis.left, "y": TIMELINE_REC_Y,
                         "width": axis.width, "height": band_h, "fill": FILL_GAP})]
    if now_ms is not None and now_ms < day_end:
        x = axis.x(max(now_ms, day_start_ms))
        body.append(el("rect", {"class": "future", "x": x, "y": TIMELINE_REC_Y,
                                 "width": axis.right - x, "height": band_h,
                                 "fill": FILL_FUTURE, "fill-opacity": FUTURE_OPACITY}))
    body += _rec_rects(axis, kept, band_h)
    counts = {"motion": 0, "event": 0}
    for mark in sorted(marks, key=lambda m: (m.kind != "motion", m.start_ms)):
        rect = _mark_rect(axis, mark, now_ms)
        if rect is not None:
            body.append(rect)
            counts[mark.kind] += 1
    body += _ticks(axis, height - TIMELINE_LABEL_H, height - 3)

    recorded = sum(e - s for s, e in merge_spans(kept, max_gap_ms=0))
    root = {
        "class": "timeline", "role": "img",
        "aria-label": _day_label(recorded, counts["event"], counts["motion"], span_ms),
        "data-day-start-ms": day_start_ms, "data-day-ms": span_ms,
        "data-plot-x": axis.left, "data-plot-width": axis.width, "data-now-ms": now_ms,
    }
    return svg_root(width, height, root, body)


