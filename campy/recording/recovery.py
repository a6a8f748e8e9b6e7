"""Startup reconciliation of the index and the files, both ways (docs/recording.md).

1. Rows marked ``deleting`` (a delete cut short): unlink the file if still there, drop the row.
2. Leftovers in ``<camera>/.incoming`` (the open segment of a crash): salvage what plays,
   index it, quarantine the rest.
3. Files in place without a row: index them if they play and fit (no overlap), else quarantine.
4. Rows without a file: drop them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import msgspec

from campy.recording.layout import INCOMING, QUARANTINE, parse_track_relpath, split_track
from campy.recording.probe import probe
from campy.recording.store import SegmentStore

log = logging.getLogger(__name__)


class RecoveryReport(msgspec.Struct):
    finished_deletes: int = 0
    salvaged: int = 0
    indexed_orphans: int = 0
    quarantined: int = 0
    dropped_rows: int = 0

    def any(self) -> bool:
        return any(msgspec.structs.astuple(self))


def _camera_dirs(storage: Path) -> list[Path]:
    try:
        return sorted(p for p in storage.iterdir() if p.is_dir() and p.name not in (QUARANTINE,)
                      and not p.name.startswith("."))
    except OSError:
        return []


async def recover(store: SegmentStore) -> RecoveryReport:
    """Bring the index and the files back in line; safe to run at any start."""
    report = RecoveryReport()
    index, storage = store.index, store.storage
    for seg_id, rel in index.deleting():
        with contextlib.suppress(FileNotFoundError):
            (storage / rel).unlink()
        index.remove([seg_id])
        report.finished_deletes += 1
    lost = []

    known = index.paths()
    seen: set[str] = set()
    for cam_dir in _camera_dirs(storage):
        camera, stream = split_track(cam_dir.name)
        incoming = cam_dir / INCOMING
        if incoming.is_dir():
            for f in sorted(incoming.iterdir()):
                if f.suffix != ".mp4":
                    with contextlib.suppress(OSError):
                        f.unlink()  # a half-written repair file
                    continue
                seg = await store.salvage(camera, f, start_ms=None, stream=stream)
                if seg is not None:
                    report.salvaged += 1
                    seen.add(seg.path)
                    known[seg.path] = seg.id
                else:
                    report.quarantined += 1
        for root, _dirs, files in os.walk(cam_dir):
            if Path(root).name == INCOMING:
                continue
            for name in sorted(files):
                path = Path(root) / name
                rel = path.relative_to(storage).as_posix()
                if rel in known:
                    seen.add(rel)
                    continue
                if await _index_orphan(store, path, rel):
                    report.indexed_orphans += 1
                    seen.add(rel)
                else:
                    report.quarantined += 1
    missing = [seg_id for rel, seg_id in known.items() if rel not in seen]
    if missing:
        # Their footage is gone: say so where a gap is explained (campy check, storage page).
        for seg_id in missing:
            seg = index.segment(seg_id)
            if seg is not None:
                lost.append((seg.start_ms, seg.end_ms, seg.camera, "footage_lost",
                             "its file was gone at startup (deleted outside CamPy?)"))
        index.log_many(lost)
        index.remove(missing)
        report.dropped_rows = len(missing)
        log.warning("recording index: dropped %d rows whose files are gone", len(missing))
    if report.any():
        log.info("recording recovery: %s", msgspec.structs.asdict(report))
    return report


async def _index_orphan(store: SegmentStore, path: Path, rel: str) -> bool:
    parsed = parse_track_relpath(rel)
    info = await probe(path) if parsed else None
    if parsed is None or info is None:
        store.quarantine(path, camera=rel.split("/")[0], why="unknown or unplayable")
        return False
    camera, stream, start_ms = parsed
    end_ms = start_ms + info.duration_ms
    clash = store.index.segments_between(camera, start_ms, end_ms, limit=1, stream=stream)
    if clash:
        store.quarantine(path, camera=camera, why="overlapping")
        return False
    store.index.add_segment(camera=camera, start_ms=start_ms, end_ms=end_ms, size_bytes=path.stat().st_size,
                            path=rel, codec=info.codec, audio=info.audio, stream=stream)
    store.forget(camera, stream)
    return True
