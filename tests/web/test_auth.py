"""Authentication and authorisation against a real CamPy process."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client as wsclient

from tests.helpers import ADMIN_PASSWORD, api, login, post_form
from tests.web.conftest import CAM_PASSWORD

# Open by design: the probe, the login form, and static code an embedding page loads
# (go2rtc's player, the embed page's script and style; no secret in any of them).
OPEN_PATHS = {"/healthz", "/login", "/live/player/x", "/embed/assets/x"}


def _registered_routes(config_path):
    """Every route the app registers, from the app object itself (nothing hand-listed)."""
    from litestar.routes import HTTPRoute, WebSocketRoute

    from campy.runtime import Runtime
    from campy.web.app import create_app

    runtime = Runtime(config_path)
    app = create_app(runtime, manage_runtime=False)
    http, ws = [], []
    for route in app.routes:
        path = re.sub(r"\{(\w+)(:\w+)?\}",
                      lambda m: "front" if m.group(1) == "name" else "1" if m.group(2) == ":int" else "x",
                      route.path)
        if isinstance(route, WebSocketRoute):
            ws.append(path)
        elif isinstance(route, HTTPRoute):
            for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
                http.append((method, path))
    return http, ws


def test_every_route_refuses_requests_without_a_session(campy):
    http_routes, ws_routes = _registered_routes(campy.config)
    assert len(http_routes) > 10 and ws_routes, "route discovery found too little"
    with httpx.Client(base_url=campy.base_url, timeout=10) as anon:
        for method, path in http_routes:
            if path in OPEN_PATHS:
                continue
            if path.startswith("/static"):
                continue  # public on purpose: test_static_files_are_public_and_hold_no_secret
            r = anon.request(method, path)
            refused = r.status_code in (401, 403) or (
                r.status_code == 303 and r.headers["location"].startswith("/login"))
            assert refused, f"{method} {path} answered {r.status_code} without a session"
            assert CAM_PASSWORD not in r.text
    for path in ws_routes:
        url = campy.base_url.replace("http", "ws") + path + "?src=front_sub"
        # Refused before the handshake completes, or closed at once without a message.
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            with wsclient.connect(url, open_timeout=5) as conn:
                conn.recv(timeout=3)


def test_static_files_are_public_and_hold_no_secret(campy):
    """The login page needs its stylesheet before anyone signs in; nothing under /static is secret."""
    from tests.helpers import REPO

    with httpx.Client(base_url=campy.base_url, timeout=10) as anon:
        r = anon.get("/static/campy.css")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
        assert anon.get("/static/../campy.db").status_code in (400, 404)
        assert anon.get("/static/%2e%2e/config/campy.yaml").status_code in (400, 404)
    for f in (REPO / "static").rglob("*"):
        if f.is_file():
            assert CAM_PASSWORD.encode() not in f.read_bytes()


def test_healthz_is_open_and_reveals_nothing(campy):
    r = httpx.get(campy.base_url + "/healthz")
    assert r.status_code == 200 and r.text == "ok"


def test_login_sets_a_hardened_session_cookie(campy):
    with httpx.Client(base_url=campy.base_url) as c:
        c.get("/login")
        bad = c.post("/login", data={"username": "admin", "password": "nope-nope",
                                     "_csrf_token": c.cookies["csrftoken"]})
        assert bad.status_code == 401 and "wrong username or password" in bad.text
        r = login(c, "admin", ADMIN_PASSWORD)
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("campy_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert c.get("/").status_code == 200


def test_state_changing_requests_need_the_csrf_token(campy):
    c = campy.client()
    r = c.post("/cameras", data={"name": "x1", "main": "rtsp://127.0.0.1:1/a"})
    assert r.status_code == 403
    r = c.post("/api/cameras", json={"name": "x1", "main": "rtsp://127.0.0.1:1/a"})
    assert r.status_code == 403
    assert "x1" not in c.get("/api/cameras").text


def test_login_after_logout_is_needed(campy):
    c = campy.client()
    r = post_form(c, "/logout", {})
    assert r.status_code == 303
    assert c.get("/api/cameras").status_code == 401


def test_viewer_watches_but_cannot_change_anything(campy, viewer):
    assert viewer.get("/").status_code == 200
    assert viewer.get("/cameras/front").status_code == 200
    assert viewer.get("/cameras/new").status_code == 403
    assert viewer.get("/cameras/front/edit").status_code == 403
    assert viewer.get("/system").status_code == 403
    r = post_form(viewer, "/cameras", {"name": "v1", "main": "rtsp://127.0.0.1:1/a"})
    assert r.status_code == 403
    assert post_form(viewer, "/cameras/front/delete", {}).status_code == 403
    assert api(viewer, "DELETE", "/api/cameras/front").status_code == 403
    assert api(viewer, "POST", "/api/cameras", json={"name": "v2", "main": "rtsp://h/a"}).status_code == 403
    names = [c["name"] for c in viewer.get("/api/cameras").json()]
    assert names == ["front", "back"]


def test_no_page_or_api_response_shows_a_camera_password(campy):
    c = campy.client()
    for path in ("/", "/cameras/front", "/cameras/front/edit", "/api/cameras", "/api/cameras/front",
                 "/system", "/api/status"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert CAM_PASSWORD not in r.text, path
    assert CAM_PASSWORD not in campy.log()


def test_api_cameras_contract(campy):
    c = campy.client()
    items = c.get("/api/cameras").json()
    assert {"name", "state"} <= set(items[0])
    assert c.get("/api/cameras/nope").status_code == 404
    assert c.get("/api/cameras/nope").json()["error"]["status"] == 404


def test_camera_password_reaches_go2rtc_only_through_its_environment(campy):
    generated = campy.data_file("go2rtc.generated.yaml").read_text()
    assert CAM_PASSWORD not in generated
    assert "${CAMPY_CAM_FRONT_PASSWORD}" in generated
    env = campy.go2rtc().environ()
    assert env["CAMPY_CAM_FRONT_PASSWORD"] == "s3cret-Cam%21pw"  # percent-encoded for the URL
    assert "/dev/null" in campy.go2rtc().cmdline()  # API write-backs go nowhere


def test_login_issues_a_new_session_id_not_a_planted_one(campy):
    with httpx.Client(base_url=campy.base_url) as c:
        c.get("/login")
        planted = "a" * 64
        c.cookies.set("campy_session", planted)
        r = c.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD,
                                   "_csrf_token": c.cookies["csrftoken"]})
        assert r.status_code == 303
        issued = r.cookies.get("campy_session")
        assert issued and issued != planted
    with httpx.Client(base_url=campy.base_url) as attacker:
        attacker.cookies.set("campy_session", planted)
        assert attacker.get("/api/cameras").status_code == 401


def test_live_websocket_checks_origin_and_stream_name(campy, viewer):
    """The viewer's session may watch; a page from another origin or a stream name CamPy
    did not make (go2rtc would dial it) is refused."""
    url = campy.base_url.replace("http", "ws") + "/live/ws?src="
    cookie = f"campy_session={viewer.cookies['campy_session']}"
    own = {"Cookie": cookie, "Origin": campy.base_url}
    with wsclient.connect(url + "front_sub", additional_headers=own, open_timeout=5) as conn:
        conn.send(json.dumps({"type": "mse", "value": "avc1.640029"}))
        reply = json.loads(conn.recv(timeout=15))
        assert reply["type"] == "mse" and "video/mp4" in reply["value"]
    for src, headers in (("front_sub", {"Cookie": cookie, "Origin": "http://evil.example"}),
                         ("rtsp://127.0.0.1:1/x", own), ("nosuchstream", own)):
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            with wsclient.connect(url + src, additional_headers=headers, open_timeout=5) as conn:
                conn.send(json.dumps({"type": "mse", "value": ""}))
                conn.recv(timeout=5)


def test_password_guessing_is_throttled(campy):
    # Keep this test last in the module: it leaves 127.0.0.1 blocked for this CamPy.
    with httpx.Client(base_url=campy.base_url) as c:
        c.get("/login")
        token = c.cookies["csrftoken"]
        codes = [c.post("/login", data={"username": "guessme", "password": f"guess-{i}",
                                        "_csrf_token": token}).status_code for i in range(12)]
        assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
        # the right password does not get through while the address is blocked
        r = c.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "_csrf_token": token})
        assert r.status_code == 429 and "too many failed logins" in r.text
