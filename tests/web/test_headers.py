"""Security headers on every kind of response, the CSP against real pages in Chromium, and API
docs that load no third-party script."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

import httpx
import pytest

from campy.web.headers import CSP, with_security_headers
from tests.helpers import api
from tests.web.test_browser import browser  # noqa: F401  (the Chromium fixture)

EXPECTED = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


def _check(r: httpx.Response, what: str) -> None:
    for name, value in EXPECTED.items():
        assert r.headers.get(name) == value, f"{what} ({r.status_code}): {name} is {r.headers.get(name)!r}"
    assert "strict-transport-security" not in r.headers, f"{what}: HSTS over plain http"


def test_csp_is_strict():
    directives = dict(d.split(" ", 1) for d in CSP.split("; "))
    assert directives["script-src"] == "'self'"  # no inline scripts, no eval, no CDN
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'"


def test_every_kind_of_response_carries_the_headers(campy):
    admin = campy.client()
    with httpx.Client(base_url=campy.base_url, timeout=20) as anon:
        cases = [
            ("login page", anon.get("/login")),
            ("HEAD login page", anon.head("/login")),
            ("redirect to login", anon.get("/")),
            ("healthz", anon.get("/healthz")),
            ("static file", admin.get("/static/campy.css")),
            ("anonymous API", anon.get("/api/cameras")),
            ("unknown path", anon.get("/no/such/page")),
            ("wrong method", anon.post("/healthz")),
            ("missing CSRF", anon.post("/login", data={"username": "x", "password": "y"})),
            ("grid", admin.get("/")),
            ("camera page", admin.get("/cameras/front")),
            ("events", admin.get("/events")),
            ("system", admin.get("/system")),
            ("API list", admin.get("/api/cameras")),
            ("API 404", admin.get("/api/cameras/nosuch")),
            ("API 400", api(admin, "POST", "/api/cameras", json={"name": "Bad Name!", "main": "x"})),
            ("player script", admin.get("/live/player/video-stream.js")),
            ("missing static", admin.get("/static/nothing-here.css")),
            ("API docs", admin.get("/api/schema")),
            ("OpenAPI document", admin.get("/api/schema/openapi.json")),
            ("old renderer", admin.get("/api/schema/swagger")),
            ("logout redirect", api(admin, "POST", "/logout")),
        ]
    statuses = {what: r.status_code for what, r in cases}
    # The walk covers what it claims: pages, redirects, 4xx of several kinds.
    assert statuses["redirect to login"] in (302, 303) and statuses["logout redirect"] == 303
    assert statuses["unknown path"] == 404 and statuses["wrong method"] == 405
    assert statuses["anonymous API"] == 401 and statuses["API 400"] == 400
    assert statuses["missing CSRF"] == 403 and statuses["API 404"] == 404
    assert statuses["grid"] == statuses["static file"] == statuses["API list"] == 200
    for what, r in cases:
        _check(r, what)


def test_a_handler_that_allows_framing_gets_no_x_frame_options():
    own = [(b"content-security-policy", b"frame-ancestors https://ha.example"), (b"set-cookie", b"a=1")]
    out = dict(with_security_headers(own, https=False))
    assert out[b"content-security-policy"] == b"frame-ancestors https://ha.example"
    assert b"x-frame-options" not in out and out[b"x-content-type-options"] == b"nosniff"
    assert out[b"set-cookie"] == b"a=1" and b"strict-transport-security" not in out
    # A handler's own value of any header wins; over https cookies become Secure, HSTS appears.
    out = dict(with_security_headers([(b"Referrer-Policy", b"no-referrer"), (b"set-cookie", b"a=1; Path=/")],
                                     https=True))
    assert out[b"Referrer-Policy"] == b"no-referrer" and b"referrer-policy" not in out
    assert out[b"set-cookie"] == b"a=1; Path=/; Secure"
    assert out[b"strict-transport-security"] == b"max-age=31536000"


def test_player_style_hash_matches_the_player_campy_serves(campy):
    """go2rtc's player injects one <style>; the CSP lets in exactly that one by its hash. A
    go2rtc upgrade that changes it fails here (update PLAYER_STYLE_HASH)."""
    js = campy.client().get("/live/player/video-stream.js").text
    styles = re.findall(r"<style>(.*?)</style>", js, re.S)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in CSP


SCHEMA_PATHS = ["/api/schema", "/api/schema/", "/api/schema/swagger", "/api/schema/redoc",
                "/api/schema/elements", "/api/schema/rapidoc", "/api/schema/scalar",
                "/api/schema/stoplight", "/api/schema/oauth2-redirect.html", "/api/schema/openapi.json",
                "/api/schema/openapi.yaml", "/api/schema/openapi.yml"]


def test_api_docs_load_no_third_party_script(campy):
    from tests.web.test_auth import _registered_routes

    http_routes, _ = _registered_routes(campy.config)
    paths = set(SCHEMA_PATHS) | {p for _, p in http_routes if p.startswith("/api/schema")}
    admin = campy.client()
    answered = {}
    for path in sorted(paths):
        r = admin.get(path)
        answered[path] = r.status_code
        if r.status_code != 200:
            assert r.status_code == 404, (path, r.status_code)
            continue
        for src in re.findall(r"<script[^>]*\bsrc=[\"']?([^\"' >]+)", r.text, re.I):
            assert not urlsplit(src).netloc, f"{path} loads a script from {src}"
        assert "cdn" not in r.text.lower() or path.endswith(".json"), path
    ok = {p for p, s in answered.items() if s == 200}
    assert ok == {"/api/schema", "/api/schema/", "/api/schema/openapi.json"}, answered
    page = admin.get("/api/schema").text
    assert re.search(r'<code class="method">GET</code> <code>/api/cameras</code>', page)
    assert re.search(r'<code class="method">DELETE</code> <code>/api/cameras/\{name\}</code>', page)
    assert "CameraIn" in page  # request body schema names are listed
    doc = admin.get("/api/schema/openapi.json").json()
    listed = len(re.findall(r'<article class="api-op"', page))
    assert listed == sum(1 for item in doc["paths"].values() for m in item if m in
                         ("get", "head", "post", "put", "patch", "delete", "options"))
    # Still behind the login.
    assert httpx.get(campy.base_url + "/api/schema/openapi.json").status_code in (401, 303)
    assert httpx.get(campy.base_url + "/api/schema").status_code in (401, 303)


CSP_JS = """() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
}"""


@pytest.mark.browser
def test_pages_raise_no_csp_violation_and_video_moves(campy, browser):  # noqa: F811
    from tests.web.test_browser import _frames_increase, _login

    ctx, page = _login(browser, campy)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.add_init_script(f"({CSP_JS})()")
    try:
        for path in ("/", "/cameras/front"):
            page.goto(campy.base_url + path)
            _frames_increase(page, timeout=90)
            assert page.evaluate("window.__cspViolations") == [], path
        for path in ("/events", "/system", "/storage", "/cameras/front/recordings",
                     "/cameras/front/zones", "/api/schema", "/cameras/new", "/cameras/front/settings",
                     "/alerts/settings"):
            r = page.goto(campy.base_url + path)
            assert r.status == 200, path
            page.wait_for_load_state("networkidle")
            assert page.evaluate("window.__cspViolations") == [], path
        csp = [m for m in messages if "Content Security Policy" in m or "Content-Security-Policy" in m]
        assert csp == [], csp
    finally:
        ctx.close()
