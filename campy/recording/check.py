"""``campy check``: verify the recording invariants of docs/recording.md on disk.

Read-only; safe while CamPy runs (the segment being written lives in ``.incoming`` and has
no row yet, so it is never reported). Each violation names the invariant it breaks.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import msgspec

from campy.localtime import local_time
from campy.recording.gaps import GAP_TOLERANCE_MS, Gap, explain, log_window
from campy.recording.index import RecordingIndex
from campy.recording.layout import INCOMING, QUARANTINE, parse_track_relpath
from campy.recording.probe import probe_sync

# A recovered segment's duration comes from ffprobe; allow for container rounding.
_DURATION_SLACK_MS = 1_000


class Violation(msgspec.Struct, frozen=True):
    invariant: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"[invariant {self.invariant}] {self.path}: {self.message}"


def check_recordings(index: RecordingIndex, storage: Path, *, deep: bool = False,
                     max_bytes: int | None = None, settle_s: float = 1.0,
                     gap_tolerance_ms: int | None = GAP_TOLERANCE_MS,
                     timezone: str = "UTC") -> tuple[list[Violation], dict[str, int]]:
    """Every violation found, and counts of what was checked.

    While CamPy runs, a segment is briefly in place before its row is inserted, and a
    retention delete briefly has a marked row; so a violation counts only if a second look,
    ``settle_s`` later, finds it again. ``gap_tolerance_ms``: gaps longer than this with no
    logged cause are violations (invariant 7); None skips that check. ``timezone``: the zone
    of the times in messages (``server.timezone``).
    """
    first, counts = _check_once(index, storage, deep=deep, max_bytes=max_bytes)
    if gap_tolerance_ms is not None:
        first += _gap_violations(index, gap_tolerance_ms, timezone)
    if not first or settle_s <= 0:
        return first, counts
    time.sleep(settle_s)
    second, counts = _check_once(index, storage, deep=deep, max_bytes=max_bytes)
    if gap_tolerance_ms is not None:
        second += _gap_violations(index, gap_tolerance_ms, timezone)
    again = {_key(v) for v in second}
    return [v for v in first if _key(v) in again], counts


def _key(v: Violation) -> tuple[int, str, str]:
    # A gap is named by its camera and times (its message); other violations by their file.
    return v.invariant, v.path, v.message if v.invariant == 7 else ""


def find_gaps(index: RecordingIndex, *, min_ms: int = GAP_TOLERANCE_MS) -> list[Gap]:
    """Every gap between consecutive segments of a camera, with its cause (``gaps.py``)."""
    found = index.gaps(min_ms=min_ms)
    if not found:
        return []
    return explain(found, index.log_rows(*log_window(found)))


def _gap_violations(index: RecordingIndex, min_ms: int, timezone: str) -> list[Violation]:
    at = functools.partial(local_ms, timezone=timezone)
    return [Violation(7, g.camera, f"{g.seconds:.1f} s gap from {at(g.start_ms)} to {at(g.end_ms)} that nothing "
                                   "explains (no restart, outage or stop was logged)")
            for g in find_gaps(index, min_ms=min_ms) if g.cause == "unexplained"]


def local_ms(ms: int, *, timezone: str) -> str:
    """``2026-03-29 03:00:01.250 CEST``: a time in ``timezone`` to the millisecond, zone named."""
    d = local_time(timezone).dt(ms)
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + d.strftime(" %Z")


def _check_once(index: RecordingIndex, storage: Path, *, deep: bool,
                max_bytes: int | None) -> tuple[list[Violation], dict[str, int]]:
    out: list[Violation] = []
    rows = index.db.execute(
        "SELECT id, camera, start_ms, end_ms, size_bytes, path, deleting, stream FROM segments "
        "ORDER BY camera, stream, start_ms"
    ).fetchall()
    known: set[str] = set()
    prev: dict[tuple[str, str], tuple[int, str]] = {}
    for seg_id, camera, start, end, size, rel, deleting, stream in rows:
        known.add(rel)
        if deleting:
            out.append(Violation(3, rel, f"row {seg_id} is marked for deletion (a delete was cut short; "
                                         "the next start finishes it)"))
            continue
        path = storage / rel
        parsed = parse_track_relpath(rel)
        if parsed is None or parsed != (camera, stream, start):
            out.append(Violation(1, rel, f"row {seg_id}: the path does not match camera {camera}, stream {stream} "
                                         f"and start {start}"))
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            out.append(Violation(1, rel, f"row {seg_id}: the file is missing"))
            continue
        if actual != size:
            out.append(Violation(1, rel, f"row {seg_id}: size is {actual} bytes, the index says {size}"))
        if deep:
            info = probe_sync(path)
            if info is None:
                out.append(Violation(1, rel, f"row {seg_id}: the file does not play"))
            elif abs(info.duration_ms - (end - start)) > _DURATION_SLACK_MS:
                out.append(Violation(1, rel, f"row {seg_id}: plays {info.duration_ms} ms, the index says "
                                             f"{end - start} ms"))
        track = (camera, stream)
        if track in prev and start < prev[track][0]:
            out.append(Violation(2, rel, f"overlaps {prev[track][1]} by {prev[track][0] - start} ms"))
        prev[track] = (max(end, prev.get(track, (end, ""))[0]), rel)
    files = 0
    if storage.is_dir():
        for root, dirs, names in os.walk(storage):
            rel_root = Path(root).relative_to(storage)
            if rel_root.parts and rel_root.parts[0] == QUARANTINE:
                dirs[:] = []
                continue
            if rel_root.name == INCOMING:
                continue
            for name in names:
                rel = (rel_root / name).as_posix()
                if rel_root == Path(".") or (rel_root.parts and rel_root.parts[0] == ".campy"):
                    continue
                files += 1
                if rel not in known:
                    out.append(Violation(3, rel, "a file with no index row (the next start indexes or "
                                                 "quarantines it)"))
    if max_bytes is not None:
        used = sum(r[4] for r in rows)
        cams = len({(r[1], r[7]) for r in rows})  # one open segment per recorder (camera, stream)
        biggest = max((r[4] for r in rows), default=0)
        if used > max_bytes + cams * biggest:
            out.append(Violation(5, str(storage), f"recordings use {used} bytes, over the cap of {max_bytes} "
                                                  "plus one segment per camera"))
    return out, {"rows": len(rows), "files": files}
