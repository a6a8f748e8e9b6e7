"""One camera's recorder: a supervised ``ffmpeg -c copy`` from go2rtc's restream into segments.

ffmpeg's segment muxer writes fragmented MP4 files into ``<camera>/.incoming/`` and, each
time it closes one, prints a CSV line (``name,start,end`` in stream seconds) on stdout.
The recorder turns that line into wall-clock times and hands the file to a ``SegmentSink``
(the manager), which moves it into place and indexes it.

Times: see ``campy.recording.timing`` (the first segment of a run ends at its file's mtime,
later ones follow by stream position, slewed towards the files' mtimes). Codecs are probed
once per ffmpeg run (the first closed segment); later segments take their duration from the
segment list and their codecs from that probe, so no ``ffprobe`` runs per segment.

Every exit and stop is reported to ``on_event`` (``recorder_exit`` / ``recorder_stop`` with
the reason), so a gap in the footage can be explained (``campy.recording.gaps``). Retries
that fail the same way are reported once.

Failure handling: ffmpeg exits when go2rtc or the camera goes away (RTSP read timeout);
the recorder salvages the segment that was open, waits (backoff capped at 1 s, so
recording resumes within a few seconds of the camera's return) and starts again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from campy.clock import Clock
from campy.procs import die_with_parent, terminate
from campy.recording.layout import incoming_dir, incoming_pattern
from campy.recording.probe import FRAG_FLAGS, ProbeResult, ffmpeg_bin, probe
from campy.recording.timing import RunTimeline

log = logging.getLogger(__name__)

# Short on purpose: a camera that comes back must be recording again within seconds; a retry
# against a camera that is still down costs one refused RTSP DESCRIBE.
_BACKOFF = (0.5, 1.0)
_STABLE_RUN_S = 30.0
_MAX_HELD = 6  # segments held at most while a run's backlog drains
STATS_PERIOD_S = 5  # ffmpeg's -progress block every this many seconds: the frame rate's window
_PROGRESS = re.compile(r"^(frame|fps|stream_\d+_\d+_q|bitrate|total_size|out_time(_us|_ms)?|dup_frames|drop_frames"
                       r"|speed|progress)=\S*$")


class FrameCount:
    """Frames the recorder's ffmpeg copied, from its ``-progress`` blocks on stderr: a total over
    every run (only grows) and the frame rate of the last block, per second of *stream* time
    (what the camera sends, not how fast ffmpeg happened to be scheduled)."""

    def __init__(self) -> None:
        self.before = 0  # frames of the runs that ended
        self.run = 0  # frames of the current run
        self.fps: float | None = None
        self._block: dict[str, str] = {}
        self._last: tuple[int, int] | None = None  # (frames, out_time_us) of the previous block

    @property
    def total(self) -> int:
        return self.before + self.run

    def new_run(self) -> None:
        self.before, self.run, self.fps, self._last, self._block = self.total, 0, None, None, {}

    def feed(self, line: str) -> bool:
        """Take one stderr line; False when it is not a progress line (a warning, an error)."""
        if not _PROGRESS.match(line):
            return False
        key, _, value = line.partition("=")
        if key != "progress":
            self._block[key] = value
            return True
        try:
            frames, out_us = int(self._block["frame"]), int(self._block["out_time_us"])
        except (KeyError, ValueError):
            return True
        self.run = max(self.run, frames)
        if self._last is not None and out_us > self._last[1] and frames >= self._last[0]:
            self.fps = round((frames - self._last[0]) / ((out_us - self._last[1]) / 1e6), 2)
        self._last, self._block = (frames, out_us), {}
        return True


class SegmentSink(Protocol):
    async def commit(self, camera: str, file: Path, *, start_ms: int, end_ms: int | None,
                     info: ProbeResult | None = None, stream: str = "main") -> Any: ...

    async def salvage(self, camera: str, file: Path, *, start_ms: int | None, stream: str = "main") -> Any: ...


def ffmpeg_args(*, url: str, out_dir: Path, segment_seconds: int, run_ms: int) -> list[str]:
    """The recorder's ffmpeg command line (stream copy only, never a re-encode)."""
    return [
        ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "warning",
        "-stats_period", str(STATS_PERIOD_S), "-progress", "pipe:2",  # frame counts (FrameCount)
        "-rtsp_transport", "tcp", "-timeout", "5000000",  # µs without data → exit, then restart
        "-i", url,
        "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
        "-flush_packets", "1",  # each fragment reaches the file as it is made
        "-f", "segment", "-segment_time", str(segment_seconds), "-segment_format", "mp4",
        "-segment_format_options", f"movflags={FRAG_FLAGS}:frag_duration=1000000",
        "-reset_timestamps", "1",
        "-segment_list", "pipe:1", "-segment_list_type", "csv",
        str(out_dir / incoming_pattern(run_ms)),
    ]


class Recorder:
    """Supervises one camera's ffmpeg; ``await run()`` until cancelled."""

    def __init__(self, *, camera: str, url: str, storage: Path, segment_seconds: int, sink: SegmentSink,
                 clock: Clock, scrub: Callable[[str], str],
                 on_storage_error: Callable[[str], Awaitable[None]] | None = None,
                 on_event: Callable[..., None] | None = None, stream: str = "main") -> None:
        self.camera = camera
        self.stream = stream  # "main" or "sub": which of the camera's streams this records
        self.url = url
        self.storage = storage
        self.segment_seconds = segment_seconds
        self.sink = sink
        self.clock = clock
        self.scrub = scrub
        self.on_storage_error = on_storage_error
        self.on_event = on_event
        # Set by whoever stops the recorder; this default is for a recorder that crashed.
        self.stop_reason = "the recorder crashed (see the log) and is restarted"
        self.state = "starting"
        self.error: str | None = None
        self.restarts = 0
        self.segments = 0
        self.last_segment_end_ms: int | None = None
        self.started_ms: int | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self._next_start: int | None = None
        self._timeline = RunTimeline()
        self._info: ProbeResult | None = None  # codecs of this ffmpeg run (probed once)
        self._run_segments = 0
        self._pending: list[tuple[Path, float, float, int | None]] = []
        self._reported: str | None = None  # the last exit reason reported to on_event
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self.frames = FrameCount()

    def status(self) -> dict[str, Any]:
        return {"camera": self.camera, "stream": self.stream, "state": self.state, "error": self.error, "restarts": self.restarts,
                "segments": self.segments, "last_segment_end_ms": self.last_segment_end_ms,
                "fps": self.frames.fps if self.state == "recording" else None, "frames_total": self.frames.total,
                "pid": self.proc.pid if self.proc and self.proc.returncode is None else None}

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                out = incoming_dir(self.storage, self.camera, self.stream)
                problem = _check_writable(out)
                if problem:
                    self.state, self.error = "error", problem
                    self._report("recorder_exit", problem)
                    if self.on_storage_error:
                        await self.on_storage_error(problem)
                    await asyncio.sleep(5)
                    continue
                await self._salvage_leftovers(out)
                began = time.monotonic()
                await self._run_once(out)
                if self.state != "stopped":
                    self.restarts += 1
                failures = 0 if time.monotonic() - began > _STABLE_RUN_S else failures + 1
                await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
        finally:
            self.state = "stopped"
            if self.proc is not None:
                await terminate(self.proc, sig=signal.SIGINT, group=True)
                # SIGINT lets ffmpeg close the open segment and print its line: index it like
                # any other (no remux, no probe) before salvaging whatever is left.
                with contextlib.suppress(Exception):
                    await self._drain(incoming_dir(self.storage, self.camera, self.stream))
                await self._salvage_leftovers(incoming_dir(self.storage, self.camera, self.stream))
            if self.on_event is not None:
                self.on_event("recorder_stop", self.stop_reason)

    def _report(self, kind: str, reason: str) -> None:
        """Tell ``on_event`` about an exit, once per distinct reason while nothing records."""
        key = _sans_ids(reason)
        if self._reported == key:
            return
        self._reported = key
        if self.on_event is not None:
            self.on_event(kind, reason)

    async def _drain(self, out: Path) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        rest = await asyncio.wait_for(proc.stdout.read(), 5)
        for line in rest.decode(errors="replace").splitlines():
            await self._on_line(out, line.strip())
        await self._flush_pending()

    async def _salvage_leftovers(self, out: Path) -> None:
        """Whatever ffmpeg left in .incoming (the open segment of a run that died)."""
        try:
            leftovers = sorted(p for p in out.iterdir() if p.suffix == ".mp4")
        except OSError:
            return
        for path in leftovers:
            hint = self._next_start if path == leftovers[0] else None
            try:
                seg = await self.sink.salvage(self.camera, path, start_ms=hint, stream=self.stream)
            except Exception:
                log.exception("camera %s: could not salvage %s", self.camera, path.name)
                continue
            if seg is not None:
                self.segments += 1
                self.last_segment_end_ms = getattr(seg, "end_ms", None)
        self._next_start = None

    async def _run_once(self, out: Path) -> None:
        self.state, self._next_start = "starting", None
        self._timeline = RunTimeline(prev_end_ms=self.last_segment_end_ms)
        self._info, self._run_segments, self._pending = None, 0, []
        self._stderr.clear()
        self.frames.new_run()
        self.proc = await asyncio.create_subprocess_exec(
            *ffmpeg_args(url=self.url, out_dir=out, segment_seconds=self.segment_seconds,
                         run_ms=self.clock.now_ms()),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            # SIGINT lets ffmpeg close the open segment cleanly if CamPy dies.
            preexec_fn=die_with_parent(signal.SIGINT),
            env={**{k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}, "TZ": "UTC"},
        )
        self.started_ms = self.clock.now_ms()
        err_task = asyncio.create_task(self._read_stderr(self.proc))
        try:
            assert self.proc.stdout is not None
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                await self._on_line(out, line.decode(errors="replace").strip())
            await self._flush_pending()
            await self.proc.wait()
        finally:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(err_task, 2)
        if self.state == "stopped":
            return
        tail = self.scrub(" | ".join(self._stderr)) or f"ffmpeg exited with status {self.proc.returncode}"
        # The same failure on every retry (a camera that is down) is logged once, not every time.
        same = _sans_ids(tail) == _sans_ids(self.error or "")
        self.state, self.error = "waiting", tail
        if self._run_segments:
            self._reported = None  # this run recorded: its end is news even if the reason is not
        self._report("recorder_exit", tail)
        (log.debug if same else log.warning)("camera %s: recorder stopped (%s); restarting", self.camera,
                                             tail[-300:])

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode(errors="replace").strip()
            if text and not self.frames.feed(text):
                self._stderr.append(text)

    async def _on_line(self, out: Path, line: str) -> None:
        parts = line.rsplit(",", 2)
        if len(parts) != 3:
            return
        name, t0s, t1s = parts
        try:
            t0, t1 = float(t0s), float(t1s)
        except ValueError:
            return
        if t1 <= t0:
            return
        file = out / os.path.basename(name)
        try:
            mtime_ms: int | None = int(file.stat().st_mtime * 1000)
        except OSError:
            mtime_ms = None
        if self._timeline.anchored:
            await self._place(file, t0, t1, mtime_ms)
            return
        # A run often starts with a backlog (ffmpeg, slow to start under load, writes seconds
        # of buffered packets at once): the first files' mtimes are late. Hold the run's first
        # segments until one is written at the stream's own pace, then anchor them all on the
        # smallest lag seen (docs/recording.md, "Time").
        self._pending.append((file, t0, t1, mtime_ms))
        if self._live():
            await self._flush_pending()

    def _live(self) -> bool:
        p = self._pending
        if len(p) >= _MAX_HELD:
            return True
        if len(p) < 2:
            return False
        (_, _, a1, am), (_, _, b1, bm) = p[-2], p[-1]
        return am is None or bm is None or (bm - am) >= 0.5 * (b1 - a1) * 1000

    async def _flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        first_t1 = pending[0][2]
        ends = [m - int(round((t1 - first_t1) * 1000)) for _, _, t1, m in pending if m is not None]
        for i, (file, t0, t1, _m) in enumerate(pending):
            # Later held segments follow by stream position alone: their mtimes are the backlog's.
            await self._place(file, t0, t1, (min(ends) if ends else None) if i == 0 else None)

    async def _place(self, file: Path, t0: float, t1: float, mtime_ms: int | None) -> None:
        start, end = self._timeline.place(t0, t1, mtime_ms=mtime_ms, now_ms=self.clock.now_ms())
        if self._timeline.jump_ms and self.on_event is not None:
            # ffmpeg kept running but its input skipped: go2rtc lost the camera for a moment
            # and reconnected. Logged so the gap it leaves has a name.
            self.on_event("stream_gap", f"the stream skipped {self._timeline.jump_ms / 1000:.1f} s "
                                        "(go2rtc reconnected to the camera)", at_ms=start)
        info = None
        if self._info is not None:
            info = ProbeResult(duration_ms=end - start, codec=self._info.codec, audio=self._info.audio)
        elif file.exists():
            # Once per ffmpeg run: the codecs cannot change within a stream copy.
            probed = await probe(file)
            if probed is not None:
                self._info = probed
                info = ProbeResult(duration_ms=end - start, codec=probed.codec, audio=probed.audio)
        seg = await self.sink.commit(self.camera, file, start_ms=start, end_ms=end, info=info, stream=self.stream)
        self._next_start = end
        if seg is not None:
            if self.state != "recording" and self.error:
                log.info("camera %s: recording again", self.camera)
            self.state, self.error = "recording", None
            self._reported = None
            self.segments += 1
            self._run_segments += 1
            self.last_segment_end_ms = getattr(seg, "end_ms", None)
            if self.last_segment_end_ms is not None and self.last_segment_end_ms != end:
                # The store moved it (it would have overlapped the previous run's last segment).
                self._timeline.moved(self.last_segment_end_ms)
            self._next_start = max(end, self.last_segment_end_ms or 0)


def _sans_ids(text: str) -> str:
    """ffmpeg's message without the pointer values that differ between runs."""
    return re.sub(r"0x[0-9a-f]+", "", text)


def _check_writable(directory: Path) -> str | None:
    """None if segments can be written under ``directory``; otherwise a message for the user."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        return f"storage path {directory.parent.parent} is not writable ({err.strerror or err})"
    return None
