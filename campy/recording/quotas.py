"""Per-user limits on what costs disk: exports and marks (docs/security.md, "Quotas").

An export writes up to a day of footage onto the data disk, and a mark protects footage
from age-based retention; without limits one user could fill the disk (so the free-space
rule deletes everyone's oldest footage) or pin footage for months. Refusals are
``QuotaExceeded`` (429) with a message that names the limit and what to do.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from campy.errors import QuotaExceeded
from campy.recording.model import DAY_MS, Segment

MAX_RUNNING_EXPORTS = 2  # per user, queued or running
MAX_EXPORTS_PER_DAY = 20  # per user, started in the last 24 h
MAX_ACTIVE_MARKS = 50  # per user, still protecting footage
# A mark with no keep_until of its own (kind motion) counts this long after it ends.
MOTION_MARK_COUNTS_MS = 7 * DAY_MS


def estimate_export_bytes(segments: Sequence[Segment], start_ms: int, end_ms: int) -> int:
    """Stream copy: the output is about the trimmed share of each segment's bytes."""
    total = 0.0
    for seg in segments:
        span = seg.end_ms - seg.start_ms
        overlap = min(seg.end_ms, end_ms) - max(seg.start_ms, start_ms)
        if span > 0 and overlap > 0:
            total += seg.size_bytes * overlap / span
    return int(total)


def check_export(*, user: str, jobs: Iterable[Any], now_ms: int, estimate_bytes: int, directory: Path,
                 storage: Path, floor_bytes: int | None) -> None:
    """Raise ``QuotaExceeded`` if ``user`` may not start an export of ``estimate_bytes`` now."""
    jobs = list(jobs)
    mine = [j for j in jobs if j.owner == user]
    running = [j for j in mine if j.state in ("queued", "running")]
    if len(running) >= MAX_RUNNING_EXPORTS:
        raise QuotaExceeded(f"you already have {len(running)} exports in progress (at most "
                            f"{MAX_RUNNING_EXPORTS}); wait for one to finish, then start the next")
    recent = sorted(j.created_ms for j in mine if now_ms - j.created_ms < DAY_MS)
    if len(recent) >= MAX_EXPORTS_PER_DAY:
        wait_min = max(1, (recent[0] + DAY_MS - now_ms + 59_999) // 60_000)
        raise QuotaExceeded(f"you have started {len(recent)} exports in the last 24 hours (at most "
                            f"{MAX_EXPORTS_PER_DAY}); the next is possible in {wait_min} min, or export "
                            "a shorter range at once")
    free = _free_bytes(directory)
    if free is None:
        return
    # Exports still to be written take their share too.
    pending = sum(getattr(j, "estimate_bytes", 0) for j in jobs if j.state in ("queued", "running"))
    floor = floor_bytes if floor_bytes is not None and _same_disk(directory, storage) else 0
    if free - pending - estimate_bytes < floor:
        raise QuotaExceeded(
            f"this export needs about {estimate_bytes / 1e6:.0f} MB, which would take free space "
            f"({free / 1e6:.0f} MB) below the {floor / 1e6:.0f} MB that recording keeps free; "
            "export a shorter range, or free disk space first")


def check_marks(*, user: str, active: int) -> None:
    if active >= MAX_ACTIVE_MARKS:
        raise QuotaExceeded(f"you have {active} marks still protecting footage (at most {MAX_ACTIVE_MARKS}); "
                            "wait until older ones expire, or ask an admin to keep footage longer instead")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free_bytes(directory: Path) -> int | None:
    try:
        return shutil.disk_usage(_existing(directory)).free
    except OSError:
        return None


def _same_disk(a: Path, b: Path) -> bool:
    try:
        return os.stat(_existing(a)).st_dev == os.stat(_existing(b)).st_dev
    except OSError:
        return True
