"""Adding, editing and deleting cameras through the UI, the API and the file."""

from __future__ import annotations

import pytest

from tests.helpers import api, post_form, wait_until
from tests.web.conftest import CAM_PASSWORD


def _go2rtc_streams(campy):
    return campy.go2rtc_streams()


@pytest.mark.parametrize("url", ["exec:ffmpeg -i x", "ffmpeg:front#video=h264", "echo:hi",
                                 "expr:1", "/etc/passwd", "file:///etc/passwd"])
def test_forbidden_camera_urls_are_refused_by_form_and_api(campy, url):
    c = campy.client()
    before = campy.config.read_text()
    r = post_form(c, "/cameras", {"name": "evil", "main": url, "enabled": "on"},
                  headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert 'data-field="main"' in r.text, r.text[:500]
    r = api(c, "POST", "/api/cameras", json={"name": "evil", "main": url})
    assert r.status_code == 400
    assert "main" in r.json()["error"]["fields"]
    assert campy.config.read_text() == before


def test_add_edit_delete_camera_reconciles_without_restarting_go2rtc(campy, sims):
    c = campy.client()
    pid = campy.go2rtc().pid
    sub = sims["back"].sub_url
    r = post_form(c, "/cameras", {"name": "porch", "title": "Porch", "main": sims["back"].main_url,
                                  "sub": sub, "username": "admin", "password": CAM_PASSWORD,
                                  "enabled": "on"})
    assert r.status_code == 303 and r.headers["location"] == "/cameras/porch"
    text = campy.config.read_text()
    assert "# CamPy test configuration" in text and "# camera front" in text, "comments lost"
    assert "porch:" in text and CAM_PASSWORD not in text and "!secret porch_password" in text
    secrets = (campy.config.parent / "secrets.yaml")
    assert CAM_PASSWORD in secrets.read_text() and (secrets.stat().st_mode & 0o777) == 0o600
    streams = wait_until(lambda: (s := _go2rtc_streams(campy)) and "porch_sub" in s and s,
                         timeout=10, what="porch in go2rtc")
    assert {"front", "front_sub", "back", "back_sub", "porch", "porch_sub"} <= set(streams)
    wait_until(lambda: c.get("/api/cameras/porch").json()["state"] == "online", timeout=30,
               what="porch online")

    # Edit: point the sub stream elsewhere; only porch changes, go2rtc keeps running.
    # (Another camera's address: the stored password is not sent there unless entered again.)
    r = post_form(c, "/cameras/porch/edit", {"title": "Porch 2", "main": sims["back"].main_url,
                                             "sub": sims["front"].sub_url, "username": "admin",
                                             "password": CAM_PASSWORD, "enabled": "on"})
    assert r.status_code == 303
    assert "Porch 2" in campy.config.read_text()
    assert c.get("/api/cameras/porch").json()["title"] == "Porch 2"
    # Delete
    r = post_form(c, "/cameras/porch/delete", {})
    assert r.status_code == 303
    wait_until(lambda: "porch" not in _go2rtc_streams(campy), timeout=10, what="porch removed")
    assert "porch" not in campy.config.read_text()
    assert campy.go2rtc().pid == pid, "go2rtc was restarted by a camera change"


def test_broken_file_edit_keeps_last_good_config_and_shows_the_error(campy):
    c = campy.client()
    good = campy.config.read_text()
    broken = good.replace("  front:\n", "  front:\n    colour: red\n", 1)
    line = broken.splitlines().index("    colour: red") + 1
    campy.config.write_text(broken)
    try:
        page = wait_until(lambda: (p := c.get("/").text) and "config-error" in p and p,
                          timeout=10, what="config error banner")
        assert "colour" in page and f":{line}" in page
        # The last good config keeps running: both cameras still listed and served.
        assert [x["name"] for x in c.get("/api/cameras").json()][:2] == ["front", "back"]
        assert "front_sub" in _go2rtc_streams(campy)
        assert c.get("/api/status").json()["config_error"]
    finally:
        campy.config.write_text(good)
    wait_until(lambda: "config-error" not in c.get("/").text, timeout=10, what="banner gone")


def test_file_edit_is_picked_up_live(campy, sims):
    c = campy.client()
    pid = campy.go2rtc().pid
    good = campy.config.read_text()
    added = good + (
        f"  garage:\n    main: {sims['front'].main_url}\n    sub: {sims['front'].sub_url}\n"
        "    username: admin\n    password: !secret sim_password\n")
    campy.config.write_text(added)
    try:
        wait_until(lambda: "garage_sub" in _go2rtc_streams(campy), timeout=10, what="garage added")
        assert "garage" in [x["name"] for x in c.get("/api/cameras").json()]
    finally:
        campy.config.write_text(good)
    wait_until(lambda: "garage" not in _go2rtc_streams(campy), timeout=10, what="garage removed")
    assert campy.go2rtc().pid == pid
