"""The values recording passes around: segments, marks (motion/event windows), policies.

Times are UTC epoch milliseconds (``*_ms``), sizes bytes (``*_bytes``). An indexed segment
is always a closed, complete file: the segment ffmpeg is still writing is never in the
index, so nothing that reads the index (retention among them) can touch it.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Mode = Literal["continuous", "motion", "events"]
MarkKind = Literal["motion", "event"]

DAY_MS = 86_400_000


class Segment(msgspec.Struct, frozen=True):
    """One closed segment file, as indexed."""

    id: int
    camera: str
    start_ms: int
    end_ms: int
    size_bytes: int
    path: str = ""  # relative to the storage root
    codec: str = ""
    audio: bool = False
    stream: str = "main"  # or "sub": the camera's sub stream, recorded beside the main one


class Mark(msgspec.Struct, frozen=True):
    """A window of interest: motion, or an event (detection or manual "record now").

    ``end_ms`` is None while the window is still open. ``keep_until_ms`` is an event's own
    retention: footage overlapping it (with pre/post roll) is kept until then whatever its
    age; only the size cap or the free-space floor, when nothing else is left to delete,
    take it (retention rule 3b). None means: no protection of its own.
    """

    camera: str
    kind: MarkKind
    start_ms: int
    end_ms: int | None
    keep_until_ms: int | None = None
    id: int = 0


class CameraPolicy(msgspec.Struct, frozen=True):
    """How long one camera's footage is kept."""

    mode: Mode = "continuous"
    days: float = 7.0  # kept footage lives this long after it ends
    pre_roll_ms: int = 5_000
    post_roll_ms: int = 5_000
    # motion/events modes record everything; a segment that no window has claimed (yet)
    # is kept this long, because detection reports a window after it began.
    grace_ms: int = 120_000


class Deletion(msgspec.Struct, frozen=True):
    segment_id: int
    camera: str
    size_bytes: int
    reason: Literal["expired", "unmarked", "size", "free"]
    # a protected (marked) segment deleted because the size cap or the floor could not be
    # met otherwise (retention rule 3b)
    protected: bool = False


class RetentionPlan(msgspec.Struct, frozen=True):
    deletions: list[Deletion]
    # bytes the size cap or free-space floor still wanted freed but could not be
    # (everything left is protected by events); 0 when the limits are met.
    shortfall_bytes: int = 0


class LogRow(msgspec.Struct, frozen=True):
    """One row of the recording log: something that explains a gap (see ``gaps.py``)."""

    id: int
    at_ms: int
    end_ms: int | None
    camera: str | None
    kind: str
    detail: str = ""
