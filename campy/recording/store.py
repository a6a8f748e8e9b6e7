"""Putting segment files in place and taking them away, in the order the invariants need.

Create: ffmpeg closed the file → fsync the file → rename into ``<camera>/<day>/<hour>/``
→ fsync the directory → insert the row. Delete: mark the rows → unlink the files →
remove the rows. A crash between any two steps is repaired at the next start
(``campy.recording.recovery``), see docs/recording.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import threading
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from campy.clock import Clock
from campy.recording.index import RecordingIndex
from campy.recording.layout import incoming_start_ms, quarantine_dir, segment_relpath
from campy.recording.model import Segment
from campy.recording.probe import ProbeResult, probe, remux

log = logging.getLogger(__name__)


def fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)



def _let_loop_in(n: int, every: int = 64) -> None:
    """On a worker thread, sleep 1 ms every ``every`` files. A thread making many quick
    syscalls retakes the GIL before the event loop's thread gets it (the GIL has no fairness
    for that), which stalled the loop for 100 ms over 20k unlinks; the sleep lets it in."""
    if n % every == every - 1 and threading.current_thread() is not threading.main_thread():
        time.sleep(0.001)

class SegmentStore:
    """Moves closed segments into place and indexes them; deletes them in order."""

    def __init__(self, *, storage: Path, index: RecordingIndex, clock: Clock) -> None:
        self.storage = storage
        self.index = index
        self.clock = clock
        self._last_end: dict[tuple[str, str], int] = {}  # by (camera, stream)
        self._lock = asyncio.Lock()

    def last_end(self, camera: str, stream: str = "main") -> int | None:
        key = (camera, stream)
        if key not in self._last_end:
            end = self.index.last_end_ms(camera, stream)
            if end is None:
                return None
            self._last_end[key] = end
        return self._last_end[key]

    def forget(self, camera: str, stream: str = "main") -> None:
        self._last_end.pop((camera, stream), None)

    async def commit(self, camera: str, file: Path, *, start_ms: int, end_ms: int | None,
                     info: ProbeResult | None = None, stream: str = "main") -> Segment | None:
        """Index a closed segment file (in ``.incoming``); None if it holds nothing playable."""
        async with self._lock:
            try:
                size = file.stat().st_size
            except FileNotFoundError:
                return None
            if info is None:
                info = await probe(file)
            if size == 0 or info is None:
                return await self._salvage_locked(camera, file, start_ms=start_ms, stream=stream)
            duration = (end_ms - start_ms) if end_ms is not None else info.duration_ms
            # a worker thread: two fsyncs and a write that waits for the DB write lock (which a
            # retention pass or the nightly DB job may hold); commits still go one at a time
            return await asyncio.to_thread(self._place, camera, file, start_ms=start_ms, duration_ms=duration,
                                           size=size, info=info, stream=stream)

    async def salvage(self, camera: str, file: Path, *, start_ms: int | None,
                      stream: str = "main") -> Segment | None:
        """Index what can be played of a file ffmpeg did not close cleanly; quarantine the rest."""
        async with self._lock:
            return await self._salvage_locked(camera, file, start_ms=start_ms, stream=stream)

    async def _salvage_locked(self, camera: str, file: Path, *, start_ms: int | None,
                              stream: str = "main") -> Segment | None:
        if not file.exists():
            return None
        st = file.stat()
        if st.st_size == 0:
            file.unlink()
            return None
        fixed = file.with_name(file.name + ".repair")
        ok = await remux(file, fixed)
        info = await probe(fixed) if ok else None
        if info is None:
            with contextlib.suppress(FileNotFoundError):
                fixed.unlink()
            self.quarantine(file, camera=camera, why="unplayable")
            return None
        os.replace(fixed, file)
        if start_ms is None:
            # The file's mtime is when its last packet was written (ffmpeg flushes each
            # packet); the name (opening time, whole seconds) is the fallback.
            opened = incoming_start_ms(file.name)
            start_ms = int(st.st_mtime * 1000) - info.duration_ms
            # A start long before its run began means the mtime is wrong (a clock step).
            if opened is not None and start_ms < opened - 60_000:
                start_ms = opened
        log.info("camera %s: salvaged %.1f s from an interrupted segment", camera, info.duration_ms / 1000)
        return self._place(camera, file, start_ms=start_ms, duration_ms=info.duration_ms,
                           size=file.stat().st_size, info=info, stream=stream)

    def _place(self, camera: str, file: Path, *, start_ms: int, duration_ms: int, size: int,
               info: ProbeResult, stream: str = "main") -> Segment | None:
        if duration_ms <= 0:
            self.quarantine(file, camera=camera, why="empty")
            return None
        last = self.last_end(camera, stream)
        if last is not None and start_ms < last:
            # Segments of one camera's stream never overlap (invariant 2): a run that began while the
            # previous one was still flushing follows on from it.
            start_ms = last
        end_ms = start_ms + duration_ms
        rel = segment_relpath(camera, start_ms, stream)
        dest = self.storage / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        fsync_path(file)
        os.replace(file, dest)
        fsync_path(dest.parent, directory=True)
        seg_id = self.index.add_segment(camera=camera, start_ms=start_ms, end_ms=end_ms, size_bytes=size,
                                        path=rel, codec=info.codec, audio=info.audio, stream=stream)
        self._last_end[(camera, stream)] = end_ms
        return Segment(id=seg_id, camera=camera, start_ms=start_ms, end_ms=end_ms, size_bytes=size, path=rel,
                       codec=info.codec, audio=info.audio, stream=stream)

    def quarantine(self, file: Path, *, camera: str, why: str) -> None:
        qdir = quarantine_dir(self.storage)
        qdir.mkdir(parents=True, exist_ok=True)
        target = qdir / f"{camera}-{self.clock.now_ms()}-{file.name}"
        with contextlib.suppress(FileNotFoundError):
            os.replace(file, target)
            log.warning("camera %s: %s segment %s moved to %s", camera, why, file.name, target)

    def delete(self, segments: Iterable[Segment], *, index: RecordingIndex | None = None) -> int:
        """Delete segments in the safe order; returns bytes freed. ``index``: the calling
        thread's own (a retention pass runs in a worker thread)."""
        idx = index or self.index
        segs = list(segments)
        if not segs:
            return 0
        idx.mark_deleting([s.id for s in segs])
        freed = 0
        gone: list[int] = []
        for n, s in enumerate(segs):
            _let_loop_in(n)
            try:
                (self.storage / s.path).unlink()
                freed += s.size_bytes
            except FileNotFoundError:
                pass
            except OSError as err:
                # The row stays marked; the next start finishes the delete.
                log.warning("could not delete %s: %s", s.path, err)
                continue
            gone.append(s.id)
        idx.remove(gone)
        for n, s in enumerate(segs):
            _let_loop_in(n)
            with contextlib.suppress(OSError):
                (self.storage / s.path).parent.rmdir()  # an hour directory left empty
        return freed
