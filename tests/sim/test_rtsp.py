"""The simulated RLC-810A speaks RTSP the way the camera does, as ffprobe and go2rtc see it."""

from __future__ import annotations

import json
import socket
import subprocess

import httpx
import pytest

from tests.helpers import free_port, wait_until
from tests.sim.conftest import PASSWORD, with_creds


def ffprobe(url: str, *entries: str) -> dict:
    r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-of", "json",
                        "-show_entries", "stream=" + ",".join(entries), url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _read_reply(s: socket.socket) -> str:
    """One whole RTSP reply: headers up to the blank line, then Content-Length bytes of body
    (one recv() may return only part of it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def raw_rtsp(port: int, request: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request.encode())
        return _read_reply(s)


def test_ffprobe_accepts_main_and_sub_with_digest(cam):
    main = ffprobe(with_creds(cam.main_url), "codec_type", "codec_name", "width", "height",
                   "sample_rate", "channels")
    by_type = {s["codec_type"]: s for s in main["streams"]}
    v, a = by_type["video"], by_type["audio"]
    assert (v["codec_name"], v["width"], v["height"]) == ("hevc", 3840, 2160)
    assert (a["codec_name"], a["sample_rate"], a["channels"]) == ("aac", "16000", 1)
    sub = ffprobe(with_creds(cam.sub_url), "codec_type", "codec_name", "width", "height", "profile")
    video = next(s for s in sub["streams"] if s["codec_type"] == "video")
    assert (video["codec_name"], video["width"], video["profile"]) == ("h264", 640, "High")


def test_digest_challenge_is_reolinks(cam):
    reply = raw_rtsp(cam.rtsp_port, f"DESCRIBE {cam.sub_url} RTSP/1.0\r\nCSeq: 2\r\n\r\n")
    assert reply.startswith("RTSP/1.0 401")
    challenge = next(line for line in reply.split("\r\n") if line.startswith("WWW-Authenticate"))
    assert 'Digest realm="BC Streaming Media", nonce="' in challenge and "qop" not in challenge
    nonce = challenge.split('nonce="')[1].split('"')[0]
    assert len(nonce) == 32
    assert raw_rtsp(cam.rtsp_port, "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n").startswith("RTSP/1.0 200")


def test_wrong_password_is_refused(cam):
    r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", with_creds(cam.sub_url, "nope")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "401" in r.stderr


def test_reolink_paths_and_the_h264_main_404(cam):
    base = f"rtsp://127.0.0.1:{cam.rtsp_port}"
    ffprobe(with_creds(base + "/h265Preview_01_main"), "codec_name")
    ffprobe(with_creds(base + "/h264Preview_01_sub"), "codec_name")
    for path in ("/h264Preview_01_main", "/Preview_01_ext", "/nope"):
        r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", with_creds(base + path)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "404" in r.stderr, path


def test_describe_sdp_looks_like_the_camera(cam):
    import hashlib

    first = raw_rtsp(cam.rtsp_port, f"DESCRIBE {cam.sub_url} RTSP/1.0\r\nCSeq: 2\r\n\r\n")
    nonce = first.split('nonce="')[1].split('"')[0]
    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5(f"admin:BC Streaming Media:{PASSWORD}")
    resp = md5(f"{ha1}:{nonce}:{md5('DESCRIBE:' + cam.sub_url)}")
    auth = (f'Digest username="admin", realm="BC Streaming Media", nonce="{nonce}", '
            f'uri="{cam.sub_url}", response="{resp}"')
    with socket.create_connection(("127.0.0.1", cam.rtsp_port), timeout=5) as s:
        s.sendall(f"DESCRIBE {cam.sub_url} RTSP/1.0\r\nCSeq: 3\r\nAuthorization: {auth}\r\n\r\n".encode())
        reply = _read_reply(s)
    assert reply.startswith("RTSP/1.0 200")
    assert "a=tool:BC Streaming Media" in reply and "a=control:track1" in reply
    assert "profile-level-id=640033" in reply
    assert "MPEG4-GENERIC/16000" in reply and "config=1408;" in reply  # trailing ';' as Reolink


def test_udp_transport_is_refused(cam):
    reply = raw_rtsp(cam.rtsp_port, f"SETUP {cam.sub_url}/track1 RTSP/1.0\r\nCSeq: 3\r\n"
                                    "Transport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n")
    assert reply.startswith("RTSP/1.0 401")  # auth comes first; UDP is checked in test_go2rtc


def test_content_moves(cam, tmp_path):
    out = tmp_path / "f%02d.png"
    subprocess.run(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", with_creds(cam.sub_url),
                    "-vf", r"select=not(mod(n\,10))", "-fps_mode", "passthrough", "-frames:v", "3", str(out)],
                   check=True, timeout=60)
    # Every 10th decoded frame (1 s apart at 10 fps), never a padded copy: an fps filter would
    # repeat the first decoded frame back to time 0, and a session joins mid-GOP (the sim sends
    # no keyframe at the start of a session, like many cameras).
    frames = sorted(tmp_path.glob("f*.png"))
    assert len(frames) == 3
    assert len({f.read_bytes() for f in frames}) == 3


def test_http_api_login_devinfo_snap(cam):
    base = f"http://127.0.0.1:{cam.http_port}"
    bad = httpx.post(base + "/cgi-bin/api.cgi?cmd=Login&token=null",
                     json=[{"cmd": "Login", "param": {"User": {"userName": "admin", "password": "x"}}}]).json()
    assert bad[0]["error"]["rspCode"] == -7
    r = httpx.post(base + "/cgi-bin/api.cgi?cmd=Login&token=null",
                   json=[{"cmd": "Login", "param": {"User": {"Version": "0", "userName": "admin",
                                                              "password": PASSWORD}}}])
    assert r.headers["content-type"].startswith("text/html")
    token = r.json()[0]["value"]["Token"]
    assert token["leaseTime"] == 3600 and len(token["name"]) < 32
    info = httpx.post(base + f"/api.cgi?cmd=GetDevInfo&token={token['name']}",
                      json=[{"cmd": "GetDevInfo", "action": 0, "param": {}}]).json()[0]["value"]["DevInfo"]
    assert info["model"] == "RLC-810A" and info["hardVer"] == "IPC_56064M8MP" and info["type"] == "IPC"
    snap = httpx.get(base + f"/cgi-bin/api.cgi?cmd=Snap&channel=0&rs=abc&token={token['name']}")
    assert snap.headers["content-type"] == "image/jpeg" and snap.content[:2] == b"\xff\xd8"
    expired = httpx.post(base + "/cgi-bin/api.cgi?cmd=GetDevInfo&token=bogus",
                         json=[{"cmd": "GetDevInfo", "param": {}}]).json()[0]
    assert expired["error"] == {"rspCode": -6, "detail": "please login first"}


def test_faults_drop_refuse_reject_stall(cam):
    url = with_creds(cam.sub_url)
    # reject_credentials: right password, 401 anyway
    cam.set_fault("reject_credentials")
    r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", url],
                       capture_output=True, text=True, timeout=30)
    assert "401" in r.stderr
    # refuse: the port stops listening
    cam.set_fault("refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", cam.rtsp_port), timeout=3)
    cam.set_fault("none")
    ffprobe(url, "codec_name")
    # drop: a playing client is cut off
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-nostats", "-progress", "pipe:1", "-rtsp_transport", "tcp",
                          "-i", url, "-f", "null", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Drop only once the client is really playing (ffmpeg's progress reports decoded frames).
    assert p.stdout is not None
    for line in p.stdout:
        if line.startswith("frame=") and int(line.split("=", 1)[1]) > 0:
            break
    else:
        raise AssertionError(f"ffmpeg never played: {p.stderr.read() if p.stderr else ''}")
    cam.set_fault("drop")
    try:
        p.wait(timeout=20)
    finally:
        p.kill()
    cam.set_fault("none")
    # stall: connection stays, no data (ffmpeg's read timeout fires)
    cam.set_fault("stall")
    r = subprocess.run(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "2000000",
                        "-i", url, "-t", "1", "-f", "null", "-"], capture_output=True, text=True, timeout=30)
    cam.set_fault("none")
    # ffmpeg exits 0 here but says why it got nothing
    assert "timed out" in r.stderr, r.stderr


def test_go2rtc_accepts_it_with_digest_and_over_rtsps(cam, tmp_path):
    from campy.go2rtc import find_binary

    api, rtsp, rtc = free_port(), free_port(), free_port()
    conf = tmp_path / "g.yaml"
    pw = PASSWORD.replace("!", "%21")
    conf.write_text(
        f"api: {{listen: '127.0.0.1:{api}'}}\nrtsp: {{listen: '127.0.0.1:{rtsp}'}}\n"
        f"webrtc: {{listen: '127.0.0.1:{rtc}', ice_servers: []}}\nstreams:\n"
        f"  cam: rtsp://admin:{pw}@127.0.0.1:{cam.rtsp_port}/Preview_01_sub\n"
        f"  main: rtsp://admin:{pw}@127.0.0.1:{cam.rtsp_port}/Preview_01_main\n"
        f"  tls: rtspx://admin:{pw}@127.0.0.1:{cam.rtsps_port}/Preview_01_sub\n"
        f"  wrong: rtsp://admin:nope@127.0.0.1:{cam.rtsp_port}/Preview_01_sub\n")
    g = subprocess.Popen([str(find_binary()), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{api}/api").status_code == 200, timeout=10,
                   what="go2rtc")
        for stream, codec in (("cam", "h264"), ("tls", "h264"), ("main", "hevc")):
            # go2rtc may list the audio track first: ask for the video track.
            r = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-of", "json",
                                "-select_streams", "v:0", "-show_entries", "stream=codec_name",
                                f"rtsp://127.0.0.1:{rtsp}/{stream}"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, (stream, r.stderr)
            assert json.loads(r.stdout)["streams"][0]["codec_name"] == codec
        probe = httpx.get(f"http://127.0.0.1:{api}/api/streams?src=wrong&video=all", timeout=15)
        assert probe.status_code == 500 and "wrong user/pass" in probe.text  # go2rtc's words
    finally:
        g.terminate()
        g.wait(10)
