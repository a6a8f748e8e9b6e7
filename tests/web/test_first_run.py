"""The first run, walked in headless Chromium the way a new user does it: a styled login
page, simulated cameras labelled as such with a real ``person`` event from the shipped model,
a Reolink camera added through the form (Test shows its codecs, a wrong password is caught),
its settings changed in the UI, a restart that keeps all of it, and its H.265 footage played
back in a Chromium that has no HEVC decoder."""

from __future__ import annotations

import pytest

from campy.config import load_config
from campy.localtime import LocalTime
from tests.helpers import ADMIN_PASSWORD, CampyProcess, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, sim_camera
from tests.web.test_browser import browser  # noqa: F401 - the module's Chromium fixture
from tests.web.test_browser_recordings import STATE_JS, _click_time

pytestmark = pytest.mark.browser

WRONG = "not-the-cameras-password"


@pytest.fixture(scope="module")
def reolink():
    """A simulated RLC-810A with its default H.265 main stream, for the user to add."""
    with sim_camera("porch", main_codec="h265") as cam:
        yield cam


def _stylesheet_applied(page) -> bool:
    # campy.css sets the page's font stack; the browser default is a serif font.
    return page.evaluate("""() => Array.from(document.styleSheets).some(s => (s.href || '').endsWith('/static/campy.css'))
        && !getComputedStyle(document.body).fontFamily.toLowerCase().startsWith('"times')""")


def _log_in(page, campy) -> None:
    page.goto(campy.base_url + "/")
    assert "/login" in page.url
    assert _stylesheet_applied(page), "the login page has no stylesheet"
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(campy.base_url + "/")


def _person_event_listed(page, campy) -> bool:
    page.goto(campy.base_url + "/events")
    return page.locator('.event-list li[data-label="person"]').count() > 0


def test_first_run_from_login_to_h265_playback(browser, reolink, tmp_path):  # noqa: F811
    port = free_port()
    config = write_config(tmp_path / "campy.yaml", [], port=port, password_secret="unused")
    campy = CampyProcess(config, port)
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    try:
        # 1. A styled login page, then simulated cameras, labelled as such.
        _log_in(page, campy)
        assert page.locator("#sim-banner").is_visible()
        tiles = page.locator(".tile[data-camera]")
        assert sorted(tiles.evaluate_all("ts => ts.map(t => t.dataset.camera)")) == ["sim1", "sim2"]
        # 2. The shipped model sees the simulator's walker: a real person event.
        wait_until(lambda: _person_event_listed(page, campy), timeout=240, interval=3,
                   what="a person event on the events page")

        # 3. Add the Reolink through the form: fill, Test (a wrong password is caught), save.
        page.goto(campy.base_url + "/cameras/new")
        page.fill("input[name=host]", f"127.0.0.1:{reolink.rtsp_port}")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", WRONG)
        page.fill("input[name=api_port]", str(reolink.http_port))
        page.click("#fill-urls")
        page.wait_for_function("() => document.querySelector('input[name=main]').value.endsWith('/Preview_01_main')")
        page.click("#test-camera")
        page.locator('#probe-result tr[data-role="main"][data-kind="auth"]').wait_for(timeout=30_000)
        assert "wrong credentials" in page.inner_text("#probe-result")
        page.fill("input[name=password]", CAM_PASSWORD)
        page.click("#fill-urls")  # with the right password GetDevInfo names the model
        page.wait_for_function("() => document.querySelector('input[name=title]').value.includes('RLC-810A')")
        page.click("#test-camera")
        page.locator('#probe-result tr[data-role="sub"][data-kind="ok"]').wait_for(timeout=30_000)
        probe = page.inner_text("#probe-result")
        assert "H265 3840×2160" in probe and "H264 640×360" in probe, probe
        page.fill("input[name=name]", "porch")
        page.click("#camera-form button[type=submit]")
        page.wait_for_url(campy.base_url + "/cameras/porch")
        assert "porch:" in config.read_text() and CAM_PASSWORD not in config.read_text()

        # 4. Its recording mode, changed on its settings page, lands in campy.yaml.
        page.goto(campy.base_url + "/cameras/porch/settings")
        page.select_option("#record-form select[name=mode]", "events")
        page.click("#record-form button[type=submit]")
        page.wait_for_selector("#settings-saved")
        # 5. A motion mask drawn on the camera's picture (the detection worker's latest frame).
        frame = campy.data_file("snapshots") / "porch" / "latest.jpg"
        wait_until(frame.exists, timeout=120, what="porch's first picture from its detection worker")
        page.goto(campy.base_url + "/cameras/porch/zones")
        page.wait_for_function("() => { const i = document.querySelector('.zone-canvas img');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        box = page.locator("#zone-svg").bounding_box()
        for fx, fy in ((0.0, 0.0), (0.3, 0.0), (0.3, 0.2), (0.0, 0.2)):
            page.mouse.click(box["x"] + fx * box["width"] + 1, box["y"] + fy * box["height"] + 1)
        page.click("#mask-save")
        page.wait_for_selector("#mask-saved")
    finally:
        ctx.close()
        campy.stop()

    # 6. A restart keeps the camera and its settings (and the simulated ones are gone: the
    # user has a camera now).
    campy = CampyProcess(config, port)
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    try:
        _log_in(page, campy)
        tiles = page.locator(".tile[data-camera]")
        assert tiles.evaluate_all("ts => ts.map(t => t.dataset.camera)") == ["porch"]
        assert page.locator("#sim-banner").count() == 0
        page.goto(campy.base_url + "/cameras/porch/settings")
        assert page.input_value("#record-form select[name=mode]") == "events"
        porch = load_config(config).cameras["porch"]
        assert porch.record.mode == "events" and len(porch.detect.motion_masks) == 1, porch
        mask = porch.detect.motion_masks[0]
        assert max(x for x, _ in mask) < 0.35 * porch.detect.width, mask  # the corner drawn at 30 %

        # 7. Its H.265 footage plays back in this Chromium (no HEVC decoder) from the sub stream
        # recorded beside the main one, and the page says so.
        c = campy.client()
        subs = wait_until(lambda: (r := c.get("/api/cameras/porch/recordings", params={"stream": "sub"}).json())
                          and len(r) >= 3 and r, timeout=120, what="3 sub segments of porch")
        target = subs[1]["start_ms"] + 800
        zone = LocalTime(load_config(config).server.timezone)
        day = zone.day_of(target)
        page.goto(f"{campy.base_url}/cameras/porch/recordings?day={day}"
                  f"&hour={(target - zone.day_start_ms(day)) // 3_600_000}")
        page.wait_for_selector(".hour-strip svg.timeline rect.rec")
        _click_time(page, ".hour-strip svg.timeline", target)
        first = wait_until(lambda: (st := page.evaluate(STATE_JS))["frames"] > 5 and st, timeout=60,
                           what="frames of porch's footage decoded")
        assert first["err"] is None and "stream=sub" in first["src"], first
        wait_until(lambda: (st := page.evaluate(STATE_JS))["frames"] > first["frames"] + 20
                   and st["t"] > first["t"] + 2 and st, timeout=60, what="porch's footage playing on")
        assert "this browser cannot decode H.265" in page.locator("#sub-note").inner_text()
    finally:
        ctx.close()
        campy.stop()
