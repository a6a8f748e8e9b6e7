"""Embeds: a camera's live stream on pages of other origins, checked by token and Origin.

A real CamPy (simulated cameras, go2rtc) and, for the browser tests, headless Chromium with
two small web servers on other ports of 127.0.0.1: one origin the embed allows, one it does not.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import sqlite3
import threading
from contextlib import contextmanager

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client as wsclient

from tests.helpers import api, free_port, wait_until
from tests.web.test_browser import FRAMES_JS, _frames_increase, browser  # noqa: F401 (fixture)


def _make(client, camera="front", **body):
    body.setdefault("origins", ["https://dash.example.org"])
    return api(client, "POST", f"/api/cameras/{camera}/embeds", json=body)


def _ws_url(campy, token):
    return campy.base_url.replace("http", "ws", 1) + f"/live/embed/ws?token={token}"


def _audit(campy):
    with sqlite3.connect(f"file:{campy.data_file('campy.db')}?mode=ro", uri=True) as db:
        return db.execute("SELECT actor, action, target, detail FROM audit ORDER BY id").fetchall()


def test_create_list_revoke_contract(campy):
    c = campy.client()
    r = _make(c, origins=["https://dash.example.org:8123/", "http://127.0.0.1:9"], stream="sub",
              expires_s=3600)
    assert r.status_code == 201, r.text
    e = r.json()
    assert {"id", "token", "iframe", "script"} <= set(e)
    assert e["origins"] == ["https://dash.example.org:8123", "http://127.0.0.1:9"]
    assert e["stream"] == "sub" and e["state"] == "active" and e["expires_ms"]
    assert e["iframe"].startswith(f'<iframe src="{campy.base_url}/embed/{e["id"]}?token={e["token"]}"')
    assert 'allow="autoplay; fullscreen"' in e["iframe"]
    assert f'src="{campy.base_url}/live/player/video-stream.js"' in e["script"]
    assert "<video-stream" in e["script"] and _ws_url(campy, e["token"]) in e["script"]
    listed = c.get("/api/cameras/front/embeds").json()
    assert [x["id"] for x in listed] == [e["id"]] and "token" not in listed[0]
    assert e["token"] not in json.dumps(listed)
    assert c.get("/api/cameras/back/embeds").json() == []
    assert api(c, "DELETE", f"/api/cameras/back/embeds/{e['id']}").status_code == 404  # not that camera's
    assert api(c, "DELETE", f"/api/cameras/front/embeds/{e['id']}").status_code == 204
    assert api(c, "DELETE", f"/api/cameras/front/embeds/{e['id']}").status_code == 404
    assert c.get("/api/cameras/front/embeds").json()[0]["state"] == "revoked"
    rows = [row for row in _audit(campy) if row[1].startswith("embed.")]
    assert [(a, act, t) for a, act, t, _ in rows[-2:]] == [("admin", "embed.create", "front"),
                                                         ("admin", "embed.revoke", "front")]
    assert e["id"] in rows[-2][3] and "https://dash.example.org:8123" in rows[-2][3]


@pytest.mark.parametrize(("body", "field"), [
    ({"origins": ["https://*.example.org"]}, "origins"),
    ({"origins": ["https://dash.example.org/lovelace"]}, "origins"),
    ({"origins": []}, "origins"),
    ({"origins": ["https://a.org"], "stream": "h264"}, "stream"),
    ({"origins": ["https://a.org"], "expires_s": -5}, "expires_s"),
])
def test_bad_input_is_a_400_that_names_the_field(campy, body, field):
    r = _make(campy.client(), **body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert field in err["fields"] and err["message"]


def test_dialog_expiry_choices():
    from campy.errors import BadRequest
    from campy.web.embed import _expiry_from_form

    assert _expiry_from_form({"expiry": "never", "expiry_days": "3"}) is None
    assert _expiry_from_form({"expiry": "1d"}) == 86_400
    assert _expiry_from_form({"expiry": "custom", "expiry_days": "2.5"}) == 216_000
    for bad in ({"expiry": "custom", "expiry_days": ""}, {"expiry": "custom", "expiry_days": "-1"},
                {"expiry": "custom", "expiry_days": "9999"}, {"expiry": "weekly"}):
        with pytest.raises(BadRequest, match="days"):
            _expiry_from_form(bad)


def test_only_admins_make_embeds(campy, viewer):
    assert _make(viewer).status_code == 403
    assert viewer.get("/api/cameras/front/embeds").status_code == 403
    assert httpx.post(campy.base_url + "/api/cameras/front/embeds", json={"origins": ["https://a.org"]}
                      ).status_code == 401
    assert _make(campy.client(), camera="nope").status_code == 404


def test_player_code_is_public_cacheable_and_cookie_free(campy):
    r = httpx.get(campy.base_url + "/live/player/video-stream.js")
    assert r.status_code == 200 and "customElements.define" in r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["cache-control"].startswith("public")
    assert "set-cookie" not in r.headers
    again = httpx.get(campy.base_url + "/live/player/video-stream.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(campy.base_url + "/live/player/nope.js").status_code == 404


def test_embed_page_sends_exactly_its_origins_as_frame_ancestors_and_no_cookie(campy):
    e = _make(campy.client(), origins=["https://dash.example.org", "http://127.0.0.1:9"]).json()
    r = httpx.get(f"{campy.base_url}/embed/{e['id']}?token={e['token']}")
    assert r.status_code == 200 and "/embed/assets/embed.js" in r.text
    csp = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert csp["frame-ancestors"] == "https://dash.example.org http://127.0.0.1:9"
    assert csp["script-src"] == "'self'"
    assert "set-cookie" not in r.headers and r.headers["referrer-policy"] == "no-referrer"
    bad = httpx.get(f"{campy.base_url}/embed/{e['id']}?token={e['token']}x")
    assert bad.status_code == 401 and "unknown, expired or revoked" in bad.text
    assert "set-cookie" not in bad.headers
    assert httpx.get(f"{campy.base_url}/embed/{e['id']}").status_code == 401
    assert httpx.get(campy.base_url + "/embed/assets/embed.js").status_code == 200


def _refused_status(url, origin):
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        with wsclient.connect(url, origin=origin, open_timeout=10):
            pass
    return info.value.response.status_code


def test_websocket_checks_token_and_origin_and_plays_mse_only(campy):
    c = campy.client()
    e = _make(c, origins=["http://127.0.0.1:9"]).json()
    url = _ws_url(campy, e["token"])
    assert _refused_status(url, "http://127.0.0.1:10") == 403
    assert _refused_status(url, "http://localhost:9") == 403
    assert _refused_status(url + "x", "http://127.0.0.1:9") == 401
    with wsclient.connect(url, origin="http://127.0.0.1:9", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "webrtc/offer", "value": "v=0"}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "error" and "MSE only" in reply["value"]
        ws.send(json.dumps({"type": "mse", "value": "avc1.640029,avc1.64002A,avc1.640033"}))
        reply = json.loads(ws.recv(timeout=30))
        assert reply["type"] == "mse" and reply["value"].startswith("video/mp4")
        assert isinstance(ws.recv(timeout=30), bytes)  # media flows through CamPy
    # CamPy's own origin is the iframe page (framable only by the listed origins).
    with wsclient.connect(url, origin=campy.base_url, open_timeout=10):
        pass
    revoked = api(c, "DELETE", f"/api/cameras/front/embeds/{e['id']}")
    assert revoked.status_code == 204
    assert _refused_status(url, "http://127.0.0.1:9") == 401


def test_the_embed_token_opens_nothing_else(campy):
    e = _make(campy.client()).json()
    bearer = {"Authorization": f"Bearer {e['token']}"}
    for path in ("/api/cameras", "/api/cameras/front", "/api/cameras/front/embeds", "/live/player/x"):
        r = httpx.get(campy.base_url + path, headers=bearer)
        assert r.status_code in (401, 404) and "front" not in r.text.replace("/api/cameras/front", ""), path
    assert httpx.get(campy.base_url + "/cameras/front", headers=bearer).status_code in (401, 303)
    live = campy.base_url.replace("http", "ws", 1) + "/live/ws?src=front_sub"
    for url, headers in ((live, bearer), (live + f"&token={e['token']}", {})):
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            with wsclient.connect(url, additional_headers=headers, origin=campy.base_url, open_timeout=10) as ws:
                ws.recv(timeout=5)


def test_revoking_closes_an_open_stream_at_once(campy):
    c = campy.client()
    e = _make(c, origins=["http://127.0.0.1:9"]).json()
    with wsclient.connect(_ws_url(campy, e["token"]), origin="http://127.0.0.1:9", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "mse", "value": "avc1.640029"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "mse"
        assert api(c, "DELETE", f"/api/cameras/front/embeds/{e['id']}").status_code == 204
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
        assert closed.value.rcvd.code == 1008
    assert "1 open stream(s) closed" in _audit(campy)[-1][3]


def test_an_embed_that_expires_while_playing_stops(campy):
    """Real time is the subject here: the embed lives 10 s, the open stream must end then."""
    e = _make(campy.client(), origins=["http://127.0.0.1:9"], expires_s=10).json()
    with wsclient.connect(_ws_url(campy, e["token"]), origin="http://127.0.0.1:9", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "mse", "value": "avc1.640029"}))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=60)
        assert closed.value.rcvd.code == 1008
    assert _refused_status(_ws_url(campy, e["token"]), "http://127.0.0.1:9") == 401


# -- in Chromium -------------------------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def _site(root):
    """A plain web server on another port of 127.0.0.1 serving ``root``: another origin."""
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# The test page records every WebSocket it opens: whether it opened and how it closed.
_WS_LOG = """<script>
window.wsLog = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    const entry = {opened: false, code: null};
    wsLog.push(entry);
    this.addEventListener("open", () => { entry.opened = true; });
    this.addEventListener("close", ev => { entry.code = ev.code; });
  }
};
</script>"""


def _page(embed):
    # The script snippet sits in a [data-stream] slot so the grid's frame counter reads it;
    # CamPy's iframe page has one too.
    return ("<!doctype html><html><head><meta charset='utf-8'><title>dashboard</title>" + _WS_LOG +
            f"</head><body><div data-stream='script'>{embed['script']}</div>{embed['iframe']}</body></html>")


def _embed_frame(page, campy):
    return wait_until(lambda: next((f for f in page.frames if f.url.startswith(campy.base_url + "/embed/")), None),
                      timeout=30, what="the embed iframe")


def test_other_origin_plays_both_ways_and_stops_when_revoked(campy, browser, tmp_path):  # noqa: F811
    c = campy.client()
    with _site(tmp_path / "allowed") as allowed, _site(tmp_path / "other") as other:
        e = _make(c, camera="back", origins=[allowed], stream="sub").json()
        for name in ("allowed", "other"):
            (tmp_path / name / "index.html").write_text(_page(e))
        ctx = browser.new_context()  # no CamPy session: only the embed token
        try:
            page = ctx.new_page()
            page.goto(allowed + "/index.html")
            frame = _embed_frame(page, campy)
            stats = _frames_increase(page, timeout=90)
            assert stats[0]["w"] == 640, stats  # the script way: back's sub stream, over MSE
            assert page.evaluate("wsLog")[0]["opened"]
            stats = _frames_increase(frame, timeout=90)
            assert stats[0]["w"] == 640, stats  # the iframe way
            for target in (page, frame):  # over MSE: no peer connection, every byte through CamPy
                assert target.evaluate("document.querySelector('video-stream').pc") is None
            assert not ctx.cookies(campy.base_url)
            if os.environ.get("EMBED_SCREENSHOTS"):
                page.screenshot(path=f"{os.environ['EMBED_SCREENSHOTS']}/embedded-both-ways.png", full_page=True)

            # Revoke: both open streams are closed by CamPy (policy close, 1008).
            for target in (page, frame):
                target.evaluate("""() => { window.closedWith = null;
                  document.querySelector('video-stream').ws.addEventListener('close', ev => {
                    window.closedWith = ev.code; }); }""")
            assert api(c, "DELETE", f"/api/cameras/back/embeds/{e['id']}").status_code == 204
            for target in (page, frame):
                wait_until(lambda t=target: t.evaluate("window.closedWith") == 1008, timeout=30,
                           what="the embed's WebSocket closed by the revocation")

            # Reloaded, neither way plays: the frame shows why, the script's socket is refused.
            page.reload()
            frame = _embed_frame(page, campy)
            frame.wait_for_selector("#embed-error[data-status='401']", timeout=30_000)
            wait_until(lambda: (log := page.evaluate("wsLog")) and log[0]["code"] is not None,
                       timeout=30, what="the script way's WebSocket refused")
            assert not page.evaluate("wsLog")[0]["opened"]
            assert page.evaluate(FRAMES_JS)[0]["frames"] == 0
        finally:
            ctx.close()

        # From an origin not on the list: a fresh embed still allowing only `allowed`.
        e = _make(c, camera="back", origins=[allowed], stream="sub").json()
        (tmp_path / "other" / "index.html").write_text(_page(e))
        ctx = browser.new_context()
        try:
            page = ctx.new_page()
            console: list[str] = []
            page.on("console", lambda msg: console.append(msg.text))
            page.goto(other + "/index.html")
            wait_until(lambda: any("frame-ancestors" in m for m in console), timeout=30,
                       what="Chromium reporting the frame-ancestors violation")
            wait_until(lambda: (log := page.evaluate("wsLog")) and log[0]["code"] is not None,
                       timeout=30, what="the script way's WebSocket refused")
            assert not page.evaluate("wsLog")[0]["opened"]
            assert page.evaluate(FRAMES_JS)[0]["frames"] == 0
            # The blocked frame holds no CamPy page (Chromium shows its own error page).
            assert not any(f.url.startswith(campy.base_url + "/embed/") and f.query_selector("video-stream")
                           for f in page.frames)
        finally:
            ctx.close()


def test_camera_page_embed_dialog_makes_shows_and_revokes(campy, browser):  # noqa: F811
    from tests.web.test_browser import _login

    shots = os.environ.get("EMBED_SCREENSHOTS")  # a directory: also photograph the dialog
    ctx, page = _login(browser, campy)
    try:
        page.goto(campy.base_url + "/cameras/back")
        page.click("#embed-open")
        dialog = page.locator("#embed-dialog")
        dialog.locator("textarea[name=origins]").wait_for()
        dialog.locator("textarea[name=origins]").fill("https://dash.example.org/*")
        dialog.locator("button[type=submit]", has_text="Create").click()
        err = dialog.locator('.field-error[data-field="origins"]')
        err.wait_for()
        assert "no wildcards" in err.inner_text()
        dialog.locator("textarea[name=origins]").fill("https://dash.example.org:8123\nhttp://127.0.0.1:9")
        dialog.locator("input[name=expiry][value='30d']").check()
        dialog.locator("button[type=submit]", has_text="Create").click()
        dialog.locator("#embed-created").wait_for()
        embed_id = dialog.locator("#embed-created").get_attribute("data-embed")
        iframe = dialog.locator("#embed-iframe").input_value()
        script = dialog.locator("#embed-script").input_value()
        assert iframe.startswith(f'<iframe src="{campy.base_url}/embed/{embed_id}?token=campy_e_{embed_id}_')
        assert "/live/embed/ws?token=campy_e_" in script
        item = dialog.locator(f"#embed-list li[data-embed='{embed_id}']")
        assert item.get_attribute("data-state") == "active" and "https://dash.example.org:8123" in item.inner_text()
        if shots:
            for width in (1440, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.screenshot(path=f"{shots}/embed-dialog-{width}.png")
                item.scroll_into_view_if_needed()
                page.screenshot(path=f"{shots}/embed-dialog-{width}-list.png")
        item.locator("button", has_text="Revoke").click()
        dialog.locator("#embed-revoked").wait_for()
        assert dialog.locator(f"#embed-list li[data-embed='{embed_id}']").get_attribute("data-state") == "revoked"
        assert page.url == campy.base_url + "/cameras/back"  # all in place, no navigation
    finally:
        ctx.close()


def test_deleting_a_camera_revokes_its_embeds_and_closes_their_streams(campy, sims):
    """A camera added later under the same name must never show through an old snippet."""
    c = campy.client()
    sim = sims["front"]
    body = {"name": "doomed", "main": sim.main_url, "sub": sim.sub_url, "username": sim.username,
            "password": sim.password}
    assert api(c, "POST", "/api/cameras", json=body).status_code == 201
    e = _make(c, camera="doomed", origins=["http://127.0.0.1:9"], stream="sub").json()
    with wsclient.connect(_ws_url(campy, e["token"]), origin="http://127.0.0.1:9", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "mse", "value": "avc1.640029"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "mse"
        assert api(c, "DELETE", "/api/cameras/doomed").status_code == 204
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
        assert closed.value.rcvd.code == 1008
    assert api(c, "POST", "/api/cameras", json=body).status_code == 201  # the same name again
    try:
        assert _refused_status(_ws_url(campy, e["token"]), "http://127.0.0.1:9") == 401
        listed = api(c, "GET", "/api/cameras/doomed/embeds").json()
        assert [x["state"] for x in listed if x["id"] == e["id"]] == ["revoked"]
    finally:
        api(c, "DELETE", "/api/cameras/doomed")
