"""``SimCamera``: a simulated Reolink RLC-810A on loopback.

RTSP and RTSPS (self-signed TLS) with Digest auth at the Reolink paths, main 3840×2160 at
25 fps (H.265 by default, H.264 as an option), sub 640×360 H.264 at 10 fps, AAC 16 kHz mono,
a minimal HTTP API, and fault switches: ``drop``, ``stall``, ``refuse``,
``reject_credentials``, ``none``. With ``clock=True`` both paths play one live 640×360 H.264
stream whose frames carry the time they were painted (``campy.sim.clock``, for latency).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import threading
from typing import Any

from campy.sim.clock import ClockSource
from campy.sim.http_api import ReolinkApi
from campy.sim.media import MAIN, SUB_SCENES, cache_dir, ensure_clip, ensure_snapshot
from campy.sim.rtsp import RtspServer
from campy.sim.source import MediaSource

log = logging.getLogger(__name__)
FAULTS = ("none", "drop", "stall", "refuse", "reject_credentials")


def _tls_context() -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1, made once with openssl and cached."""
    d = cache_dir()
    cert, key = d / "sim-cert.pem", d / "sim-key.pem"
    if not cert.exists() or not key.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                        "-subj", "/CN=campy-sim", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class SimCamera:
    def __init__(self, name: str = "cam", *, username: str = "admin", password: str = "password",
                 main_codec: str = "h265", audio: bool = True, host: str = "127.0.0.1",
                 sub_scene: str = "testsrc", port_base: int = 0, clock: bool = False) -> None:
        if main_codec not in MAIN:
            raise ValueError(f"main_codec must be one of {sorted(MAIN)}")
        self.name, self.username, self.password = name, username, password
        self.main_codec, self.audio, self.host = main_codec, audio, host
        # "walker": the sub stream shows a person crossing a calm scene (for detection);
        # "still": the same scene, empty; "testsrc": the moving test pattern.
        if sub_scene not in SUB_SCENES:
            raise ValueError(f"sub_scene must be one of {sorted(SUB_SCENES)}")
        self.sub_scene = sub_scene
        # 0: any free ports; else RTSP, RTSPS and HTTP on port_base, +1, +2 (a fixed range).
        self.port_base = port_base
        self.clock = clock
        if clock:
            self.main_codec, self.audio = "h264", False
        self.fault = "none"
        self._sources: dict[str, MediaSource] = {}
        self.rtsp: RtspServer | None = None
        self.rtsps: RtspServer | None = None
        self.api: ReolinkApi | None = None
        self._snapshot: bytes = b""

    # -- addresses ----------------------------------------------------------------------
    @property
    def rtsp_port(self) -> int:
        return self.rtsp.port if self.rtsp else 0

    @property
    def rtsps_port(self) -> int:
        return self.rtsps.port if self.rtsps else 0

    @property
    def http_port(self) -> int:
        return self.api.port if self.api else 0

    @property
    def main_url(self) -> str:
        return f"rtsp://{self.host}:{self.rtsp_port}/Preview_01_main"

    @property
    def sub_url(self) -> str:
        return f"rtsp://{self.host}:{self.rtsp_port}/Preview_01_sub"

    # -- paths --------------------------------------------------------------------------
    def _source_for(self, path: str) -> MediaSource | None:
        legacy_main = f"/{self.main_codec}Preview_01_main"
        if path in ("/Preview_01_main", legacy_main):
            return self._sources["main"]
        if path in ("/Preview_01_sub", "/h264Preview_01_sub"):
            return self._sources["sub"]
        return None  # e.g. /h264Preview_01_main while main is H.265 → 404, as on the camera

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sub_clip = await loop.run_in_executor(None, ensure_clip, SUB_SCENES[self.sub_scene])
        if self.clock:
            clock = ClockSource()
            self._snapshot = (await loop.run_in_executor(None, ensure_snapshot, sub_clip)).read_bytes()
            self._sources = {"main": clock, "sub": clock}
        else:
            main_clip = await loop.run_in_executor(None, ensure_clip, MAIN[self.main_codec])
            self._snapshot = (await loop.run_in_executor(None, ensure_snapshot, main_clip)).read_bytes()
            self._sources = {"main": MediaSource(main_clip, audio=self.audio),
                             "sub": MediaSource(sub_clip, audio=self.audio)}
        self.rtsp = RtspServer(username=self.username, password=self.password,
                               sources=self._source_for, host=self.host)
        base = self.port_base
        await self.rtsp.start(base)
        tls = await loop.run_in_executor(None, _tls_context)
        self.rtsps = RtspServer(username=self.username, password=self.password,
                                sources=self._source_for, host=self.host, ssl_context=tls)
        await self.rtsps.start(base + 1 if base else 0)
        self.api = ReolinkApi(name=self.name, username=self.username, password=self.password,
                              snapshot=lambda: self._snapshot, control=self._control, host=self.host)
        await self.api.start(base + 2 if base else 0)
        log.info("sim camera %s: rtsp %s rtsps %s http %s", self.name, self.rtsp_port,
                 self.rtsps_port, self.http_port)

    async def stop(self) -> None:
        for server in (self.rtsp, self.rtsps):
            if server:
                await server.stop()
        if self.api:
            await self.api.stop()
        for src in set(self._sources.values()):
            await src.stop()
            src.close()

    async def apply_fault(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        servers = [s for s in (self.rtsp, self.rtsps) if s]
        self.fault = fault
        for src in self._sources.values():
            src.paused = fault == "stall"
        for s in servers:
            s.faults.reject_credentials = fault == "reject_credentials"
            await s.set_refuse(fault == "refuse")
            if fault == "drop":
                s.drop_all()

    async def set_main_codec(self, codec: str) -> None:
        """Switch the main stream's codec (as SetEnc does): paths and media follow."""
        if codec not in MAIN:
            raise ValueError(f"main codec must be one of {sorted(MAIN)}")
        if self.clock:
            raise ValueError("a clock camera's main stream is always its live H.264 clock")
        loop = asyncio.get_running_loop()
        clip = await loop.run_in_executor(None, ensure_clip, MAIN[codec])
        old = self._sources["main"]
        self.main_codec = codec
        self._sources["main"] = MediaSource(clip, audio=self.audio)
        for s in (self.rtsp, self.rtsps):
            if s:
                s.drop_all()
        await old.stop()
        old.close()

    async def _control(self, action: str, data: dict[str, Any]) -> dict[str, Any]:
        if action == "fault":
            await self.apply_fault(str(data.get("fault", "none")))
        elif action == "main_codec":
            await self.set_main_codec(str(data.get("codec", "h265")))
        elif action != "state":
            return {"error": f"unknown action {action}"}
        return {"name": self.name, "fault": self.fault, "main_codec": self.main_codec,
                "rtsp_connections": self.rtsp.connections_total if self.rtsp else 0}

    # -- for synchronous callers (pytest fixtures, benchmarks) ----------------------------
    def run_in_thread(self) -> SimHandle:
        return SimHandle(self)

    def set_fault(self, fault: str) -> None:
        """Thread-safe fault switch for a camera started with ``run_in_thread``."""
        handle = getattr(self, "_handle", None)
        if handle is None:
            raise RuntimeError("set_fault() needs run_in_thread(); use apply_fault() in async code")
        handle.call(self.apply_fault(fault))


class SimHandle:
    """Runs a ``SimCamera`` on its own event loop in a daemon thread."""

    def __init__(self, cam: SimCamera) -> None:
        self.cam = cam
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"sim-{cam.name}", daemon=True)
        self._thread.start()
        cam._handle = self  # type: ignore[attr-defined]
        self.call(cam.start(), timeout=600)

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.cam.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
