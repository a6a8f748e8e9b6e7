"""The live player recovers by itself when its first script load or its first WebSocket
fails (Chromium, with Playwright answering the first request with an error)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ADMIN_PASSWORD
from tests.web.test_browser import _frames_increase, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

SCRIPTS = ["/live/player/video-stream.js", "/live/player/video-rtc.js", "/static/live.js"]


def _login_into_grid(browser, campy, arrange):  # noqa: F811
    """Log in with ``arrange(context)`` in place before any page loads the player, so the
    grid shown after login is the page whose first request fails."""
    ctx = browser.new_context()
    arrange(ctx)
    page = ctx.new_page()
    page.goto(campy.base_url + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(campy.base_url + "/")
    return ctx, page


@pytest.mark.parametrize("script", SCRIPTS)
def test_grid_plays_after_its_first_script_load_fails(campy, browser, script):  # noqa: F811
    seen: list[str] = []

    def first_fails(route, request):
        seen.append(request.url)
        if len(seen) == 1:  # what a 500 from a busy server looked like
            route.fulfill(status=500, content_type="text/html", body="<h1>Error 500</h1>")
        else:
            route.continue_()

    # (routing also bypasses the HTTP cache, so every load asks the server)
    ctx, page = _login_into_grid(browser, campy, lambda ctx: ctx.route("**" + script, first_fails))
    try:
        stats = _frames_increase(page)
        assert len(stats) == 2, stats
        assert len(seen) >= 2, f"{script} was not fetched again: {seen}"
        assert page.evaluate("document.documentElement.dataset.liveLoadFailures") == "1"
    finally:
        ctx.close()


def test_grid_plays_after_its_first_websocket_fails(campy, browser):  # noqa: F811
    attempts: dict[str, int] = {}

    def first_fails(ws):
        src = ws.url.rsplit("src=", 1)[-1]
        attempts[src] = attempts.get(src, 0) + 1
        if attempts[src] == 1:
            ws.close(code=1011, reason="refused")
        else:
            ws.connect_to_server()

    ctx, page = _login_into_grid(browser, campy,
                                 lambda ctx: ctx.route_web_socket(re.compile(r".*/live/ws\?src=.*"), first_fails))
    try:
        _frames_increase(page)
        assert sorted(attempts) == ["back_sub", "front_sub"] and min(attempts.values()) >= 2, attempts
        retries = page.eval_on_selector_all(
            "[data-stream]", "els => els.map(e => [e.dataset.retries, e.dataset.retryMs])")
        for count, delay in retries:
            # Retried at once with a short wait, not after go2rtc's fixed 15 s.
            assert count and int(count) >= 1 and delay and int(delay) < 15_000, retries
    finally:
        ctx.close()
