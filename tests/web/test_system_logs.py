"""Logs of a real `campy serve`: the file in the data dir (JSON lines, private, no secret in
it) and the system page's list of recent warnings, with its filters and its access."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import httpx
import pytest

from tests.helpers import CampyProcess, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries
from tests.web.test_browser import _login, browser  # noqa: F401 - fixture used by name

WRONG_PW = "not-the-Password-42"


@pytest.fixture(scope="module")
def wrongpw(sims, tmp_path_factory):
    """CamPy (JSON logs) with a good camera and one with a wrong password."""
    d = tmp_path_factory.mktemp("syslogs")
    port = free_port()
    cams = camera_entries({"front": sims["front"]})
    cams.append({"name": "wrongpw", "main": sims["back"].main_url, "sub": sims["back"].sub_url,
                 "username": "admin", "password": f"'{WRONG_PW}'"})
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=CAM_PASSWORD,
                       server_extra=["log_format: json"])
    proc = CampyProcess(cfg, port)
    try:
        yield proc
    finally:
        left = proc.stop()
        assert not left, f"processes left behind: {left}"


def _auth_failed(client):
    return wait_until(lambda: client.get("/api/cameras/wrongpw").json()["state"] == "auth_failed",
                      timeout=60, what="wrongpw auth_failed")


def test_log_file_is_json_private_and_holds_no_secret(wrongpw):
    c = wrongpw.client()
    _auth_failed(c)
    g = wrongpw.go2rtc()
    assert g is not None
    api_pw = g.environ()["CAMPY_GO2RTC_API_PASS"]
    suffix = next(iter(wrongpw.go2rtc_streams(raw=True))).split("__", 1)[1]
    path = wrongpw.data_file("logs/campy.log")
    wait_until(lambda: "auth_failed" in path.read_text(), timeout=30, what="auth_failed in campy.log")
    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    lost = [r for r in records if r["logger"] == "campy.health" and "auth_failed" in r["message"]]
    assert lost and lost[0]["level"] == "WARNING" and lost[0]["camera"] == "wrongpw"
    assert any(r["logger"] == "campy.go2rtc.log" for r in records)  # go2rtc's lines are in it too
    for secret in (WRONG_PW, CAM_PASSWORD, api_pw, suffix):
        assert secret not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_system_page_lists_the_warning_and_filters_narrow_it(wrongpw):
    c = wrongpw.client()
    _auth_failed(c)
    page = c.get("/system").text
    assert 'id="system-logs"' in page and "wrongpw" in page and "auth_failed" in page
    rows = c.get("/api/system/logs").json()
    assert any(r["camera"] == "wrongpw" and "auth_failed" in r["message"] for r in rows)
    assert all(WRONG_PW not in json.dumps(r) for r in rows)

    part = c.get("/system/logs", params={"camera": "wrongpw"}, headers={"HX-Request": "true"}).text
    assert 'data-camera="wrongpw"' in part and "<html" not in part
    listed = part.split('id="system-log-list"')[1]
    assert listed.count("<tr class=") == listed.count('data-camera="wrongpw"')  # only its rows
    unfiltered = c.get("/system/logs", headers={"HX-Request": "true"}).text
    assert unfiltered.count("<tr class=") > listed.count("<tr class=")  # the filter narrowed it
    none = c.get("/system/logs", params={"q": "no such words anywhere"}, headers={"HX-Request": "true"})
    assert "match the filter" in none.text and 'data-camera="wrongpw"' not in none.text
    errors_only = c.get("/api/system/logs", params={"level": "error", "camera": "wrongpw"}).json()
    assert all(r["level"] in ("ERROR", "CRITICAL") and r["camera"] == "wrongpw" for r in errors_only)
    assert not any(r["logger"] == "campy.health" for r in errors_only)  # its warning is filtered out
    # bounded input: a refusal that says what to do
    r = c.get("/api/system/logs", params={"q": "x" * 201})
    assert r.status_code == 400 and "200 characters" in r.text
    r = c.get("/api/system/logs", params={"level": "debug"})
    assert r.status_code == 400 and "warning, error, critical" in r.text


def test_non_admins_cannot_read_the_logs(wrongpw):
    for role in ("viewer", "operator"):
        env = {**os.environ, "CAMPY_USER_PASSWORD": "a-long-password-1"}
        subprocess.run([sys.executable, "-m", "campy", "user", "add", f"log{role}", "--role", role,
                        "--config", str(wrongpw.config)], check=True, env=env, capture_output=True)
        c = wrongpw.client(f"log{role}", "a-long-password-1")
        assert c.get("/api/system/logs").status_code == 403
        r = c.get("/system/logs", headers={"HX-Request": "true"})
        assert r.status_code in (302, 303, 403) and "system-log-list" not in r.text
    anon = httpx.Client(base_url=wrongpw.base_url, timeout=20)
    assert anon.get("/api/system/logs").status_code == 401
    assert "system-log-list" not in anon.get("/system/logs").text


ROWS_JS = """() => Array.from(document.querySelectorAll('#system-log-list tbody tr'))
  .map(r => r.dataset.camera || '-')"""


@pytest.mark.browser
def test_filters_narrow_the_list_in_a_browser(wrongpw, browser):  # noqa: F811
    _auth_failed(wrongpw.client())
    ctx, page = _login(browser, wrongpw)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(wrongpw.base_url + "/system")
        # cameras of the rows, read in one go (htmx swaps the list while the test looks)
        first = wait_until(lambda: (c := page.evaluate(ROWS_JS)) and "wrongpw" in c and c,
                           timeout=10, what="the wrongpw warning listed")
        assert set(first) != {"wrongpw"}, first  # go2rtc's own lines name no camera
        page.select_option("#system-logs select[name=camera]", "wrongpw")
        wait_until(lambda: (c := page.evaluate(ROWS_JS)) and set(c) == {"wrongpw"},
                   timeout=10, what="only wrongpw rows after the camera filter")
        page.fill("#system-logs input[name=q]", "no such words anywhere")
        wait_until(lambda: page.evaluate(ROWS_JS) == [] and page.locator("#system-log-list .log-empty").count(),
                   timeout=10, what="no rows for an unmatched text")
        assert page.url.endswith("/system")  # swapped in place, not navigated
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        ctx.close()
