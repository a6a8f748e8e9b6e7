"""SVG pictures for the recordings UI: a day's timeline and the storage chart.

Pure functions: every input is an argument (no clock, no I/O) and every output a string of
well-formed SVG (XML with the SVG namespace) that the Jinja templates embed as it is.
Elements carry classes for the page stylesheet and default ``fill`` attributes so that a
picture also looks right on its own. No ``style`` attributes; thin lines (ticks, the cap)
are narrow rects so that they take ``fill`` like everything else.

Times are UTC epoch milliseconds, sizes bytes (see ``campy.recording.model``).

The day timeline maps time to x linearly over the plot area, which spans
``TIMELINE_PLOT_X .. width - TIMELINE_PAD_RIGHT`` (the whole width: both paddings are 0).
The root element repeats the mapping as ``data-day-start-ms``, ``data-day-ms``,
``data-plot-x`` and ``data-plot-width``, so page JavaScript can turn a click into a time::

    t = dayStart + (x - plotX) / plotWidth * dayMs
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import NamedTuple

import msgspec

from campy.recording.model import DAY_MS, Mark

SVG_NS = "http://www.w3.org/2000/svg"

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
FILL_TEXT = "#374151"
FONT = "sans-serif"
FONT_SIZE = 11

# --- storage chart geometry ------------------------------------------------------------
STORAGE_LABEL_W = 120  # column of camera names; bars start here (px)
STORAGE_VALUE_W = 80  # room right of the longest bar for its size label (px)
STORAGE_ROW_H = 22  # one camera (and the disk bar) per row (px)
STORAGE_BAR_H = 14  # bar thickness (px)
STORAGE_CAP_W = 2.0  # the cap marker is a rect this wide, centred on the cap (px)
STORAGE_SUMMARY_H = 20  # text line under the disk bar (px)

FILL_FREE = "#d1d5db"
FILL_CAP = "#dc2626"
CAMERA_FILLS = (
    "#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#4b5563",
)

_BYTE_UNITS = ("kB", "MB", "GB", "TB")


class StorageRow(msgspec.Struct, frozen=True):
    """One camera's footage on disk, as the storage chart draws it."""

    camera: str
    size_bytes: int
    oldest_ms: int | None  # start of the oldest kept segment; None when there is none
    bytes_per_day: float | None  # recent write rate; None when unknown


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


def human_bytes(n: int) -> str:
    """A size with 1000-based units: ``"512 B"``, ``"1.5 kB"``, ``"12.3 GB"``, ``"2.0 TB"``."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1000:
        return f"{sign}{n} B"
    value = float(n)
    for unit in _BYTE_UNITS:
        value /= 1000
        # round first, so 999_960 B reads "1.0 MB", not "1000.0 kB"
        if round(value, 1) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{sign}{value:.1f} {unit}"
    raise AssertionError("unreachable")


def days_left(
    *, free_bytes: int | None, cap_bytes: int | None, used_bytes: int, bytes_per_day: float
) -> float | None:
    """Days until the binding limit is reached at ``bytes_per_day``.

    The limits are the free space and the cap's headroom (``cap_bytes - used_bytes``); the
    smaller binds. 0 when it is already reached; None when no limit is known or nothing is
    being written.
    """
    if bytes_per_day <= 0:
        return None
    room = [r for r in (free_bytes, None if cap_bytes is None else cap_bytes - used_bytes)
            if r is not None]
    if not room:
        return None
    return max(min(room), 0) / bytes_per_day


def _clock(ms: int, day_start_ms: int) -> str:
    """``HH:MM:SS`` within the day (its end reads 24:00:00), a full UTC date-time outside."""
    if ms == day_start_ms + DAY_MS:
        return "24:00:00"
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    if day_start_ms <= ms < day_start_ms + DAY_MS:
        return dt.strftime("%H:%M:%S")
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def _plural(n: int, word: str) -> str:
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


# --- SVG writing -------------------------------------------------------------------------


def _num(v: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    r = round(v, 2)
    if r == int(r):
        return str(int(r))
    return f"{r:.2f}".rstrip("0")


def _attrs(attrs: Mapping[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        text = _num(value) if isinstance(value, float) else str(value)
        parts.append(f' {key}="{escape(text, quote=True)}"')
    return "".join(parts)


def _el(tag: str, attrs: Mapping[str, object], *children: str) -> str:
    if not children:
        return f"<{tag}{_attrs(attrs)}/>"
    return f"<{tag}{_attrs(attrs)}>{''.join(children)}</{tag}>"


def _text_el(tag: str, attrs: Mapping[str, object], text: str) -> str:
    return f"<{tag}{_attrs(attrs)}>{escape(text, quote=False)}</{tag}>"


def _title(text: str) -> str:
    return _text_el("title", {}, text)


def _svg(width: int, height: int, attrs: Mapping[str, object], body: Iterable[str]) -> str:
    root = {
        "xmlns": SVG_NS,
        "width": width,
        "height": height,
        "viewBox": f"0 0 {width} {height}",
        **attrs,
    }
    return _el("svg", root, *body)


# --- day timeline ----------------------------------------------------------------------


class _Axis(NamedTuple):
    """Maps a time of the day to x over the plot area."""

    day_start_ms: int
    left: float
    width: float
    span_ms: int = DAY_MS

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
        title = f"recorded {_clock(s, axis.day_start_ms)}–{_clock(e, axis.day_start_ms)}"
        out.append(_el("rect", {
            "class": "rec", "x": x, "y": TIMELINE_REC_Y, "width": w, "height": band_h,
            "fill": FILL_REC, "data-start-ms": s, "data-end-ms": e,
        }, _title(title)))
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
    until = "ongoing" if mark.end_ms is None else _clock(mark.end_ms, axis.day_start_ms)
    title = f"{mark.kind} {_clock(mark.start_ms, axis.day_start_ms)}–{until}"
    return _el("rect", {
        "class": f"mark-{mark.kind}", "x": x, "y": lane * TIMELINE_LANE_H, "width": w,
        "height": TIMELINE_LANE_H - 1, "fill": FILL_EVENT if mark.kind == "event" else FILL_MOTION,
        "data-start-ms": s, "data-end-ms": e, "data-open": "true" if mark.end_ms is None else None,
    }, _title(title))


def _ticks(axis: _Axis, tick_y: float, label_y: float) -> list[str]:
    if axis.span_ms != DAY_MS:
        return _minute_ticks(axis, tick_y, label_y)
    out = []
    for hour in range(0, 25, TIMELINE_TICK_HOURS):
        pos = axis.x(axis.day_start_ms + hour * 3_600_000)
        anchor = "start" if hour == 0 else "end" if hour == 24 else "middle"
        out.append(_el(
            "g", {"class": "tick", "data-hour": hour},
            _el("rect", {"x": max(axis.left, min(pos - 0.5, axis.right - 1)), "y": tick_y,
                         "width": 1, "height": TIMELINE_TICK_H, "fill": FILL_TEXT}),
            _text_el("text", {"x": pos, "y": label_y, "text-anchor": anchor, "fill": FILL_TEXT,
                              "font-family": FONT, "font-size": FONT_SIZE}, f"{hour:02d}"),
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
        label = datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%H:%M")
        out.append(_el(
            "g", {"class": "tick", "data-ms": t},
            _el("rect", {"x": max(axis.left, min(pos - 0.5, axis.right - 1)), "y": tick_y,
                         "width": 1, "height": TIMELINE_TICK_H, "fill": FILL_TEXT}),
            _text_el("text", {"x": pos, "y": label_y, "text-anchor": anchor, "fill": FILL_TEXT,
                              "font-family": FONT, "font-size": FONT_SIZE}, label),
        ))
    return out


def _day_label(recorded_ms: int, events: int, motions: int, span_ms: int = DAY_MS) -> str:
    label = f"Recorded {format_duration(recorded_ms)} of {format_duration(span_ms)}"
    label += f"; {_plural(events, 'event')}"
    if motions:
        label += f"; {_plural(motions, 'motion period')}"
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
) -> str:
    """One UTC day (``day_start_ms``, a UTC midnight, + 24 h) as an SVG strip.

    From the top: event marks, motion marks (one lane each), the recording band (gap colour
    behind recorded ``spans``), hour ticks and labels. Everything is clamped to the day;
    rec rects carry their clamped ``data-start-ms``/``data-end-ms``. Open marks run to
    ``now_ms`` (the end of the day when None); after ``now_ms`` the band is shaded as future.
    With ``span_ms`` shorter than a day the strip is a zoomed window from ``day_start_ms``
    (e.g. one hour), with ``HH:MM`` ticks.
    """
    if width <= TIMELINE_PLOT_X + TIMELINE_PAD_RIGHT or height < TIMELINE_MIN_HEIGHT:
        raise ValueError(f"timeline too small: {width}x{height}")
    day_end = day_start_ms + span_ms
    axis = _Axis(day_start_ms, TIMELINE_PLOT_X, width - TIMELINE_PLOT_X - TIMELINE_PAD_RIGHT, span_ms)
    band_h = height - TIMELINE_LABEL_H - TIMELINE_REC_Y

    kept = sorted(c for s, e in spans if (c := _clamp(s, e, day_start_ms, day_end)) is not None)
    body = [_el("rect", {"class": "gap", "x": axis.left, "y": TIMELINE_REC_Y,
                         "width": axis.width, "height": band_h, "fill": FILL_GAP})]
    if now_ms is not None and now_ms < day_end:
        x = axis.x(max(now_ms, day_start_ms))
        body.append(_el("rect", {"class": "future", "x": x, "y": TIMELINE_REC_Y,
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
    return _svg(width, height, root, body)


# --- storage chart -----------------------------------------------------------------------


def _scaled(size: int, total: float, length: float) -> float:
    """``size`` of ``total`` as a bar of at most ``length``; a non-zero size shows >= 1 px."""
    if total <= 0 or size <= 0:
        return 0.0
    return max(size / total * length, MIN_SPAN_PX)


def _camera_title(row: StorageRow) -> str:
    parts = [f"{row.camera}: {human_bytes(row.size_bytes)}"]
    if row.oldest_ms is not None:
        oldest = datetime.fromtimestamp(row.oldest_ms // 1000, tz=UTC)
        parts.append(f"oldest {oldest:%Y-%m-%d %H:%M} UTC")
    if row.bytes_per_day is not None:
        parts.append(f"{human_bytes(round(row.bytes_per_day))}/day")
    return ", ".join(parts)


def _label(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "label") -> str:
    return _text_el("text", {"class": cls, "x": x, "y": y, "text-anchor": anchor,
                             "fill": FILL_TEXT, "font-family": FONT, "font-size": FONT_SIZE},
                    text)


def _camera_row(row: StorageRow, i: int, longest: int, bar_len: float) -> str:
    y = i * STORAGE_ROW_H
    bar_y = y + (STORAGE_ROW_H - STORAGE_BAR_H) / 2
    text_y = y + STORAGE_ROW_H / 2 + FONT_SIZE / 2 - 1
    w = _scaled(row.size_bytes, longest, bar_len)
    return _el(
        "g", {"class": "camera", "data-camera": row.camera},
        _title(_camera_title(row)),
        _label(0, text_y, row.camera),
        _el("rect", {"class": f"bar cam-{i % len(CAMERA_FILLS)}", "x": STORAGE_LABEL_W,
                     "y": bar_y, "width": w, "height": STORAGE_BAR_H,
                     "fill": CAMERA_FILLS[i % len(CAMERA_FILLS)],
                     "data-size-bytes": row.size_bytes}),
        _label(STORAGE_LABEL_W + w + 6, text_y, human_bytes(row.size_bytes), cls="size"),
    )


def _disk_row(
    rows: Sequence[StorageRow], y: float, bar_len: float, free_bytes: int | None,
    cap_bytes: int | None,
) -> str:
    used = sum(r.size_bytes for r in rows)
    scale = max(used + (free_bytes or 0), cap_bytes or 0)
    bar_y = y + (STORAGE_ROW_H - STORAGE_BAR_H) / 2
    parts = [_label(0, y + STORAGE_ROW_H / 2 + FONT_SIZE / 2 - 1, "disk")]
    x = float(STORAGE_LABEL_W)
    for i, row in enumerate(rows):
        w = _scaled(row.size_bytes, scale, bar_len)
        parts.append(_el("rect", {
            "class": f"used cam-{i % len(CAMERA_FILLS)}", "x": x, "y": bar_y, "width": w,
            "height": STORAGE_BAR_H, "fill": CAMERA_FILLS[i % len(CAMERA_FILLS)],
            "data-camera": row.camera, "data-size-bytes": row.size_bytes,
        }, _title(f"{row.camera}: {human_bytes(row.size_bytes)}")))
        x += w
    if free_bytes is not None:
        # the 1 px minimum of tiny cameras must not push free space past the bar's end
        w = min(_scaled(free_bytes, scale, bar_len), max(STORAGE_LABEL_W + bar_len - x, 0))
        parts.append(_el("rect", {
            "class": "free", "x": x, "y": bar_y, "width": w, "height": STORAGE_BAR_H,
            "fill": FILL_FREE, "data-size-bytes": free_bytes,
        }, _title(f"free: {human_bytes(free_bytes)}")))
    if cap_bytes is not None and scale > 0:
        pos = STORAGE_LABEL_W + cap_bytes / scale * bar_len
        parts.append(_el("rect", {
            "class": "cap", "x": pos - STORAGE_CAP_W / 2, "y": y, "width": STORAGE_CAP_W,
            "height": STORAGE_ROW_H, "fill": FILL_CAP, "data-size-bytes": cap_bytes,
        }, _title(f"cap: {human_bytes(cap_bytes)}")))
    return _el("g", {"class": "disk"}, *parts)


def _storage_summary(
    rows: Sequence[StorageRow], free_bytes: int | None, cap_bytes: int | None
) -> str:
    used = sum(r.size_bytes for r in rows)
    parts = [f"Recordings use {human_bytes(used)} on {_plural(len(rows), 'camera')}"]
    if free_bytes is not None:
        parts.append(f"{human_bytes(free_bytes)} free")
    if cap_bytes is not None:
        parts.append(f"cap {human_bytes(cap_bytes)}")
    rates = [r.bytes_per_day for r in rows if r.bytes_per_day is not None]
    left = days_left(free_bytes=free_bytes, cap_bytes=cap_bytes, used_bytes=used,
                     bytes_per_day=sum(rates)) if rates else None
    if left is not None:
        parts.append("limit reached" if left <= 0 else "less than a day left" if left < 1
                     else f"about {_plural(math.floor(left), 'day')} left")
    return "; ".join(parts)


def storage_chart_svg(
    rows: Sequence[StorageRow], *, free_bytes: int | None, cap_bytes: int | None,
    width: int = 640,
) -> str:
    """A bar per camera (length in proportion to the largest camera), then the disk bar.

    The disk bar stacks each camera's footage and the free space, scaled so that
    recordings + free space (or the cap, if larger) fill the bar; the cap is a thin marker.
    Rows are drawn in the given order; a summary line (also the aria-label) closes the chart.
    """
    bar_len = width - STORAGE_LABEL_W - STORAGE_VALUE_W
    if bar_len <= 0:
        raise ValueError(f"storage chart too narrow: {width}")
    longest = max((r.size_bytes for r in rows), default=0)
    body = [_camera_row(r, i, longest, bar_len) for i, r in enumerate(rows)]
    disk_y = len(rows) * STORAGE_ROW_H
    body.append(_disk_row(rows, disk_y, bar_len, free_bytes, cap_bytes))
    summary = _storage_summary(rows, free_bytes, cap_bytes)
    height = disk_y + STORAGE_ROW_H + STORAGE_SUMMARY_H
    body.append(_label(0, height - 5, summary, cls="summary"))
    root = {
        "class": "storage-chart", "role": "img", "aria-label": summary,
        "data-bar-x": STORAGE_LABEL_W, "data-bar-width": bar_len,
    }
    return _svg(width, height, root, body)
