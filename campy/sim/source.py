"""One camera stream's media: a looping ffmpeg (copy, never re-encode) feeding RTP.

ffmpeg reads the cached clip in real time (``-re -stream_loop -1 -c copy``) and sends RTP
and RTCP over UDP on loopback to sockets owned here; every packet is fanned out to every
playing RTSP session as an interleaved frame. One ffmpeg per stream however many clients
watch, started at the first PLAY.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from campy.procs import die_with_parent

log = logging.getLogger(__name__)

# (track index, is_rtcp) for the four UDP sockets: video RTP/RTCP, audio RTP/RTCP.
_SOCKETS = ((0, False), (0, True), (1, False), (1, True))


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, source: MediaSource, track: int, rtcp: bool) -> None:
        self.source, self.track, self.rtcp = source, track, rtcp

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.source.fan_out(self.track, self.rtcp, data)


class MediaSource:
    def __init__(self, clip: Path, *, audio: bool) -> None:
        self.clip = clip
        self.audio = audio
        self.sdp: str | None = None
        self.sinks: set[Callable[[int, bool, bytes], None]] = set()
        self.paused = False  # the "stall" fault: keep sessions open, send nothing
        self._proc: asyncio.subprocess.Process | None = None
        self._transports: list[asyncio.DatagramTransport] = []
        self._lock = asyncio.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="campy-sim-")

    def fan_out(self, track: int, rtcp: bool, data: bytes) -> None:
        if self.paused:
            return
        for sink in list(self.sinks):
            sink(track, rtcp, data)

    # What a subclass may change: ffmpeg's command line, its stdin, and what runs beside it.
    _stdin: int = asyncio.subprocess.DEVNULL

    def _ffmpeg_args(self, ports: list[int], sdp_path: Path) -> list[str]:
        args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
                "-i", str(self.clip),
                "-map", "0:v:0", "-c", "copy", "-f", "rtp", "-payload_type", "96",
                f"rtp://127.0.0.1:{ports[0]}?rtcpport={ports[1]}&pkt_size=1400"]
        if self.audio:
            args += ["-map", "0:a:0", "-c", "copy", "-f", "rtp", "-payload_type", "97",
                     f"rtp://127.0.0.1:{ports[2]}?rtcpport={ports[3]}&pkt_size=1400"]
        args += ["-sdp_file", str(sdp_path)]
        return args

    def _started(self, proc: asyncio.subprocess.Process) -> None:
        """Called once ffmpeg runs (a live source starts feeding its stdin here)."""

    def _stopping(self) -> None:
        """Called before ffmpeg is stopped."""

    async def ensure_started(self) -> str:
        """Start ffmpeg if needed; returns ffmpeg's SDP (for codec parameters)."""
        async with self._lock:
            if self._proc is not None and self._proc.returncode is None and self.sdp:
                return self.sdp
            await self._stop_locked()
            loop = asyncio.get_running_loop()
            ports = []
            for track, rtcp in _SOCKETS[: 4 if self.audio else 2]:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Receiver, self, track, rtcp), local_addr=("127.0.0.1", 0))
                self._transports.append(transport)
                ports.append(transport.get_extra_info("sockname")[1])
            sdp_path = Path(self._tmp.name) / "ffmpeg.sdp"
            if sdp_path.exists():
                sdp_path.unlink()
            args = self._ffmpeg_args(ports, sdp_path)
            self._proc = await asyncio.create_subprocess_exec(
                *args, stdin=self._stdin, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
                # A looping ffmpeg runs forever: it must die with whoever runs the simulator.
                preexec_fn=die_with_parent())
            self._started(self._proc)
            for _ in range(200):
                if sdp_path.exists() and sdp_path.stat().st_size > 0:
                    await asyncio.sleep(0.05)  # let ffmpeg finish writing it
                    self.sdp = sdp_path.read_text()
                    return self.sdp
                if self._proc.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            await self._stop_locked()
            raise RuntimeError(f"ffmpeg did not start streaming {self.clip.name}")

    async def _stop_locked(self) -> None:
        self._stopping()
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for t in self._transports:
            t.close()
        self._transports.clear()
        self.sdp = None

    async def stop(self) -> None:
        async with self._lock:
            await self._stop_locked()

    def close(self) -> None:
        self._tmp.cleanup()
