"""`campy user …` against the DB of a running CamPy (SQLite's locking between processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.helpers import REPO, CampyProcess, free_port, login, write_config

PW = "cli-user-password-1"


@pytest.fixture(scope="module")
def campy(tmp_path_factory):
    d = tmp_path_factory.mktemp("cliuser")
    port = free_port()
    # Nothing answers on these URLs: the grant only needs the camera names.
    cams = [{"name": n, "main": f"rtsp://127.0.0.1:9/{n}"} for n in ("cam1", "cam2")]
    proc = CampyProcess(write_config(d / "campy.yaml", cams, port=port, password_secret="x"), port)
    try:
        yield proc
    finally:
        proc.stop()


def _user(campy, *args: str, password: str | None = PW) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CAMPY_USER_PASSWORD"}
    if password is not None:
        env["CAMPY_USER_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "campy", "user", *args, "-c", str(campy.config)],
                          cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def _client(campy) -> httpx.Client:
    return httpx.Client(base_url=campy.base_url, timeout=20)


def _login_status(campy, username: str, password: str) -> int:
    with _client(campy) as c:
        c.get("/login")
        return c.post("/login", data={"username": username, "password": password,
                                      "_csrf_token": c.cookies["csrftoken"]}).status_code


def test_user_added_by_the_cli_logs_in_and_sees_only_its_grant(campy):
    r = _user(campy, "add", "carl", "--role", "operator", "--cameras", "cam1")
    assert r.returncode == 0, r.stderr
    assert "added operator carl" in r.stdout
    with _client(campy) as c:
        login(c, "carl", PW)
        assert c.get("/api/cameras/cam1").status_code == 200
        assert c.get("/api/cameras/cam2").status_code == 404
        assert c.get("/cameras/cam2").status_code == 404
    listed = _user(campy, "list", password=None)
    assert listed.returncode == 0
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith("carl "))
    assert row == ["carl", "operator", "enabled", "cam1"]
    assert next(line.split() for line in listed.stdout.splitlines() if line.startswith("admin "))[1:] == [
        "admin", "enabled", "all"]


def test_refusals_say_what_to_do(campy):
    r = _user(campy, "add", "nopw", "--role", "viewer", password=None)
    assert r.returncode == 1 and "CAMPY_USER_PASSWORD" in r.stderr
    r = _user(campy, "add", "wrongcam", "--role", "viewer", "--cameras", "cam1,zzz")
    assert r.returncode == 1 and "no camera 'zzz'" in r.stderr and "cam1, cam2" in r.stderr
    r = _user(campy, "add", "bad name", "--role", "viewer")
    assert r.returncode == 1 and "username" in r.stderr
    r = _user(campy, "passwd", "ghost")
    assert r.returncode == 1 and "no user 'ghost'" in r.stderr
    r = _user(campy, "disable", "admin", password=None)
    assert r.returncode == 1 and "last enabled admin" in r.stderr
    assert "Traceback" not in r.stderr


def test_passwd_and_disable_end_the_users_sessions_in_the_running_campy(campy):
    assert _user(campy, "add", "dina", "--role", "viewer").returncode == 0
    with _client(campy) as c:
        login(c, "dina", PW)
        assert c.get("/api/cameras/cam1").status_code == 200
        r = _user(campy, "passwd", "dina", password="cli-new-password-2")
        assert r.returncode == 0, r.stderr
        assert c.get("/api/cameras/cam1").status_code == 401  # the session row is gone
    assert _login_status(campy, "dina", PW) == 401
    with _client(campy) as c:
        login(c, "dina", "cli-new-password-2")
        assert _user(campy, "disable", "dina", password=None).returncode == 0
        assert c.get("/api/cameras/cam1").status_code == 401
    assert _login_status(campy, "dina", "cli-new-password-2") == 401
    assert _user(campy, "enable", "dina", password=None).returncode == 0
    assert _login_status(campy, "dina", "cli-new-password-2") == 303
    admin = campy.client()
    rows = admin.get("/api/audit", params={"actor": "cli"}).json()
    admin.close()
    assert {"user.add", "user.password", "user.disable", "user.enable"} <= {r["action"] for r in rows}
