"""The compose deployment: go2rtc runs on its own and CamPy drives it only through its API."""

from __future__ import annotations

import asyncio
import subprocess

import httpx

from campy.go2rtc import find_binary
from tests.helpers import free_port, wait_until, write_config


def test_campy_pushes_streams_to_an_external_go2rtc(tmp_path, monkeypatch):
    from campy.runtime import Runtime

    api, rtsp, rtc = free_port(), free_port(), free_port()
    g2r_conf = tmp_path / "go2rtc.yaml"
    g2r_conf.write_text(
        f"api: {{listen: '127.0.0.1:{api}', username: ext, password: ext-pass, local_auth: true}}\n"
        f"rtsp: {{listen: '127.0.0.1:{rtsp}'}}\nwebrtc: {{listen: '127.0.0.1:{rtc}', ice_servers: []}}\n")
    g = subprocess.Popen([str(find_binary()), "-c", "/dev/null", "-c", str(g2r_conf)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{api}/api", auth=("ext", "ext-pass")).status_code == 200,
                   timeout=10, what="external go2rtc")
        cfg = write_config(tmp_path / "campy.yaml", [
            {"name": "yard", "main": "rtsp://127.0.0.1:9/Preview_01_main", "sub": "rtsp://127.0.0.1:9/Preview_01_sub",
             "username": "admin", "password": "!secret sim_password"}],
            port=free_port(), password_secret="yard-pw")
        cfg.write_text(cfg.read_text().replace("  base_config: null", f"  base_config: null\n  url: http://127.0.0.1:{api}"))
        monkeypatch.setenv("CAMPY_GO2RTC_USERNAME", "ext")
        monkeypatch.setenv("CAMPY_GO2RTC_PASSWORD", "ext-pass")

        async def scenario():
            rt = Runtime(cfg, admin_password="admin-password")
            await rt.start()
            try:
                assert rt.server is None  # CamPy did not spawn a go2rtc of its own
                streams = await rt.client.streams()
                # go2rtc serves CamPy's streams under secret names only
                secret = {rt.go2rtc_name("yard"), rt.go2rtc_name("yard_sub")}
                assert secret <= set(streams) and not {"yard", "yard_sub"} & set(streams)
                assert f"/{rt.go2rtc_name('yard')}?" in rt.restream_url("yard")
                # go2rtc checks RTSP credentials of non-loopback clients (the compose network)
                assert rt.restream_url("yard").startswith("rtsp://ext:ext-pass@127.0.0.1:")
            finally:
                await rt.stop()

        asyncio.run(scenario())
        assert not (tmp_path / "data" / "go2rtc.generated.yaml").exists()
    finally:
        g.terminate()
        g.wait(10)
