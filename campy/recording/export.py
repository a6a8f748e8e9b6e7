"""Reading footage back: a continuous playback stream and MP4 exports, both stream copy.

Both feed ffmpeg's concat demuxer a list of segment files with an ``inpoint`` for the
first and an ``outpoint`` for each (its indexed span, or the end of the range), so the output is one continuous MP4 with no seam between
segments and no re-encode. Playback stops at the first gap (the page then jumps to the
next recorded span), so the stream's clock stays equal to wall-clock footage time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from campy.clock import Clock
from campy.procs import die_with_parent, terminate
from campy.recording.model import Segment
from campy.recording.probe import FRAG_FLAGS, ffmpeg_bin
from campy.recording.quotas import check_export, estimate_export_bytes

log = logging.getLogger(__name__)

GAP_MS = 1_500
MAX_EXPORT_MS = 24 * 3_600_000
PLAY_WINDOW_MS = 3_600_000


def contiguous(segments: Sequence[Segment], start_ms: int, *, gap_ms: int = GAP_MS,
               limit_ms: int = PLAY_WINDOW_MS) -> list[Segment]:
    """The run of segments from the one holding ``start_ms`` (or the next) up to the first gap."""
    out: list[Segment] = []
    for seg in segments:
        if seg.end_ms <= start_ms:
            continue
        if out and seg.start_ms - out[-1].end_ms > gap_ms:
            break
        if out and seg.start_ms - out[0].start_ms > limit_ms:
            break
        out.append(seg)
    return out


def concat_list(storage: Path, segments: Sequence[Segment], *, start_ms: int, end_ms: int | None) -> str:
    """An ffconcat script for ``segments`` trimmed to [start_ms, end_ms]."""
    lines = ["ffconcat version 1.0"]
    for i, seg in enumerate(segments):
        path = str((storage / seg.path).resolve()).replace("'", "'\\''")
        lines.append(f"file '{path}'")
        if i == 0 and start_ms > seg.start_ms:
            lines.append(f"inpoint {(start_ms - seg.start_ms) / 1000:.3f}")
        if end_ms is not None and i == len(segments) - 1 and end_ms < seg.end_ms:
            lines.append(f"outpoint {(end_ms - seg.start_ms) / 1000:.3f}")
        else:
            # Each file is cut at its indexed span: its audio runs a few tens of ms past its
            # last video frame, and stacking whole files made the stream's clock run ahead of
            # the footage's (~40 ms a segment).
            lines.append(f"outpoint {(seg.end_ms - seg.start_ms) / 1000:.3f}")
    return "\n".join(lines) + "\n"


def _codec_args(segments: Sequence[Segment]) -> list[str]:
    # Safari (and Chrome's HEVC path) want HEVC tagged hvc1 in MP4.
    return ["-tag:v", "hvc1"] if segments and segments[0].codec in ("hevc", "h265") else []


def _write_list(text: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="campy-concat-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return Path(name)


async def play_stream(storage: Path, segments: Sequence[Segment], *, start_ms: int) -> AsyncIterator[bytes]:
    """Fragmented MP4 bytes of ``segments`` from ``start_ms``, as ffmpeg makes them."""
    listing = _write_list(concat_list(storage, segments, start_ms=start_ms, end_ms=None))
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0",
        "-i", str(listing), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", *_codec_args(segments),
        "-movflags", FRAG_FLAGS, "-f", "mp4", "pipe:1",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_parent())
    try:
        assert proc.stdout is not None
        while True:
            chunk = await proc.stdout.read(256 * 1024)
            if not chunk:
                break
            yield chunk
    finally:
        await terminate(proc, timeout=2, sig=signal.SIGKILL)
        with contextlib.suppress(OSError):
            listing.unlink()


class ExportJob(msgspec.Struct):
    id: str
    camera: str
    start_ms: int
    end_ms: int
    owner: str
    state: str = "queued"  # queued, running, done, failed
    progress: float = 0.0
    size_bytes: int = 0
    error: str | None = None
    created_ms: int = 0
    estimate_bytes: int = 0  # counted against free space until the job ends
    timezone: str = "UTC"  # the zone of the file name's date and time

    def view(self) -> dict[str, Any]:
        d = msgspec.structs.asdict(self)
        d.pop("owner")
        d.pop("timezone")
        d["download_url"] = f"/api/exports/{self.id}/download" if self.state == "done" else None
        d["filename"] = self.filename
        return d

    @property
    def filename(self) -> str:
        """``<camera>-<local start YYYY-MM-DD_HHMMSS>-<UTC offset>-<start ms>-<end ms>.mp4``."""
        from campy.localtime import local_time  # local: only for the name

        when = local_time(self.timezone).format(self.start_ms, "%Y-%m-%d_%H%M%S%z")
        return f"{self.camera}-{when}-{self.start_ms}-{self.end_ms}.mp4"


class Exporter:
    """Runs export jobs (one ffmpeg each, at most ``parallel`` at once) into ``directory``."""

    def __init__(self, *, directory: Path, clock: Clock, keep_ms: int = 24 * 3_600_000, parallel: int = 2) -> None:
        self.directory = directory
        self.clock = clock
        self.keep_ms = keep_ms
        self.jobs: dict[str, ExportJob] = {}
        self._sem = asyncio.Semaphore(parallel)
        self._tasks: set[asyncio.Task[None]] = set()

    def path(self, job: ExportJob) -> Path:
        return self.directory / f"{job.id}.mp4"

    def start(self, *, camera: str, start_ms: int, end_ms: int, owner: str, storage: Path,
              segments: Sequence[Segment], floor_bytes: int | None = None, timezone: str = "UTC") -> ExportJob:
        """Queue an export; ``QuotaExceeded`` if ``owner`` is over a quota (``quotas.py``)."""
        self._expire()
        estimate = estimate_export_bytes(segments, start_ms, end_ms)
        check_export(user=owner, jobs=self.jobs.values(), now_ms=self.clock.now_ms(), estimate_bytes=estimate,
                     directory=self.directory, storage=storage, floor_bytes=floor_bytes)
        job = ExportJob(id=secrets.token_hex(8), camera=camera, start_ms=start_ms, end_ms=end_ms, owner=owner,
                        created_ms=self.clock.now_ms(), estimate_bytes=estimate, timezone=timezone)
        self.jobs[job.id] = job
        task = asyncio.create_task(self._run(job, storage, list(segments)), name=f"export-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def wait(self, job: ExportJob) -> None:
        while job.state in ("queued", "running"):
            await asyncio.sleep(0.1)

    async def _run(self, job: ExportJob, storage: Path, segments: list[Segment]) -> None:
        async with self._sem:
            job.state = "running"
            try:
                await self._ffmpeg(job, storage, segments)
            except Exception as err:  # reported on the job, never raised into the loop
                log.exception("export %s failed", job.id)
                job.state, job.error = "failed", str(err)

    async def _ffmpeg(self, job: ExportJob, storage: Path, segments: list[Segment]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.path(job)
        part = out.with_suffix(".part")
        listing = _write_list(concat_list(storage, segments, start_ms=job.start_ms, end_ms=job.end_ms))
        first = max(job.start_ms, segments[0].start_ms)
        last = min(job.end_ms, segments[-1].end_ms)
        total_us = max(1, (last - first) * 1000)
        proc = await asyncio.create_subprocess_exec(
            ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
            "-i", str(listing), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", *_codec_args(segments),
            "-movflags", "+faststart", "-f", "mp4", "-progress", "pipe:1", "-nostats", str(part),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, preexec_fn=die_with_parent())
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                key, _, value = raw.decode(errors="replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    job.progress = min(0.99, int(value) / total_us)
            err = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
            await proc.wait()
        finally:
            await terminate(proc, timeout=2)
            with contextlib.suppress(OSError):
                listing.unlink()
        if proc.returncode != 0 or not part.exists():
            with contextlib.suppress(OSError):
                part.unlink()
            job.state, job.error = "failed", (err.strip().splitlines() or ["ffmpeg failed"])[-1][:300]
            return
        os.replace(part, out)
        job.size_bytes = out.stat().st_size
        job.progress, job.state = 1.0, "done"

    def _expire(self) -> None:
        now = self.clock.now_ms()
        for job_id, job in list(self.jobs.items()):
            if job.state in ("done", "failed") and now - job.created_ms > self.keep_ms:
                with contextlib.suppress(OSError):
                    self.path(job).unlink()
                del self.jobs[job_id]

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

