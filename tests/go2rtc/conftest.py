"""A real go2rtc, supervised by CamPy's Go2rtcServer, on free loopback ports."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import threading

import pytest

from campy.go2rtc import Go2rtcClient, Go2rtcServer, Reconciler, find_binary
from campy.go2rtc.confgen import build_config, write_config
from campy.streams import StreamSpec
from tests.helpers import free_port

FAKE_SECRET = "Very$ecret-pw"


class LoopThread:
    """An asyncio loop in a thread, so sync tests can drive async parts."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def dead_spec(name: str, *, port: int | None = None, role: str = "main") -> StreamSpec:
    """A stream whose camera is a closed loopback port, with a password from the env."""
    port = port or free_port()
    return StreamSpec(name, name.removesuffix("_sub"), role,
                      (f"rtsp://admin:${{CAMPY_CAM_{name.upper()}_PASSWORD}}@127.0.0.1:{port}/Preview_01_main",),
                      {f"CAMPY_CAM_{name.upper()}_PASSWORD": FAKE_SECRET})


class G2R:
    def __init__(self, tmp_path, specs, *, api_port: int | None = None, ready_timeout: float = 15.0):
        self.tmp = tmp_path
        self.specs = dict(specs)
        self.api_port, self.rtsp_port, self.webrtc_port = api_port or free_port(), free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.auth = ("campy", secrets.token_hex(8))
        self.config_path = tmp_path / "go2rtc.generated.yaml"
        self.env: dict[str, str] = {}
        for s in self.specs.values():
            self.env.update(s.env)
        self.ready_calls = 0
        self.lt = LoopThread()
        self.client = self.lt.run(self._make_client())
        self.reconciler = Reconciler(self.client)
        self.write()
        self.server = Go2rtcServer(binary=find_binary(), config_path=self.config_path, api_url=self.api,
                                   auth=self.auth, env=self.env, secrets=lambda: [FAKE_SECRET],
                                   on_ready=self._on_ready, ready_timeout=ready_timeout)
        self.lt.run(self.server.start())

    async def _make_client(self):
        return Go2rtcClient(self.api, auth=self.auth, secrets=lambda: [FAKE_SECRET])

    def config(self, base=None) -> dict:
        return build_config(base=base, specs=self.specs, api_listen=f"127.0.0.1:{self.api_port}",
                            rtsp_listen=f"127.0.0.1:{self.rtsp_port}", webrtc_listen=f":{self.webrtc_port}",
                            username=self.auth[0], password=self.auth[1],
                            ffmpeg_bin=shutil.which("ffmpeg") or "ffmpeg")

    def write(self) -> None:
        write_config(self.config_path, self.config())

    async def _on_ready(self) -> None:
        self.ready_calls += 1
        self.reconciler.mark_loaded_from_config(self.specs)

    def call(self, coro, timeout: float = 30):
        return self.lt.run(coro, timeout)

    def stop(self) -> None:
        try:
            self.lt.run(self.server.stop())
            self.lt.run(self.client.aclose())
        finally:
            self.lt.close()


@pytest.fixture
def g2r(tmp_path):
    g = G2R(tmp_path, {"alpha": dead_spec("alpha"), "beta": dead_spec("beta")})
    try:
        yield g
    finally:
        g.stop()
