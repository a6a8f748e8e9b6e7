"""Bad cameras and a dying go2rtc: CamPy keeps running and says what is wrong."""

from __future__ import annotations

import signal
import time

import pytest

from tests.helpers import CampyProcess, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries


@pytest.fixture(scope="module")
def faulty(sims, tmp_path_factory):
    """CamPy with a good camera, one with a wrong password, one pointing at a closed port,
    and one on its own simulator so the test can break it."""
    from campy.sim.camera import SimCamera

    flaky = SimCamera("flaky", username="admin", password=CAM_PASSWORD, main_codec="h264")
    handle = flaky.run_in_thread()
    d = tmp_path_factory.mktemp("faulty")
    port = free_port()
    cams = camera_entries({"front": sims["front"]})
    cams.append({"name": "wrongpw", "main": sims["back"].main_url, "sub": sims["back"].sub_url,
                 "username": "admin", "password": "'not-the-password'"})
    dead = free_port()
    cams.append({"name": "dead", "main": f"rtsp://127.0.0.1:{dead}/Preview_01_main",
                 "sub": f"rtsp://127.0.0.1:{dead}/Preview_01_sub", "username": "admin",
                 "password": "!secret sim_password"})
    cams.append({"name": "flaky", "main": flaky.main_url, "sub": flaky.sub_url,
                 "username": "admin", "password": "!secret sim_password"})
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=CAM_PASSWORD)
    proc = CampyProcess(cfg, port)
    try:
        yield proc, flaky
    finally:
        left = proc.stop()
        handle.stop()
        assert not left, f"processes left behind: {left}"


def _state(client, name):
    return client.get(f"/api/cameras/{name}").json()


def _wait_state(campy, client, name, state, *, timeout):
    """Wait for ``name`` to reach ``state``; on timeout, say which states it went through
    (with their messages) and what CamPy logged about the camera."""
    seen: list[tuple[str, str]] = []

    def reached():
        s = _state(client, name)
        if not seen or seen[-1] != (s["state"], s["message"]):
            seen.append((s["state"], s["message"]))
        return s["state"] == state and s

    try:
        return wait_until(reached, timeout=timeout, what=f"{name} {state}")
    except AssertionError as err:
        lines = [ln for ln in campy.log().splitlines() if name in ln][-40:]
        raise AssertionError(f"{err}\nstates seen: {seen}\nlog:\n" + "\n".join(lines)) from None


def test_wrong_credentials_show_auth_failed_and_dead_camera_offline(faulty):
    campy, _ = faulty
    c = campy.client()
    wait_until(lambda: _state(c, "front")["state"] == "online", timeout=60, what="front online")
    wrong = wait_until(lambda: (s := _state(c, "wrongpw"))["state"] == "auth_failed" and s,
                       timeout=60, what="wrongpw auth_failed")
    dead = wait_until(lambda: (s := _state(c, "dead"))["state"] == "offline" and s,
                      timeout=60, what="dead offline")
    assert wrong["message"] and dead["message"]
    assert "not-the-password" not in str(wrong) and CAM_PASSWORD not in str(dead)
    assert "not-the-password" not in campy.log() and CAM_PASSWORD not in campy.log()
    # the page shows the same states as badges
    page = c.get("/").text
    assert 'data-state="auth_failed"' in page and 'data-state="offline"' in page


def test_camera_that_drops_comes_back(faulty):
    campy, flaky = faulty
    c = campy.client()
    _wait_state(campy, c, "flaky", "online", timeout=60)
    flaky.set_fault("refuse")  # closes its connections and stops listening
    _wait_state(campy, c, "flaky", "offline", timeout=40)
    flaky.set_fault("none")
    _wait_state(campy, c, "flaky", "online", timeout=60)


def test_go2rtc_killed_is_restarted_with_streams_within_5s(faulty):
    campy, _ = faulty
    c = campy.client()
    g = campy.go2rtc()
    assert g is not None
    old_pid = g.pid
    g.send_signal(signal.SIGKILL)
    t0 = time.monotonic()

    def back():
        n = campy.go2rtc()
        if n is None or n.pid == old_pid:
            return False
        from tests.web.test_cameras import _go2rtc_streams
        return {"front", "front_sub", "flaky_sub"} <= set(_go2rtc_streams(campy))

    wait_until(back, timeout=5, interval=0.1, what="go2rtc restarted with its streams")
    elapsed = time.monotonic() - t0
    print(f"go2rtc back with streams after {elapsed:.2f}s")
    wait_until(lambda: _state(c, "front")["state"] == "online", timeout=30, what="front online again")
    assert c.get("/healthz").status_code == 200
