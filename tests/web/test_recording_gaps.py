"""Every gap in the footage has a named cause: a killed recorder, a camera that went away,
a clean CamPy restart and a killed CamPy each leave one gap that `campy check`, the storage
API and the storage page explain; a normal run leaves none. Times on the page and from
`campy check` are in server.timezone (here New York, never the host's UTC), zone named."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from campy.localtime import local_time
from tests.helpers import CampyProcess, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD
from tests.web.test_recording import recorder_pid, segments, wait_segments


@pytest.fixture(scope="module")
def cam():
    from campy.sim.camera import SimCamera

    sim = SimCamera("gappy", username="admin", password=CAM_PASSWORD, main_codec="h264")
    handle = sim.run_in_thread()
    try:
        yield sim
    finally:
        handle.stop()


ZONE = "America/New_York"


def _gaps(client):
    r = client.get("/api/storage")
    assert r.status_code == 200, r.text
    return r.json()["gaps"]


def _wait_gap(client, after_ms, what):
    """The gap that ends after ``after_ms`` (once recording has resumed past it)."""
    return wait_until(lambda: next((g for g in _gaps(client) if g["end_ms"] > after_ms), None),
                      timeout=60, what=what)


def _state(client):
    return client.get("/api/cameras/gappy").json()["state"]


def _recorder_state(client):
    return next(x for x in client.get("/api/storage").json()["cameras"] if x["camera"] == "gappy")["recorder"]["state"]


def test_each_gap_names_its_cause(cam, tmp_path):
    entries = [{"name": "gappy", "main": cam.main_url, "sub": cam.sub_url, "username": "admin",
                "password": "!secret sim_password"}]
    port = free_port()
    cfg = write_config(tmp_path / "campy.yaml", entries, port=port, password_secret=CAM_PASSWORD,
                       recording={"segment_seconds": 2, "min_free": "null"},
                       server_extra=(f"timezone: {ZONE}",))
    campy = CampyProcess(cfg, port)
    try:
        c = campy.client()
        wait_segments(c, "gappy", 4)
        assert _gaps(c) == [], "a normal run leaves no gap"

        # 1. The recorder's ffmpeg is killed.
        pid = wait_until(lambda: recorder_pid(campy, "gappy"), timeout=20, what="the recorder's ffmpeg")
        t = int(time.time() * 1000)
        os.kill(pid, signal.SIGKILL)
        gap = _wait_gap(c, t, "the gap of the killed recorder")
        assert gap["cause"] == "recorder_restart", gap

        # 2. The camera goes away until health says offline and the recorder has given up,
        # then comes back. (A shorter outage, which go2rtc rides out behind a running ffmpeg,
        # leaves a hole inside a segment or a "stream interrupted" gap; see docs/recording.md.)
        wait_segments(c, "gappy", 2, after_ms=gap["end_ms"])
        t = int(time.time() * 1000)
        cam.set_fault("refuse")
        try:
            wait_until(lambda: _state(c) == "offline" and _recorder_state(c) != "recording", timeout=90,
                       what="the camera offline and its recorder waiting")
        finally:
            cam.set_fault("none")
        gap = _wait_gap(c, t, "the gap of the camera outage")
        assert gap["cause"] == "camera_offline" and gap["cause_label"] == "camera offline", gap

        # 3. CamPy is stopped cleanly and started again.
        wait_segments(c, "gappy", 2, after_ms=gap["end_ms"])
        t = int(time.time() * 1000)
        assert not campy.stop()
        campy = CampyProcess(cfg, port)
        c = campy.client()
        gap = _wait_gap(c, t, "the gap of the restart")
        assert gap["cause"] == "campy_down" and "clean stop" in gap["detail"], gap
        stopped = local_time(ZONE).format(t - 10_000, "%Z")  # EST or EDT, whichever applies now
        assert re.search(rf"clean stop at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {stopped}$", gap["detail"]), gap

        # 4. CamPy is killed.
        wait_segments(c, "gappy", 2, after_ms=gap["end_ms"])
        t = int(time.time() * 1000)
        campy.proc.send_signal(signal.SIGKILL)
        campy.proc.wait(timeout=10)
        campy.stop()
        campy = CampyProcess(cfg, port)
        c = campy.client()
        gap = _wait_gap(c, t, "the gap of the killed CamPy")
        assert gap["cause"] == "campy_down" and "unclean" in gap["detail"], gap

        gaps = _gaps(c)
        assert [g["cause"] for g in gaps] == ["campy_down", "campy_down", "camera_offline", "recorder_restart"], gaps
        page = c.get("/storage").text
        for cause in ("recorder_restart", "camera_offline", "campy_down"):
            assert f'data-cause="{cause}"' in page
        # The page's gap times and texts are New York times; none says UTC.
        assert "clean stop at" in page and "UTC" not in page.split("<h2>Gaps", 1)[1], page
        assert f"{stopped}</td>" in page
        res = subprocess.run([sys.executable, "-m", "campy", "check", "--config", str(cfg)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "4 gap(s)" in res.stdout and "unexplained" not in res.stdout, res.stdout
        assert f"(times in {ZONE}, server.timezone)" in res.stdout, res.stdout
        lines = [x for x in res.stdout.splitlines() if x.startswith("  gap gappy")]
        assert len(lines) == 4 and all(re.search(rf"\.\d\d\d {stopped} → .*\.\d\d\d {stopped} \(", x)
                                       for x in lines), res.stdout
        for label in ("recorder restart", "camera offline", "CamPy down"):
            assert label in res.stdout, res.stdout
        # Between the faults, footage is continuous.
        segs = segments(c, "gappy", start=gaps[-1]["start_ms"] - 60_000, end=int(time.time() * 1000))
        holes = [(a["end_ms"], b["start_ms"]) for a, b in zip(segs, segs[1:], strict=False)
                 if b["start_ms"] - a["end_ms"] > 500]
        assert len(holes) == 4, holes
    finally:
        left = campy.stop()
        assert not left, left
