"""Adding a Reolink camera: URLs filled from the brand's paths, Test before saving, and
every reason a stream cannot be used, against the simulated RLC-810A."""

from __future__ import annotations

import socket

import pytest

from tests.helpers import free_port, post_form, wait_until
from tests.web.conftest import CAM_PASSWORD
from tests.web.test_browser import _login, browser  # noqa: F401 - the browser fixture

HX = {"HX-Request": "true"}
TYPED = "typed-Pa55word!"  # a password typed in the form: must never come back or be logged


@pytest.fixture(scope="module")
def blackhole():
    """A port that accepts connections and never answers (a camera that hangs)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s.getsockname()[1]
    s.close()


def _test(campy, main: str, sub: str = "", password: str = CAM_PASSWORD):
    r = post_form(campy.client(), "/cameras/new/test",
                  {"main": main, "sub": sub, "username": "admin", "password": password}, headers=HX)
    assert r.status_code == 200, r.text[:500]
    return r.text


def test_reolink_fill_uses_the_brand_paths_and_getdevinfo(campy, sims):
    front = sims["front"]
    r = post_form(campy.client(), "/cameras/new/fill",
                  {"brand": "reolink", "host": f"127.0.0.1:{front.rtsp_port}", "transport": "rtsp",
                   "paths": "preview", "api_port": str(front.http_port), "username": "admin",
                   "password": CAM_PASSWORD}, headers=HX)
    assert r.status_code == 200
    assert f'value="rtsp://127.0.0.1:{front.rtsp_port}/Preview_01_main"' in r.text
    assert f'value="rtsp://127.0.0.1:{front.rtsp_port}/Preview_01_sub"' in r.text
    assert "RLC-810A" in r.text and 'value="front (RLC-810A)"' in r.text, r.text
    assert CAM_PASSWORD not in r.text
    # The legacy H.265 paths, over RTSPS without a certificate check; the port defaults to 322.
    r = post_form(campy.client(), "/cameras/new/fill",
                  {"brand": "reolink", "host": "192.168.1.21", "transport": "rtspx", "paths": "h265"},
                  headers=HX)
    assert 'value="rtspx://192.168.1.21:322/h265Preview_01_main"' in r.text
    assert 'value="rtspx://192.168.1.21:322/h264Preview_01_sub"' in r.text
    r = post_form(campy.client(), "/cameras/new/fill", {"brand": "reolink", "host": "admin@cam/x"}, headers=HX)
    assert 'data-field="host"' in r.text


def test_add_form_offers_brand_and_test_button(campy):
    r = campy.client().get("/cameras/new")
    assert r.status_code == 200
    for needle in ('name="brand"', 'value="reolink"', 'value="generic"', 'name="host"',
                   'hx-post="/cameras/new/test"', 'hx-post="/cameras/new/fill"', "/static/onboard.css"):
        assert needle in r.text, needle
    assert "<script>" not in r.text and "style=" not in r.text


def test_test_shows_codecs_resolution_rate_and_audio_of_both_streams(campy, sims):
    front = sims["front"]
    text = _test(campy, front.main_url, front.sub_url)
    assert 'data-role="main" data-kind="ok"' in text and 'data-role="sub" data-kind="ok"' in text, text
    assert "H265 3840×2160" in text and "25 fps" in text
    assert "H264 640×360" in text and "10 fps" in text
    assert "AAC 16000 Hz mono" in text
    assert CAM_PASSWORD not in text


def test_test_explains_each_failure_and_never_echoes_the_password(campy, sims, blackhole):
    front = sims["front"]
    base = f"127.0.0.1:{front.rtsp_port}"
    cases = [
        (f"rtsp://{base}/Preview_01_main", TYPED, "auth", "wrong credentials"),
        (f"rtsp://{base}/h264Preview_01_main", CAM_PASSWORD, "not_found", "no such path"),
        (f"rtsp://127.0.0.1:{free_port()}/Preview_01_main", CAM_PASSWORD, "refused", "connection refused"),
        (f"rtsp://127.0.0.1:{blackhole}/Preview_01_main", CAM_PASSWORD, "timeout", "timed out"),
        (f"rtsps://127.0.0.1:{front.rtsps_port}/Preview_01_main", CAM_PASSWORD, "tls", "TLS error"),
        ("rtsp://no-such-camera.invalid/Preview_01_main", CAM_PASSWORD, "unreachable", "not known"),
    ]
    for url, password, kind, words in cases:
        text = _test(campy, url, password=password)
        assert f'data-kind="{kind}"' in text and words in text, (url, text)
        assert password not in text
    # rtspx:// is the same RTSPS endpoint without the certificate check: it works.
    text = _test(campy, f"rtspx://127.0.0.1:{front.rtsps_port}/Preview_01_sub")
    assert 'data-kind="ok"' in text and "H264 640×360" in text, text
    assert TYPED not in campy.log() and CAM_PASSWORD not in campy.log()


def test_test_needs_the_csrf_token(campy, sims):
    r = campy.client().post("/cameras/new/test", data={"main": sims["front"].main_url})
    assert r.status_code == 403


def test_saved_camera_works_and_a_wrong_password_shows_auth_failed(campy, sims):
    c = campy.client()
    back = sims["back"]
    r = post_form(c, "/cameras", {"brand": "reolink", "host": f"127.0.0.1:{back.rtsp_port}",
                                  "name": "onboarded", "main": back.main_url, "sub": back.sub_url,
                                  "username": "admin", "password": CAM_PASSWORD, "enabled": "on"})
    assert r.status_code == 303, r.text[:500]
    wait_until(lambda: c.get("/api/cameras/onboarded").json()["state"] == "online", timeout=30,
               what="the onboarded camera online")
    r = post_form(c, "/cameras", {"name": "wrongpw", "main": back.main_url, "sub": back.sub_url,
                                  "username": "admin", "password": TYPED, "enabled": "on"})
    assert r.status_code == 303
    wait_until(lambda: "auth failed" in c.get("/cameras/wrongpw/badge").text, timeout=20,
               what="auth failed on the camera's badge")
    assert "auth failed" in c.get("/cameras/wrongpw").text
    for name in ("onboarded", "wrongpw"):
        assert post_form(c, f"/cameras/{name}/delete", {}).status_code == 303


@pytest.mark.browser
def test_reolink_form_in_chromium_fills_tests_and_saves(campy, sims, browser):  # noqa: F811
    front = sims["front"]
    ctx, page = _login(browser, campy)
    csp: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and csp.append(m.text))
    try:
        page.goto(campy.base_url + "/cameras/new")
        assert page.locator("input[name=host]").is_visible()
        page.fill("input[name=host]", f"127.0.0.1:{front.rtsp_port}")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", TYPED)
        page.fill("input[name=api_port]", str(front.http_port))
        page.click("#fill-urls")
        page.wait_for_function("document.querySelector('input[name=main]').value.endsWith('/Preview_01_main')")
        assert page.input_value("input[name=sub]") == front.sub_url
        # GetDevInfo needs the right password; with a wrong one the URLs are filled anyway.
        assert page.input_value("input[name=title]") == ""
        page.click("#test-camera")
        page.locator('#probe-result tr[data-role="main"][data-kind="auth"]').wait_for(timeout=20_000)
        assert "wrong credentials" in page.inner_text("#probe-result")
        page.fill("input[name=password]", CAM_PASSWORD)
        page.click("#test-camera")
        page.locator('#probe-result tr[data-role="sub"][data-kind="ok"]').wait_for(timeout=20_000)
        text = page.inner_text("#probe-result")
        assert "H265 3840×2160" in text and "H264 640×360" in text and "AAC" in text, text
        # Generic RTSP: the Reolink-only fields go away (CSS only, no script).
        page.select_option("select[name=brand]", "generic")
        assert not page.locator("input[name=host]").is_visible()
        page.fill("input[name=name]", "porch_b")
        page.click("#camera-form button[type=submit]")
        page.wait_for_url(campy.base_url + "/cameras/porch_b")
        assert not csp, csp
    finally:
        ctx.close()
        post_form(campy.client(), "/cameras/porch_b/delete", {})
