"""Simulated cameras: ``campy demo`` leaves no process behind when killed; ``campy serve`` on
an empty config shows them without ever writing them to the user's campy.yaml."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import psutil

from tests.helpers import REPO, CampyProcess, api, free_port, wait_until, write_config


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_demo_killed_with_sigkill_leaves_no_child(tmp_path):
    data = tmp_path / "demo"
    log = open(tmp_path / "demo.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "campy", "demo", "--cameras", "1", "--port", str(free_port()),
         "--data-dir", str(data)],
        cwd=REPO, env={**os.environ, "CAMPY_ADMIN_PASSWORD": "demo-test-password"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, psutil.Process] = {}
    try:
        def recording() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited: {(tmp_path / 'demo.log').read_text()}")
            return any((data / "recordings").rglob("*.mp4"))

        wait_until(recording, timeout=180, interval=0.5, what="the demo camera's first segment")

        def every_role_running() -> bool:
            for k in psutil.Process(proc.pid).children(recursive=True):
                seen.setdefault(k.pid, k)
            cmds = []
            for k in seen.values():
                try:
                    cmds.append(" ".join(k.cmdline()))
                except psutil.Error:
                    pass
            return (any("-stream_loop" in c for c in cmds) and any("go2rtc" in c for c in cmds)
                    and any("-segment_time" in c or "segment" in c for c in cmds if "-stream_loop" not in c))

        wait_until(every_role_running, timeout=30, what="simulator, go2rtc and recorder processes")
        for k in psutil.Process(proc.pid).children(recursive=True):
            seen.setdefault(k.pid, k)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: not [p for p in seen.values() if _alive(p)], timeout=20,
                   what="every process the demo had started to be gone")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in seen.values():
            if _alive(p):
                p.kill()
        log.close()


def _generated_admin_password(campy) -> str | None:
    m = re.search(r"created user 'admin' with password: (\S+)", campy.log())
    return m.group(1) if m else None


def test_serve_on_empty_config_keeps_user_cameras_and_admin_password(tmp_path):
    """`campy serve` on a config without cameras shows simulated cameras with a banner, but
    writes none of them to campy.yaml: a camera added through the API is in the user's file
    (comments intact) at the next start, the simulated ones are gone, and the admin password
    made at the first start still works."""
    port = free_port()
    config = write_config(tmp_path / "campy.yaml", [], port=port, password_secret="unused")
    text = config.read_text()
    config.write_text(text.replace("cameras: {}", "# my cameras go below\ncameras: {}  # none yet"))
    env = {"CAMPY_ADMIN_PASSWORD": ""}  # let CamPy make the admin password itself
    campy = CampyProcess(config, port, env=env)
    try:
        password = _generated_admin_password(campy)
        assert password, campy.log()
        assert "campy user passwd admin" in campy.log()
        login_page = httpx.get(campy.base_url + "/login", timeout=20).text
        assert 'id="sim-banner"' in login_page  # on every page, the login page too
        c = campy.client(password=password)
        names = [cam["name"] for cam in c.get("/api/cameras").json()]
        assert names == ["sim1", "sim2"]
        page = c.get("/").text
        assert 'id="sim-banner"' in page and "Simulated cameras: Simulated camera 1, Simulated camera 2 (demo)" in page
        # A simulated camera is read-only: refused with a reason, nothing written.
        r = api(c, "DELETE", "/api/cameras/sim1")
        assert r.status_code == 400 and "simulated camera" in r.text, r.text
        r = api(c, "POST", "/api/cameras", json={"name": "porch", "title": "Porch",
                                                 "main": "rtsp://127.0.0.1:9/porch"})
        assert r.status_code == 201, r.text
        assert {cam["name"] for cam in c.get("/api/cameras").json()} == {"sim1", "sim2", "porch"}
    finally:
        campy.stop()

    saved = config.read_text()
    assert "porch:" in saved and "sim1" not in saved and "sim2" not in saved
    assert "# my cameras go below" in saved and "# CamPy test configuration" in saved

    campy = CampyProcess(config, port, env=env)
    try:
        assert _generated_admin_password(campy) is None, "the admin password was made again"
        c = campy.client(password=password)
        assert [cam["name"] for cam in c.get("/api/cameras").json()] == ["porch"]
        page = c.get("/").text
        assert 'id="sim-banner"' not in page and "Simulated cameras" not in page
    finally:
        campy.stop()


def test_no_demo_starts_with_no_cameras(tmp_path):
    """What the container does (CAMPY_NO_DEMO=1): an empty config gives an empty camera list
    and "add one", never simulated cameras; `campy healthcheck` (its HEALTHCHECK) says ok."""
    port = free_port()
    config = write_config(tmp_path / "campy.yaml", [], port=port, password_secret="unused")
    campy = CampyProcess(config, port, env={"CAMPY_NO_DEMO": "1"})
    try:
        assert "simulated" not in campy.log().lower()
        c = campy.client()
        assert c.get("/api/cameras").json() == []
        page = c.get("/").text
        assert "No cameras yet" in page and 'href="/cameras/new"' in page and "sim-banner" not in page
        assert not campy.go2rtc_streams()
        ok = subprocess.run([sys.executable, "-m", "campy", "healthcheck", "--port", str(port)], cwd=REPO,
                            capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
    finally:
        campy.stop()
    down = subprocess.run([sys.executable, "-m", "campy", "healthcheck", "--port", str(port)], cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert down.returncode == 1 and "not healthy" in down.stderr


def test_overlay_cameras_are_shown_but_never_written(tmp_path):
    """The ConfigStore side: the simulated cameras are in ``config`` but not in the file;
    changing them is refused with a reason; a camera of the file with the same name wins."""
    from campy.config import ConfigError, ConfigStore
    from campy.demo import overlay_for, simulated_cameras

    sims = simulated_cameras([("sim1", "rtsp://127.0.0.1:9/Preview_01_main", "rtsp://127.0.0.1:9/Preview_01_sub")],
                             username="admin", password="pw-of-the-sim")
    path = write_config(tmp_path / "campy.yaml", [], port=free_port(), password_secret="unused")
    store = ConfigStore(path, overlay=overlay_for(sims), readonly=frozenset(sims))
    assert set(store.config.cameras) == {"sim1"} and store.readonly == {"sim1"}
    assert store.config.cameras["sim1"].password.get() == "pw-of-the-sim"
    assert store.config.recording.max_bytes == 2 * 1024**3  # capped while simulators run
    for change in (lambda: store.delete_camera("sim1"), lambda: store.set_camera_enabled("sim1", False),
                   lambda: store.add_camera("sim1", main="rtsp://127.0.0.1:9/x")):
        try:
            change()
        except ConfigError as err:
            assert "simulated camera" in str(err)
        else:
            raise AssertionError("a simulated camera was changed")
    store.add_camera("porch", main="rtsp://127.0.0.1:9/porch")
    store.reload()
    assert set(store.config.cameras) == {"sim1", "porch"}
    assert "sim1" not in path.read_text() and "pw-of-the-sim" not in path.read_text()
    # The user's own camera called sim1 replaces the simulated one and is theirs to change.
    path.write_text(path.read_text().replace("  porch:", "  sim1:\n    main: rtsp://127.0.0.1:9/mine\n  porch:"))
    store.reload()
    assert store.config.cameras["sim1"].main == "rtsp://127.0.0.1:9/mine" and store.readonly == frozenset()
    store.set_camera_enabled("sim1", False)


def test_ctrl_c_stops_serve_cleanly(tmp_path):
    """Ctrl-C in the terminal of `make run` (SIGINT to the process group): CamPy and its
    simulated cameras stop, exit 0, with no traceback and no process left. (uvicorn raises the
    SIGINT again once it has shut down; that used to cancel the simulators' stop halfway.)"""
    port = free_port()
    config = write_config(tmp_path / "campy.yaml", [], port=port, password_secret="unused")
    campy = CampyProcess(config, port)
    seen: dict[int, psutil.Process] = {}
    try:
        c = campy.client()
        wait_until(lambda: [x["state"] for x in c.get("/api/cameras").json()] == ["online", "online"],
                   timeout=90, what="both simulated cameras online")
        for k in psutil.Process(campy.proc.pid).children(recursive=True):
            seen[k.pid] = k
        assert any("-stream_loop" in " ".join(k.cmdline()) for k in seen.values()), "no simulator ffmpeg"
        os.killpg(campy.proc.pid, signal.SIGINT)
        code = campy.proc.wait(timeout=60)
        log = campy.log()
        assert code == 0, log
        assert "Traceback" not in log and "that handles pid" not in log, log
        assert "CamPy stopped" in log, log
        wait_until(lambda: not [p for p in seen.values() if _alive(p)], timeout=20,
                   what="every process CamPy had started to be gone")
    finally:
        campy.stop()
