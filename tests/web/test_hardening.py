"""Hardening of what CamPy runs and writes (issue 10): go2rtc's restream, camera URLs, the
stored camera password, file modes under the data dir, and go2rtc's WebRTC listen address.

Real `campy serve`, go2rtc, ffmpeg and a simulated camera that checks Digest auth.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import time

import psutil
import pytest
from websockets.sync.client import connect as ws_connect

from tests.helpers import CampyProcess, api, free_port, post_form, wait_until, write_config
from tests.web.conftest import camera_entries

# go2rtc expands ${VAR} in its config; a camera password must still reach the camera as typed.
CAM_PW = "pa$$w${HOME}rd$"
MSE_REQUEST = json.dumps({"type": "mse", "value": "avc1.640029,avc1.64002A,avc1.640033,mp4a.40.2,opus"})


@pytest.fixture(scope="module")
def sim():
    from campy.sim.camera import SimCamera

    cam = SimCamera("front", username="admin", password=CAM_PW, main_codec="h264")
    handle = cam.run_in_thread()
    try:
        yield cam
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def hard(sim, tmp_path_factory):
    """CamPy started under umask 0o022, with a data dir an older CamPy left world-readable."""
    d = tmp_path_factory.mktemp("hard")
    port = free_port()
    cfg = write_config(d / "campy.yaml", [
        {"name": "front", "main": sim.main_url, "sub": sim.sub_url, "username": "admin",
         "password": "!secret sim_password"}],
        port=port, password_secret=CAM_PW, recording={"segment_seconds": 2, "min_free": "null"})
    data = d / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    (data / "leftover.txt").write_text("from an older CamPy\n")
    os.chmod(data / "leftover.txt", 0o644)
    old = os.umask(0o022)
    try:
        proc = CampyProcess(cfg, port)
    finally:
        os.umask(old)
    try:
        yield proc
    finally:
        left = proc.stop()
        assert not left, f"processes left behind after CamPy stopped: {left}"


@pytest.fixture(scope="module")
def admin(hard):
    return hard.client()


def _segments(client, cam="front"):
    r = client.get(f"/api/cameras/{cam}/recordings")
    assert r.status_code == 200, r.text
    return r.json()


def _wait_segments(client, n, *, after_ms=0, timeout=90):
    return wait_until(lambda: len([s for s in _segments(client) if s["start_ms"] >= after_ms]) >= n,
                      timeout=timeout, what=f"{n} recorded segments of front")


def _rtsp_port(campy: CampyProcess) -> int:
    from ruamel.yaml import YAML

    gen = YAML(typ="safe").load(campy.data_file("go2rtc.generated.yaml").read_text())
    return int(gen["rtsp"]["listen"].rsplit(":", 1)[1])


def _describe(port: int, path: str) -> str:
    """The status line go2rtc's RTSP server answers a plain DESCRIBE with (no credentials)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(f"DESCRIBE rtsp://127.0.0.1:{port}/{path} RTSP/1.0\r\nCSeq: 1\r\n"
                  "Accept: application/sdp\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").split("\r\n", 1)[0]


def _secret_name(campy: CampyProcess, public: str) -> str:
    names = [n for n in campy.go2rtc_streams(raw=True) if n.split("__", 1)[0] == public]
    assert len(names) == 1, names
    return names[0]


def test_a_password_with_dollars_reaches_the_camera_and_recording_works(hard, admin):
    _wait_segments(admin, 1)
    wait_until(lambda: admin.get("/api/cameras/front").json()["state"] == "online", timeout=60,
               what="front online")


def test_the_restream_gives_nothing_under_public_names(hard, admin):
    _wait_segments(admin, 1)  # the streams exist and are being read
    port = _rtsp_port(hard)
    for path in ("front", "front?mp4", "front_sub", "front_sub?video"):
        assert " 404 " in _describe(port, path), path
    # The same request with go2rtc's secret name is answered: the test could see media.
    assert " 200 " in _describe(port, _secret_name(hard, "front_sub"))


def test_a_publisher_into_a_public_name_changes_nothing(hard, admin):
    port = _rtsp_port(hard)
    secret = _secret_name(hard, "front")
    t0 = int(time.time() * 1000)
    pub = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
         "-i", "color=c=red:size=64x64:rate=5", "-t", "30", "-c:v", "libx264", "-preset", "ultrafast",
         "-f", "rtsp", "-rtsp_transport", "tcp", f"rtsp://127.0.0.1:{port}/front"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def intruders() -> list:
        streams = hard.go2rtc_streams(raw=True)
        # CamPy's producers come from its config and carry a URL; a publisher has none.
        return [(n, p.get("remote_addr")) for n, s in streams.items()
                for p in (s.get("producers") or []) if not p.get("url")]

    try:
        wait_until(lambda: pub.poll() is not None or intruders(), timeout=40,
                   what="the publisher to be refused or accepted")
        assert not intruders()
        assert "front" not in hard.go2rtc_streams(raw=True)
    finally:
        pub.kill()
        pub.wait()
    assert pub.returncode != 0  # go2rtc dropped the connection
    assert secret in hard.go2rtc_streams(raw=True)
    _wait_segments(admin, 1, after_ms=t0)


def test_dollar_in_camera_urls_and_username_is_refused(admin):
    cases = [
        ({"main": "rtsp://evil.example/${CAMPY_GO2RTC_API_PASS}"}, "main"),
        ({"main": "rtsp://127.0.0.1:9/a", "sub": "rtsp://evil.example/$HOME"}, "sub"),
        ({"main": "rtsp://127.0.0.1:9/a", "username": "${CAMPY_CAM_FRONT_PASSWORD}"}, "username"),
    ]
    for body, field in cases:
        r = api(admin, "POST", "/api/cameras", json={"name": "dollar", **body})
        assert r.status_code == 400, r.text
        assert "'$'" in r.json()["error"]["fields"][field]
        r = post_form(admin, "/cameras", {"name": "dollar", **body})
        assert r.status_code == 400 and "must not contain" in r.text, r.text
    assert api(admin, "GET", "/api/cameras/dollar").status_code == 404


def test_a_stored_password_is_not_sent_to_a_changed_host(admin):
    r = api(admin, "POST", "/api/cameras", json={"name": "side", "main": "rtsp://127.0.0.1:9/a",
                                                  "username": "admin", "password": "side-pw"})
    assert r.status_code == 201, r.text
    try:
        moved = {"main": "rtsp://203.0.113.7/a", "username": "admin"}
        msg = "the camera's address changed: enter its password again"
        r = api(admin, "PUT", "/api/cameras/side", json=moved)
        assert r.status_code == 400 and r.json()["error"]["fields"] == {"password": msg}, r.text
        r = post_form(admin, "/cameras/side/edit", {**moved, "password": "", "enabled": "on"})
        assert r.status_code == 400 and msg in r.text.replace("&#39;", "'"), r.text
        assert admin.get("/api/cameras/side").json()["main"] == "rtsp://127.0.0.1:9/a"
        # Same address, other path: the stored password is kept.
        r = api(admin, "PUT", "/api/cameras/side", json={"main": "rtsp://127.0.0.1:9/b", "username": "admin"})
        assert r.status_code == 200 and r.json()["password_set"], r.text
        # The password entered again: accepted.
        r = api(admin, "PUT", "/api/cameras/side", json={**moved, "password": "new-pw"})
        assert r.status_code == 200 and r.json()["main"] == moved["main"], r.text
    finally:
        api(admin, "DELETE", "/api/cameras/side")


def test_everything_under_the_data_dir_is_private(hard, admin):
    _wait_segments(admin, 2)
    data = hard.config.parent / "data"
    loose = []
    paths = [str(data)] + [os.path.join(root, n) for root, dirs, files in os.walk(data) for n in dirs + files]
    for p in paths:
        with contextlib.suppress(FileNotFoundError):  # a segment being finished may go
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                loose.append(f"{p} {oct(stat.S_IMODE(st.st_mode))}")
    assert not loose, loose
    names = {n for _, _, files in os.walk(data) for n in files}
    assert {"campy.db", "go2rtc.generated.yaml", "leftover.txt"} <= names, names
    assert any(n.endswith(".mp4") for n in names), names
    assert "made" in hard.log() and "leftover.txt" in hard.log()


def test_go2rtc_secret_names_appear_in_no_page_api_or_log(hard, admin):
    secrets = {_secret_name(hard, "front"), _secret_name(hard, "front_sub")}
    suffix = next(iter(secrets)).split("__", 1)[1]
    texts = {}
    for path in ("/", "/cameras/front", "/cameras/front/edit", "/system", "/api/cameras",
                 "/api/cameras/front", "/api/status", "/api/cameras/front/recordings"):
        r = admin.get(path)
        assert r.status_code == 200, (path, r.status_code)
        texts[path] = r.text
    texts["campy.log"] = hard.log()
    leaks = [where for where, text in texts.items() if suffix in text]
    assert not leaks, leaks


# -- go2rtc's WebRTC media port on a chosen address ------------------------------------
@pytest.fixture(scope="module")
def local_rtc(sims, tmp_path_factory):
    d = tmp_path_factory.mktemp("rtc")
    port = free_port()
    cfg = write_config(d / "campy.yaml", camera_entries(sims), port=port,
                       password_secret="s3cret-Cam!pw")
    cfg.write_text(cfg.read_text().replace("  base_config: null\n",
                                           "  base_config: null\n  webrtc_host: 127.0.0.1\n"))
    proc = CampyProcess(cfg, port)
    try:
        yield proc
    finally:
        left = proc.stop()
        assert not left, f"processes left behind after CamPy stopped: {left}"


def test_webrtc_media_port_listens_on_webrtc_host_only(local_rtc):
    from ruamel.yaml import YAML

    gen = YAML(typ="safe").load(local_rtc.data_file("go2rtc.generated.yaml").read_text())
    rtc_port = int(gen["webrtc"]["listen"].rsplit(":", 1)[1])
    g = local_rtc.go2rtc()
    assert g is not None

    def bound(kind: str) -> list[str]:
        return [c.laddr.ip for c in psutil.Process(g.pid).net_connections(kind=kind)
                if c.laddr and c.laddr.port == rtc_port and (kind == "udp" or c.status == psutil.CONN_LISTEN)]

    tcp = wait_until(lambda: bound("tcp"), timeout=20, what="go2rtc's WebRTC TCP listener")
    assert tcp == ["127.0.0.1"], tcp
    assert bound("udp") == ["127.0.0.1"], bound("udp")

    # Live view still works: the player's first message gets go2rtc's answer.
    client = local_rtc.client()
    cookie = f"campy_session={client.cookies['campy_session']}"
    url = local_rtc.base_url.replace("http", "ws", 1) + "/live/ws?src=back_sub"
    with ws_connect(url, additional_headers={"Cookie": cookie, "Origin": local_rtc.base_url},
                    open_timeout=30, close_timeout=2, max_size=None) as ws:
        ws.send(MSE_REQUEST)
        while True:
            msg = ws.recv(timeout=30)
            if isinstance(msg, str):
                break
    assert json.loads(msg).get("type") == "mse", msg
