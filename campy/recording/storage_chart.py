"""The storage page's chart: footage per camera and the whole disk, as an SVG string.

Pure: every input is an argument. Sizes are bytes; bars grow left to right from
``STORAGE_LABEL_W``; the disk bar stacks each camera's footage, then free space, with the cap
as a thin rect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

import msgspec

from campy.recording.svg import FILL_TEXT, FONT, FONT_SIZE, el, svg_root, text_el, title_el
from campy.recording.timeline import MIN_SPAN_PX, plural

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



def _scaled(size: int, total: float, length: float) -> float:
    """``size`` of ``total`` as a bar of at most ``length``; a non-zero size shows >= 1 px."""
    if total <= 0 or size <= 0:
        return 0.0
    return max(size / total * length, MIN_SPAN_PX)


def _camera_title(row: StorageRow, tz: tzinfo = UTC) -> str:
    parts = [f"{row.camera}: {human_bytes(row.size_bytes)}"]
    if row.oldest_ms is not None:
        oldest = datetime.fromtimestamp(row.oldest_ms // 1000, tz=tz)
        parts.append(f"oldest {oldest:%Y-%m-%d %H:%M %Z}")
    if row.bytes_per_day is not None:
        parts.append(f"{human_bytes(round(row.bytes_per_day))}/day")
    return ", ".join(parts)


def _label(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "label") -> str:
    return text_el("text", {"class": cls, "x": x, "y": y, "text-anchor": anchor,
                             "fill": FILL_TEXT, "font-family": FONT, "font-size": FONT_SIZE},
                    text)


def _camera_row(row: StorageRow, i: int, longest: int, bar_len: float, tz: tzinfo = UTC) -> str:
    y = i * STORAGE_ROW_H
    bar_y = y + (STORAGE_ROW_H - STORAGE_BAR_H) / 2
    text_y = y + STORAGE_ROW_H / 2 + FONT_SIZE / 2 - 1
    w = _scaled(row.size_bytes, longest, bar_len)
    return el(
        "g", {"class": "camera", "data-camera": row.camera},
        title_el(_camera_title(row, tz)),
        _label(0, text_y, row.camera),
        el("rect", {"class": f"bar cam-{i % len(CAMERA_FILLS)}", "x": STORAGE_LABEL_W,
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
        parts.append(el("rect", {
            "class": f"used cam-{i % len(CAMERA_FILLS)}", "x": x, "y": bar_y, "width": w,
            "height": STORAGE_BAR_H, "fill": CAMERA_FILLS[i % len(CAMERA_FILLS)],
            "data-camera": row.camera, "data-size-bytes": row.size_bytes,
        }, title_el(f"{row.camera}: {human_bytes(row.size_bytes)}")))
        x += w
    if free_bytes is not None:
        # the 1 px minimum of tiny cameras must not push free space past the bar's end
        w = min(_scaled(free_bytes, scale, bar_len), max(STORAGE_LABEL_W + bar_len - x, 0))
        parts.append(el("rect", {
            "class": "free", "x": x, "y": bar_y, "width": w, "height": STORAGE_BAR_H,
            "fill": FILL_FREE, "data-size-bytes": free_bytes,
        }, title_el(f"free: {human_bytes(free_bytes)}")))
    if cap_bytes is not None and scale > 0:
        pos = STORAGE_LABEL_W + cap_bytes / scale * bar_len
        parts.append(el("rect", {
            "class": "cap", "x": pos - STORAGE_CAP_W / 2, "y": y, "width": STORAGE_CAP_W,
            "height": STORAGE_ROW_H, "fill": FILL_CAP, "data-size-bytes": cap_bytes,
        }, title_el(f"cap: {human_bytes(cap_bytes)}")))
    return el("g", {"class": "disk"}, *parts)


def _storage_summary(
    rows: Sequence[StorageRow], free_bytes: int | None, cap_bytes: int | None
) -> str:
    used = sum(r.size_bytes for r in rows)
    parts = [f"Recordings use {human_bytes(used)} on {plural(len(rows), 'camera')}"]
    if free_bytes is not None:
        parts.append(f"{human_bytes(free_bytes)} free")
    if cap_bytes is not None:
        parts.append(f"cap {human_bytes(cap_bytes)}")
    rates = [r.bytes_per_day for r in rows if r.bytes_per_day is not None]
    left = days_left(free_bytes=free_bytes, cap_bytes=cap_bytes, used_bytes=used,
                     bytes_per_day=sum(rates)) if rates else None
    if left is not None:
        parts.append("limit reached" if left <= 0 else "less than a day left" if left < 1
                     else f"about {plural(math.floor(left), 'day')} left")
    return "; ".join(parts)


def storage_chart_svg(
    rows: Sequence[StorageRow], *, free_bytes: int | None, cap_bytes: int | None,
    width: int = 640, tz: tzinfo = UTC,
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
    body = [_camera_row(r, i, longest, bar_len, tz) for i, r in enumerate(rows)]
    disk_y = len(rows) * STORAGE_ROW_H
    body.append(_disk_row(rows, disk_y, bar_len, free_bytes, cap_bytes))
    summary = _storage_summary(rows, free_bytes, cap_bytes)
    height = disk_y + STORAGE_ROW_H + STORAGE_SUMMARY_H
    body.append(_label(0, height - 5, summary, cls="summary"))
    root = {
        "class": "storage-chart", "role": "img", "aria-label": summary,
        "data-bar-x": STORAGE_LABEL_W, "data-bar-width": bar_len,
    }
    return svg_root(width, height, root, body)
