"""User management, the Account page and the audit log, against a real CamPy process.

`front` plays cam1 (granted), `back` cam2 (not granted) from the web conftest.
"""

from __future__ import annotations

import json
import threading

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client as wsclient

from tests.helpers import api, login, post_form

OTTO_PW = "operator-password-1"


def _client(campy) -> httpx.Client:
    return httpx.Client(base_url=campy.base_url, timeout=20, follow_redirects=False)


@pytest.fixture(scope="module")
def admin(campy):
    c = campy.client()
    yield c
    c.close()


def _add(admin, username, role="operator", cameras=("front",), password=OTTO_PW):
    r = api(admin, "POST", "/api/users", json={"username": username, "password": password, "role": role,
                                               "cameras": None if cameras is None else list(cameras)})
    assert r.status_code == 201, r.text
    return r.json()


class Streams:
    """An operator's open live WebSocket and SSE stream, each watched by a thread that sets
    an event when its stream ends."""

    def __init__(self, campy, client: httpx.Client) -> None:
        self.ws_closed = threading.Event()
        self.sse_ended = threading.Event()
        self.ws_open = threading.Event()
        self.sse_open = threading.Event()
        cookie = f"campy_session={client.cookies['campy_session']}"
        url = campy.base_url.replace("http", "ws") + "/live/ws?src=front_sub"
        headers = {"Cookie": cookie, "Origin": campy.base_url}
        threading.Thread(target=self._read_ws, args=(url, headers), daemon=True).start()
        threading.Thread(target=self._read_sse, args=(campy.base_url, cookie), daemon=True).start()
        assert self.ws_open.wait(30), "the live WebSocket did not start"
        assert self.sse_open.wait(30), "the SSE stream did not say hello"

    def _read_ws(self, url: str, headers: dict[str, str]) -> None:
        with wsclient.connect(url, additional_headers=headers, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "mse", "value": "avc1.640029"}))
            try:
                while True:
                    msg = ws.recv(timeout=120)
                    if isinstance(msg, str) and json.loads(msg).get("type") == "mse":
                        self.ws_open.set()
            except websockets.exceptions.ConnectionClosed:
                self.ws_closed.set()

    def _read_sse(self, base_url: str, cookie: str) -> None:
        # The server ends the stream cleanly (a complete chunked body): an abort would raise here.
        with httpx.stream("GET", base_url + "/api/events/stream", headers={"Cookie": cookie},
                          timeout=httpx.Timeout(20, read=120)) as r:
            for line in r.iter_lines():
                if '"hello"' in line:
                    self.sse_open.set()
        self.sse_ended.set()

    def assert_ended(self) -> None:
        assert self.ws_closed.wait(30), "the open live WebSocket was not closed"
        assert self.sse_ended.wait(30), "the open SSE stream did not end"


def test_admin_adds_an_operator_by_api_and_by_form(campy, admin):
    otto = _add(admin, "otto")
    assert otto["role"] == "operator" and otto["cameras"] == ["front"] and otto["disabled"] is False
    bad = api(admin, "POST", "/api/users", json={"username": "x1", "password": OTTO_PW, "role": "viewer",
                                                "cameras": ["nope"]})
    assert bad.status_code == 400 and "no camera 'nope'" in bad.json()["error"]["fields"]["cameras"]
    dup = api(admin, "POST", "/api/users", json={"username": "otto", "password": OTTO_PW, "role": "viewer"})
    assert dup.status_code == 400 and "already exists" in dup.json()["error"]["fields"]["username"]

    r = post_form(admin, "/users", {"username": "olga", "password": OTTO_PW, "role": "operator",
                                    "grant": "list", "cameras": ["front"]})
    assert r.status_code == 303 and r.headers["location"] == "/users"
    listed = {u["username"]: u for u in admin.get("/api/users").json()}
    assert listed["olga"]["role"] == "operator" and listed["olga"]["cameras"] == ["front"]
    assert "olga" in admin.get("/users").text

    with _client(campy) as c:
        login(c, "olga", OTTO_PW)
        assert c.get("/api/cameras/front").status_code == 200
        assert c.get("/cameras/back").status_code == 404
        assert c.get("/api/cameras/back").status_code == 404
        assert c.get("/users").status_code == 403
        assert c.get("/api/users").status_code == 403


def test_user_form_shows_errors_inline(campy, admin):
    htmx = {"HX-Request": "true"}
    r = post_form(admin, "/users", {"username": "bad name!", "password": "short", "role": "viewer",
                                    "grant": "all"}, headers=htmx)
    assert r.status_code == 200 and 'data-field="username"' in r.text and 'id="user-forms"' in r.text
    r = post_form(admin, "/users", {"username": "vic", "password": "short", "role": "viewer", "grant": "all"})
    assert r.status_code == 400 and 'data-field="password"' in r.text
    r = post_form(admin, "/users", {"username": "vic", "password": OTTO_PW, "role": "viewer",
                                    "grant": "list", "cameras": ["front", "ghost"]}, headers=htmx)
    assert 'data-field="cameras"' in r.text and "no camera &#39;ghost&#39;" in r.text
    assert "vic" not in {u["username"] for u in admin.get("/api/users").json()}


def test_password_change_ends_sessions_and_open_streams(campy, admin):
    _add(admin, "pete")
    with _client(campy) as pete:
        login(pete, "pete", OTTO_PW)
        assert pete.get("/api/cameras").status_code == 200
        streams = Streams(campy, pete)
        r = api(admin, "PATCH", "/api/users/pete", json={"password": "a-new-password-2"})
        assert r.status_code == 200 and r.json()["changed"] == ["password"]
        streams.assert_ended()
        assert pete.get("/api/cameras").status_code == 401
    with _client(campy) as pete:
        login(pete, "pete", "a-new-password-2")
        assert pete.get("/api/cameras").status_code == 200


def test_disable_ends_sessions_and_open_streams(campy, admin):
    _add(admin, "dora")
    with _client(campy) as dora:
        login(dora, "dora", OTTO_PW)
        streams = Streams(campy, dora)
        r = post_form(admin, "/users/dora/disable", {}, headers={"HX-Request": "true"})
        assert r.status_code == 200 and "disabled; their sessions were ended" in r.text
        streams.assert_ended()
        assert dora.get("/api/cameras").status_code == 401
    with _client(campy) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "dora", "password": OTTO_PW, "_csrf_token": c.cookies["csrftoken"]})
        assert r.status_code == 401
    assert api(admin, "PATCH", "/api/users/dora", json={"disabled": False}).status_code == 200
    with _client(campy) as c:
        login(c, "dora", OTTO_PW)


def test_grant_change_ends_streams_and_applies(campy, admin):
    _add(admin, "gus", cameras=None)
    with _client(campy) as gus:
        login(gus, "gus", OTTO_PW)
        assert gus.get("/api/cameras/back").status_code == 200
        streams = Streams(campy, gus)
        r = post_form(admin, "/users/gus/edit", {"role": "viewer", "grant": "list", "cameras": ["front"]},
                      headers={"HX-Request": "true"})
        assert r.status_code == 200 and "saved" in r.text
        streams.assert_ended()
    with _client(campy) as gus:
        login(gus, "gus", OTTO_PW)
        assert gus.get("/api/cameras/back").status_code == 404
    row = next(u for u in admin.get("/api/users").json() if u["username"] == "gus")
    assert row["role"] == "viewer" and row["cameras"] == ["front"]


def test_the_last_enabled_admin_is_protected(campy, admin):
    _add(admin, "ada", role="admin", cameras=None)
    assert api(admin, "PATCH", "/api/users/ada", json={"disabled": True}).status_code == 200
    for method, kw in (("PATCH", {"json": {"role": "viewer"}}), ("PATCH", {"json": {"disabled": True}}),
                       ("DELETE", {})):
        r = api(admin, method, "/api/users/admin", **kw)
        assert r.status_code == 409, (method, kw, r.text)
        assert "last enabled admin" in r.json()["error"]["message"]
    r = post_form(admin, "/users/admin/delete", {}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "last enabled admin" in r.text
    assert admin.get("/api/users").status_code == 200  # still an admin, still signed in
    assert api(admin, "DELETE", "/api/users/ada").status_code == 204
    assert api(admin, "DELETE", "/api/users/ada").status_code == 404


def test_account_page_changes_own_password_and_ends_other_sessions(campy, admin):
    _add(admin, "ann", role="viewer")
    with _client(campy) as here, _client(campy) as other:
        login(here, "ann", OTTO_PW)
        login(other, "ann", OTTO_PW)
        r = post_form(here, "/account", {"current": "wrong-password", "password": "ann-new-pass-1",
                                         "password2": "ann-new-pass-1"})
        assert r.status_code == 400 and 'data-field="current"' in r.text
        r = post_form(here, "/account", {"current": OTTO_PW, "password": "ann-new-pass-1",
                                         "password2": "ann-new-pass-2"})
        assert r.status_code == 400 and 'data-field="password2"' in r.text
        old_id = here.cookies["campy_session"]
        r = post_form(here, "/account", {"current": OTTO_PW, "password": "ann-new-pass-1",
                                         "password2": "ann-new-pass-1"})
        assert r.status_code == 200 and "password changed" in r.text
        assert here.cookies["campy_session"] != old_id  # this session continues under a new id
        assert here.get("/api/cameras").status_code == 200
        assert other.get("/api/cameras").status_code == 401


def test_guessing_the_current_password_on_the_account_page_is_throttled(campy, admin):
    """A stolen session must not be a way to brute-force the password behind it."""
    _add(admin, "hugo", role="viewer")
    transport = httpx.HTTPTransport(local_address="127.0.0.6")  # its own address: others are not slowed
    with httpx.Client(base_url=campy.base_url, timeout=20, follow_redirects=False, transport=transport) as c:
        login(c, "hugo", OTTO_PW)
        statuses = [post_form(c, "/account", {"current": f"wrong-guess-{i}", "password": "hugo-new-pass-1",
                                              "password2": "hugo-new-pass-1"}).status_code for i in range(11)]
        assert statuses == [400] * 10 + [429], statuses
        r = post_form(c, "/account", {"current": OTTO_PW, "password": "hugo-new-pass-1",
                                      "password2": "hugo-new-pass-1"})
        assert r.status_code == 429 and "too many wrong passwords" in r.text  # even the right one waits


def test_audit_log_records_logins_user_and_camera_changes(campy, admin):
    with _client(campy) as c:
        c.get("/login")
        c.post("/login", data={"username": "mallory", "password": "not-it-1", "_csrf_token": c.cookies["csrftoken"]})
        login(c, "otto", OTTO_PW)
        assert c.get("/audit").status_code == 403
        assert c.get("/api/audit").status_code == 403
    assert api(admin, "PATCH", "/api/users/otto", json={"cameras": ["front", "back"]}).status_code == 200
    cam = admin.get("/api/cameras/front").json()
    body = {"name": "front", "title": "Front door", "main": cam["main"], "sub": cam["sub"] or "",
            "username": cam["username"] or "", "enabled": cam["enabled"], "h265_fallback": cam["h265_fallback"]}
    assert api(admin, "PUT", "/api/cameras/front", json=body).status_code == 200
    zone = post_form(admin, "/cameras/front/zones", {"zone": "porch", "points": "[[0,0],[100,0],[100,100]]"})
    assert zone.status_code == 200, zone.text
    assert api(admin, "POST", "/api/recording/retention").status_code == 200

    rows = admin.get("/api/audit").json()
    def find(action, **kw):
        return next(r for r in rows if r["action"] == action and all(r[k] == v for k, v in kw.items()))
    failed = find("login_failed", actor="mallory")
    assert failed["ok"] is False and failed["address"] == "127.0.0.1"
    assert find("login", actor="otto")["address"] == "127.0.0.1"
    change = find("user.update", target="otto")
    assert change["actor"] == "admin" and change["detail"] == "cameras" and change["address"] == "127.0.0.1"
    edit = find("config.camera.update", target="front")
    assert edit["actor"] == "admin" and edit["detail"] == "title"
    assert find("config.zone.set", target="front/porch")["actor"] == "admin"
    assert find("retention.run")["detail"].startswith("deleted=")
    assert not any("sim_password" in json.dumps(r) or cam["main"] in json.dumps(r) for r in rows)
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)  # newest first
    older = admin.get("/api/audit", params={"before": rows[2]["id"]}).json()
    assert older and older[0]["id"] == rows[3]["id"] and all(r["id"] < rows[2]["id"] for r in older)
    only = admin.get("/api/audit", params={"action": "login", "actor": "otto"}).json()
    assert only and all(r["action"].startswith("login") and r["actor"] == "otto" for r in only)
    page = admin.get("/audit", params={"action": "config."}).text
    assert "config.camera.update" in page and "login_failed" not in page
    last = {u["username"]: u for u in admin.get("/api/users").json()}["otto"]["last_login_ms"]
    assert last and last == find("login", actor="otto")["at_ms"]


def test_users_and_audit_pages_look_tidy(campy, tmp_path):
    """A screenshot of each page at 1440 px, for a person to look at (saved under tmp)."""
    from playwright.sync_api import sync_playwright

    from tests.web.test_browser import CHROMIUM, FLAGS, _login

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            ctx, page = _login(browser, campy)
            page.set_viewport_size({"width": 1440, "height": 900})
            for path in ("/users", "/users/otto/edit", "/audit"):
                page.goto(campy.base_url + path)
                assert page.locator("main h1").is_visible()
                page.screenshot(path=str(tmp_path / (path.strip("/").replace("/", "_") + ".png")), full_page=True)
            ctx.close()
        finally:
            browser.close()
