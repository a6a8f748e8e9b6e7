"""API tokens and signed alert links against a real `campy serve`.

One CamPy with two simulated cameras: `walk` (a person walks across its sub stream; detection
with the shipped model makes events, alerts go to a real webhook receiver) and `other`.
Tokens are created through the API by an admin session, then used with
`Authorization: Bearer` only: no cookie, no CSRF token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import websockets.exceptions
from websockets.sync.client import connect as ws_connect

from tests.alerts.conftest import WebhookReceiver
from tests.helpers import CampyProcess, api, free_port, wait_until, write_config
from tests.web.test_browser import _login, browser  # noqa: F401 - fixture used by name

pytestmark = pytest.mark.timeout(300)

PASSWORD = "walker-pw-2"
MSE_REQUEST = json.dumps({"type": "mse", "value": "avc1.640029,avc1.64002A,avc1.640033,mp4a.40.2,opus"})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from campy.sim.camera import SimCamera

    d = tmp_path_factory.mktemp("tokens")
    with contextlib.ExitStack() as stack:
        hook = WebhookReceiver()
        stack.callback(hook.close)
        walk = SimCamera("walk", username="admin", password=PASSWORD, main_codec="h264", sub_scene="walker")
        stack.callback(walk.run_in_thread().stop)
        other = SimCamera("other", username="admin", password=PASSWORD, main_codec="h264")
        stack.callback(other.run_in_thread().stop)
        detect = {"fps": 5, "labels": ["person"], "min_score": 0.5, "min_frames": 2}
        alerts = {"webhooks": {"hook": {"url": hook.url + "/hook"}},
                  "rules": {"people": {"labels": ["person"], "webhooks": ["hook"], "cooldown_seconds": 0,
                                       "mqtt": False}}}
        top = f"alerts: {json.dumps(alerts)}\n"  # no detector: the shipped YOLOX-Nano
        cams = [{"name": "walk", "main": walk.main_url, "sub": walk.sub_url, "username": "admin",
                 "password": "!secret sim_password", "detect": detect,
                 "record": {"pre_roll_seconds": 2, "post_roll_seconds": 2}},
                {"name": "other", "main": other.main_url, "sub": other.sub_url, "username": "admin",
                 "password": "!secret sim_password"}]
        port = free_port()
        cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=PASSWORD, extra_top=top,
                           recording={"segment_seconds": 2})
        proc = CampyProcess(cfg, port)
        try:
            yield proc, hook, {"walk": walk, "other": other}
        finally:
            left = proc.stop()
            assert not left, f"processes left behind: {left}"


@pytest.fixture(scope="module")
def admin(setup):
    campy, _, _ = setup
    return campy.client()


def make_token(admin: httpx.Client, **body) -> dict:
    r = api(admin, "POST", "/api/tokens", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def bearer(campy: CampyProcess, token: str) -> httpx.Client:
    """A client that carries the token and nothing else (no cookie jar is ever filled)."""
    return httpx.Client(base_url=campy.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"},
                        cookies=None, follow_redirects=False)


def ws_url(campy: CampyProcess, src: str) -> str:
    return campy.base_url.replace("http", "ws", 1) + f"/live/ws?src={src}"


def first_text(conn) -> dict:
    """go2rtc's reply to the player's first message (binary media frames skipped)."""
    conn.send(MSE_REQUEST)
    while True:
        msg = conn.recv(timeout=30)
        if isinstance(msg, str):
            return json.loads(msg)


def test_creating_tokens_validates_every_field(setup, admin):
    for body, field in (({"name": "x", "role": "viewer", "cameras": ["nope"]}, "cameras"),
                        ({"name": "x", "role": "viewer", "cameras": []}, "cameras"),
                        ({"name": "x", "role": "admin", "cameras": ["walk"]}, "cameras"),
                        ({"name": "x", "role": "boss"}, "role"),
                        ({"name": " ", "role": "viewer"}, "name"),
                        ({"name": "x", "role": "viewer", "expires_s": 0}, "expires_s")):
        r = api(admin, "POST", "/api/tokens", json=body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert field in err["fields"] and err["message"], (body, err)
    made = make_token(admin, name="ha", role="viewer", cameras=["walk"], expires_s=3600)
    assert made["token"].startswith(f"campy_{made['id']}_") and made["cameras"] == ["walk"]
    assert made["expires_ms"] > time.time() * 1000
    listed = {t["id"]: t for t in admin.get("/api/tokens").json()}
    assert listed[made["id"]]["name"] == "ha" and listed[made["id"]]["created_by"] == "admin"
    assert made["token"] not in json.dumps(listed), "a listing carries a secret"


def test_viewer_token_reads_its_camera_and_nothing_else(setup, admin):
    campy, _, _ = setup
    tok = make_token(admin, name="viewer-walk", role="viewer", cameras=["walk"])
    with bearer(campy, tok["token"]) as c:
        r = c.get("/api/cameras")
        assert r.status_code == 200 and [cam["name"] for cam in r.json()] == ["walk"], r.text
        # A recorded segment, read with a Range request.
        segs = wait_until(lambda: c.get("/api/cameras/walk/recordings").json(), timeout=60,
                          what="a recorded segment of walk")
        r = c.get(segs[0]["url"], headers={"Range": "bytes=0-99"})
        assert r.status_code == 206 and len(r.content) == 100 and r.content[4:8] == b"ftyp", r.status_code
        # Continuous playback: the first bytes of the fragmented MP4.
        with c.stream("GET", f"/api/cameras/walk/play.mp4?start={segs[0]['start_ms']}") as r:
            assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
            head = next(r.iter_bytes())
            assert b"ftyp" in head[:16]
        # An event's snapshot.
        ev = wait_until(lambda: next((e for e in c.get("/api/events?camera=walk").json()
                                      if e["snapshot_url"]), None), timeout=90, what="an event with a snapshot")
        r = c.get(ev["snapshot_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
        # Not the other camera (404, exactly like a camera that does not exist) ...
        for url in ("/api/cameras/other", "/api/cameras/other/recordings", "/api/cameras/other/timeline"):
            assert c.get(url).status_code == 404, url
        # ... and no admin route.
        assert c.get("/api/tokens").status_code == 403
        r = c.post("/api/cameras", json={"name": "sneaky", "main": "rtsp://127.0.0.1:9/x"})
        assert r.status_code == 403 and r.json()["error"]["message"]
        assert c.delete("/api/cameras/walk").status_code == 403
    # The live WebSocket, authorised by the header alone.
    auth = {"Authorization": f"Bearer {tok['token']}"}
    with ws_connect(ws_url(campy, "walk_sub"), additional_headers=auth, open_timeout=30, max_size=None) as conn:
        reply = first_text(conn)
        assert reply["type"] == "mse" and "video/mp4" in reply["value"], reply
    with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
        with ws_connect(ws_url(campy, "other_sub"), additional_headers=auth, open_timeout=30) as conn:
            first_text(conn)
    # The last-used time shows in the listing (the secret never does).
    listed = {t["id"]: t for t in admin.get("/api/tokens").json()}
    assert listed[tok["id"]]["last_used_ms"] is not None


def test_operator_token_marks_without_csrf(setup, admin):
    campy, _, _ = setup
    tok = make_token(admin, name="trigger", role="operator", cameras=["walk"])
    with bearer(campy, tok["token"]) as c:
        r = c.post("/api/cameras/walk/marks", json={"seconds": 5, "label": "doorbell"})
        assert r.status_code == 201, r.text
        assert r.json()["label"] == "doorbell"
    # The same request without the token is refused (it is the token that lets it through).
    r = httpx.post(campy.base_url + "/api/cameras/walk/marks", json={"seconds": 5})
    assert r.status_code in (401, 403)


def test_admin_token_adds_a_camera(setup, admin):
    campy, _, _ = setup
    tok = make_token(admin, name="provisioning", role="admin")
    with bearer(campy, tok["token"]) as c:
        r = c.post("/api/cameras", json={"name": "extra", "main": "rtsp://127.0.0.1:9/none", "enabled": False})
        assert r.status_code == 201, r.text
        assert "extra:" in campy.config.read_text()
        assert c.delete("/api/cameras/extra").status_code == 204


def test_expired_and_revoked_tokens_get_401_with_a_message(setup, admin):
    campy, _, _ = setup
    short = make_token(admin, name="short", role="viewer", expires_s=1)
    with bearer(campy, short["token"]) as c:
        r = wait_until(lambda: (lambda r: r if r.status_code == 401 else None)(c.get("/api/cameras")),
                       timeout=30, what="the 1 s token to expire")
        assert "expired" in r.json()["error"]["message"]
    tok = make_token(admin, name="soon-revoked", role="viewer")
    with bearer(campy, tok["token"]) as c:
        assert c.get("/api/cameras").status_code == 200
        assert api(admin, "DELETE", f"/api/tokens/{tok['id']}").status_code == 204
        r = c.get("/api/cameras")
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert api(admin, "DELETE", "/api/tokens/nosuchtoken").status_code == 404
    states = {t["id"]: t["state"] for t in admin.get("/api/tokens").json()}
    assert states[tok["id"]] == "revoked" and states[short["id"]] == "expired"
    audit = campy.data_file("campy.db")
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{audit}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT actor, action, target, detail FROM audit WHERE target = ?", [tok["id"]]).fetchall()
    assert ("admin", "token.create", tok["id"], "soon-revoked (viewer)") in rows
    assert ("admin", "token.revoke", tok["id"], "soon-revoked (viewer)") in rows


def test_revoking_closes_an_open_token_websocket(setup, admin):
    campy, _, _ = setup
    tok = make_token(admin, name="dashboard", role="viewer", cameras=["walk"])
    auth = {"Authorization": f"Bearer {tok['token']}"}
    with ws_connect(ws_url(campy, "walk_sub"), additional_headers=auth, open_timeout=30, max_size=None) as conn:
        assert first_text(conn)["type"] == "mse"
        assert api(admin, "DELETE", f"/api/tokens/{tok['id']}").status_code == 204
        deadline = time.monotonic() + 30
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while time.monotonic() < deadline:  # media frames keep coming until the close
                conn.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, closed.value
        assert "revoked" in closed.value.rcvd.reason


def test_tokens_are_refused_on_pages(setup, admin):
    campy, _, _ = setup
    tok = make_token(admin, name="pages", role="admin")
    with bearer(campy, tok["token"]) as c:
        for url in ("/", "/events", "/tokens", "/cameras/walk"):
            r = c.get(url)
            assert r.status_code == 401, (url, r.status_code)
            assert "API tokens work on /api, /live and /metrics only" in r.text, url


def test_token_is_stored_hashed(setup, admin):
    campy, _, _ = setup
    tok = make_token(admin, name="hashed", role="viewer")
    with bearer(campy, tok["token"]) as c:
        assert c.get("/api/cameras").status_code == 200
    secret = tok["token"].rsplit("_", 1)[1]
    data = b"".join(p.read_bytes() for p in campy.data_file("campy.db").parent.glob("campy.db*"))
    assert tok["token"].encode() not in data and secret.encode() not in data
    assert hashlib.sha256(tok["token"].encode()).hexdigest().encode() in data  # what is stored instead


def test_tokens_page_shows_a_new_token_once(setup, admin, tmp_path):
    campy, _, _ = setup
    r = admin.get("/tokens")
    assert r.status_code == 200 and 'id="token-form"' in r.text
    r = admin.post("/tokens", data={"name": "from the page", "role": "viewer", "cameras": "walk",
                                    "expires_days": "2", "_csrf_token": admin.cookies["csrftoken"]},
                   headers={"HX-Request": "true", "x-csrftoken": admin.cookies["csrftoken"]})
    assert r.status_code == 200 and 'id="token-created"' in r.text
    raw = r.text.split('id="new-token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert raw.startswith("campy_")
    page = admin.get("/tokens").text
    assert "from the page" in page and raw not in page, "the token was shown a second time"
    r = admin.post("/tokens", data={"name": "bad", "role": "viewer", "cameras": "nope",
                                    "_csrf_token": admin.cookies["csrftoken"]})
    assert r.status_code == 400 and "no camera named" in r.text


# -- signed links in alert payloads --------------------------------------------------------

def _alert(hook: WebhookReceiver, kind: str):
    for req in hook.received():
        body = req.json()
        if body["type"] == kind and body["snapshot_url"]:
            return body
    return None


def test_alert_snapshot_link_opens_without_login(setup):
    campy, hook, _ = setup
    body = wait_until(lambda: _alert(hook, "start") or _alert(hook, "update") or _alert(hook, "end"),
                      timeout=120, what="an alert carrying a snapshot link")
    link = body["snapshot_url"]
    assert link.startswith(campy.base_url + f"/signed/events/{body['id']}/snapshot.jpg?exp=")
    assert body["links_expire_ms"] > time.time() * 1000 + 23 * 3600 * 1000  # 24 h by default
    r = httpx.get(link)  # no cookie, no token
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    # Scoped to that one object: another id, or a changed expiry, breaks the signature.
    other_id = link.replace(f"/events/{body['id']}/", f"/events/{body['id'] + 1}/")
    q = parse_qs(urlsplit(link).query)
    past = link.replace(f"exp={q['exp'][0]}", f"exp={int(q['exp'][0]) - 100_000}")
    for bad in (other_id, past, link.split("?")[0], link[:-3] + "AAA"):
        r = httpx.get(bad)
        assert r.status_code == 403 and "link" in r.text, (bad, r.status_code)
    # A link signed with this install's key but already expired says so.
    from campy.alerts.links import LinkSigner, snapshot_path
    from campy.clock import ManualClock

    old = LinkSigner(campy.data_file("x").parent, clock=ManualClock(time.time() - 90_000))
    r = httpx.get(campy.base_url + old.sign(snapshot_path(body["id"]))[0])
    assert r.status_code == 403 and "expired" in r.text


def test_alert_clip_link_plays(setup, tmp_path):
    campy, hook, _ = setup
    body = wait_until(lambda: _alert(hook, "end"), timeout=120, what="an alert for an ended event")
    link = body["clip_url"]
    assert link.startswith(campy.base_url + f"/signed/events/{body['id']}/clip.mp4?exp=")
    # The footage of the event's end is indexed when its segment closes: wait for a clip.
    r = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(httpx.get(link, timeout=60)),
                   timeout=60, what="the clip")
    assert r.headers["content-type"] == "video/mp4"
    out = tmp_path / "clip.mp4"
    out.write_bytes(r.content)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name",
                            "-show_entries", "format=duration", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True)
    info = json.loads(probe.stdout)
    assert any(s["codec_type"] == "video" for s in info["streams"]), info
    assert float(info["format"]["duration"]) >= 2, info
    assert httpx.get(link.replace("clip.mp4", "snapshot.jpg")).status_code == 403  # the sig is per path


@pytest.mark.browser
def test_tokens_page_in_a_browser(setup, browser, tmp_path):  # noqa: F811
    """Create a token on the page (htmx), see it once, revoke it through the confirm dialog."""
    campy, _, _ = setup
    ctx, page = _login(browser, campy)
    try:
        page.set_viewport_size({"width": 390, "height": 900})
        page.goto(campy.base_url + "/tokens")
        page.fill("#token-form input[name=name]", "kiosk")
        page.select_option("#token-form select[name=role]", "viewer")
        page.fill("#token-form input[name=cameras]", "walk")
        page.click("#token-form button[type=submit]")
        page.wait_for_selector("#token-created")
        raw = page.input_value("#new-token")
        assert raw.startswith("campy_")
        page.screenshot(path=str(tmp_path / "tokens-390.png"), full_page=True)
        row = page.locator("tr", has_text="kiosk")
        assert row.locator("td").nth(2).inner_text() == "walk"
        assert httpx.get(campy.base_url + "/api/cameras", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
        page.once("dialog", lambda d: d.accept())
        row.locator("button", has_text="Revoke").click()
        page.wait_for_selector("tr.token-revoked:has-text('kiosk')")
        assert page.locator("#token-created").count() == 0, "the token was shown again"
        page.set_viewport_size({"width": 1440, "height": 900})
        page.screenshot(path=str(tmp_path / "tokens-1440.png"), full_page=True)
        assert httpx.get(campy.base_url + "/api/cameras", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    finally:
        ctx.close()
