"""Seekable playback: a finite MP4 of a bounded span, made once and served with Range.

``play.mp4`` without an end streams one open-ended fragmented MP4 (no length, no index), so
a browser's scrubber cannot move in it. With an end, the span (at most ``WINDOW_MS``,
``WINDOW_BYTES`` or ``WINDOW_FILES`` of footage, cut at segment ends) is stream-copied into an ordinary MP4 with
its index in front (``+faststart``): the browser knows its duration at once and seeks with
Range requests anywhere inside it. The file is kept a while for the Range requests a
seek makes, then deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from campy.procs import die_with_parent, terminate
from campy.recording.export import _codec_args, _write_list, concat_list
from campy.recording.model import Segment
from campy.recording.probe import ffmpeg_bin

log = logging.getLogger(__name__)

WINDOW_MS = 10 * 60_000  # a window spans at most this much footage...
WINDOW_BYTES = 96 * 1024 * 1024  # ...or this many bytes of segments (a 4K main stream: ~1-2 min)
# ...or this many files: ffmpeg's concat demuxer probes every file before the first byte, and
# probing decodes a frame (~0.1-0.4 s for 4K H.264 on a loaded box).
WINDOW_FILES = 20
# The first window after a click is short, so its first frame comes quickly; the page then
# asks for the following (full) windows ahead of time, so they are ready when it gets there.
FIRST_WINDOW_FILES = 3
KEEP_S = 15 * 60  # a window's file lives this long after it was last asked for
MAX_FILES = 24


def window(segments: Sequence[Segment], start_ms: int, *, files: int = WINDOW_FILES) -> list[Segment]:
    """The first segments of a contiguous run from ``start_ms`` that fit one window (at least one)."""
    out: list[Segment] = []
    size = 0
    for seg in segments:
        if out and (seg.end_ms - start_ms > WINDOW_MS or size + seg.size_bytes > WINDOW_BYTES
                    or len(out) >= min(files, WINDOW_FILES)):
            break
        out.append(seg)
        size += seg.size_bytes
    return out


class PlayFiles:
    """Finite MP4 files of playback windows under ``directory``."""

    def __init__(self, directory: Path, *, parallel: int = 2) -> None:
        self.directory = directory
        self._making: dict[str, asyncio.Future[Path]] = {}
        self._sem = asyncio.Semaphore(parallel)

    async def get(self, storage: Path, *, camera: str, stream: str, segments: Sequence[Segment],
                  start_ms: int, end_ms: int) -> Path:
        """The file of [start_ms, end_ms) of ``segments`` (made now, or earlier and kept)."""
        key = f"{camera}-{stream}-{start_ms}-{end_ms}-{segments[0].id}-{segments[-1].id}.mp4"
        out = self.directory / key
        while True:
            if out.exists():
                with contextlib.suppress(OSError):
                    os.utime(out)
                return out
            pending = self._making.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The one who was making it went away: make it here.
        fut: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._making[key] = fut
        try:
            async with self._sem:
                await self._make(storage, segments, start_ms, end_ms, out)
            fut.set_result(out)
        except asyncio.CancelledError:
            fut.cancel()  # the asker went away; a later ask makes the file again
            raise
        except Exception as err:
            fut.set_exception(err)
            fut.exception()  # retrieved: a waiter-less failure is not "never retrieved"
            raise
        finally:
            self._making.pop(key, None)
        self._expire(keep=out)
        return out

    async def _make(self, storage: Path, segments: Sequence[Segment], start_ms: int, end_ms: int, out: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        part = out.with_suffix(".part")
        listing = _write_list(concat_list(storage, segments, start_ms=start_ms, end_ms=end_ms))
        proc = await asyncio.create_subprocess_exec(
            ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
            "-i", str(listing), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", *_codec_args(segments),
            "-movflags", "+faststart", "-f", "mp4", str(part),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, preexec_fn=die_with_parent())
        try:
            _, err = await proc.communicate()
        finally:
            await terminate(proc, timeout=2)
            with contextlib.suppress(OSError):
                listing.unlink()
        if proc.returncode != 0 or not part.exists():
            with contextlib.suppress(OSError):
                part.unlink()
            raise RuntimeError((err.decode(errors="replace").strip().splitlines() or ["ffmpeg failed"])[-1][:300])
        os.replace(part, out)

    def _expire(self, *, keep: Path) -> None:
        try:
            every = list(self.directory.iterdir())
            files = sorted((p for p in every if p.suffix == ".mp4"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return
        now = time.time()
        for p in every:  # a half-made file of a run CamPy did not finish
            with contextlib.suppress(OSError):
                if p.suffix == ".part" and now - p.stat().st_mtime > KEEP_S:
                    p.unlink()
        for i, p in enumerate(files):
            with contextlib.suppress(OSError):
                if p != keep and (i >= MAX_FILES or now - p.stat().st_mtime > KEEP_S):
                    p.unlink()
