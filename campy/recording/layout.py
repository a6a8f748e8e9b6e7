"""Where segment files live: ``<storage>/<camera>/<UTC YYYY-MM-DD>/<HH>/<start>.mp4``.

A camera's sub stream recording (``record.sub``) lives beside it in ``<camera>.sub/`` with
the same layout: a dot never appears in a camera name, so the two never clash.

The file name is the segment's start (UTC, milliseconds), so a file found without an
index row still says when it began. ffmpeg writes into ``<camera>/.incoming/`` (the
segment muxer cannot create directories); a closed segment is renamed into place, on the
same filesystem, so a file is either complete in its place or not there.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

INCOMING = ".incoming"
QUARANTINE = ".quarantine"
_NAME_RE = re.compile(r"^(\d{8})T(\d{6})\.(\d{3})Z\.mp4$")
_INCOMING_RE = re.compile(r"^(\d{8})T(\d{6})Z?\.mp4$")
# ``<ms when the ffmpeg run began>-<segment number>.mp4``: unique even when two segments open
# within the same second, which happens when a run starts with a backlog of buffered packets
# (see ``incoming_pattern``).
_RUN_RE = re.compile(r"^(\d{10,16})-\d+\.mp4$")


STREAMS = ("main", "sub")


def track_dir(camera: str, stream: str = "main") -> str:
    """The directory (under the storage root) of one camera's recording of one stream."""
    return camera if stream == "main" else f"{camera}.{stream}"


def split_track(dirname: str) -> tuple[str, str]:
    """(camera, stream) of a directory made by ``track_dir``."""
    camera, dot, stream = dirname.partition(".")
    return (camera, stream) if dot and stream in STREAMS else (dirname, "main")


def segment_relpath(camera: str, start_ms: int, stream: str = "main") -> str:
    """The path of a segment, relative to the storage root."""
    t = datetime.fromtimestamp(start_ms / 1000, UTC)
    return (f"{track_dir(camera, stream)}/{t:%Y-%m-%d}/{t:%H}/"
            f"{t:%Y%m%dT%H%M%S}.{start_ms % 1000:03d}Z.mp4")


def parse_relpath(rel: str) -> tuple[str, int] | None:
    """(camera, start_ms) from a path made by ``segment_relpath``; None for anything else."""
    parts = rel.split("/")
    if len(parts) != 4:
        return None
    m = _NAME_RE.match(parts[3])
    if not m:
        return None
    t = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    start_ms = int(t.timestamp()) * 1000 + int(m.group(3))
    if segment_relpath(parts[0], start_ms) != rel:
        return None
    return parts[0], start_ms


def parse_track_relpath(rel: str) -> tuple[str, str, int] | None:
    """(camera, stream, start_ms) from a path made by ``segment_relpath``; None for anything else."""
    parsed = parse_relpath(rel)
    if parsed is None:
        return None
    camera, stream = split_track(parsed[0])
    return camera, stream, parsed[1]


def incoming_pattern(run_ms: int) -> str:
    """ffmpeg's output name for the segments of a run that began at ``run_ms``.

    Not ``-strftime`` names: those have whole seconds, so two segments opened within one
    second (the first segments of a run that starts with seconds of buffered packets) got the
    same name; ffmpeg truncated the first while CamPy was moving it, the first row got the
    second's bytes and the second's line found no file: a hole with no cause."""
    return f"{run_ms}-%06d.mp4"


def incoming_start_ms(name: str) -> int | None:
    """A lower bound of an incoming file's opening time (UTC ms) from its name: the start of
    its ffmpeg run (or the whole second of an older ``-strftime`` name)."""
    r = _RUN_RE.match(name)
    if r:
        return int(r.group(1))
    m = _INCOMING_RE.match(name)
    if not m:
        return None
    t = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return int(t.timestamp()) * 1000


def incoming_dir(storage: Path, camera: str, stream: str = "main") -> Path:
    return storage / track_dir(camera, stream) / INCOMING


def quarantine_dir(storage: Path) -> Path:
    return storage / QUARANTINE


def day_start_ms(day: str) -> int:
    """Epoch ms of 00:00 UTC of ``YYYY-MM-DD`` (ValueError if it is not such a date)."""
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * 1000


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
