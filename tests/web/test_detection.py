"""Detection end to end: a simulated camera whose sub stream shows a person (a real photo)
walking across a street → go2rtc → the detection worker (ffmpeg decode, motion, the YOLOX-Nano
CamPy ships by default, in the shared inference service, tracker, zones) → an event with a snapshot, an
event mark on the recording, a webhook POST, an MQTT message on a real mosquitto, and the
events page in Chromium updating live."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest

from tests.alerts.conftest import MOSQUITTO, Broker, Subscriber, WebhookReceiver
from tests.helpers import CampyProcess, free_port, wait_until, write_config
from tests.web.test_browser import _login, browser  # noqa: F401 - fixture used by name

pytestmark = pytest.mark.browser

PASSWORD = "walker-pw-1"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if not MOSQUITTO.exists():
        pytest.skip("Debian's mosquitto is not installed (make test installs it)")
    from campy.sim.camera import SimCamera

    d = tmp_path_factory.mktemp("detect")
    with contextlib.ExitStack() as stack:  # whatever started is stopped, even if a later step fails
        broker = Broker(d / "mqtt")
        stack.callback(broker.stop)
        hook = WebhookReceiver()
        stack.callback(hook.close)
        cam = SimCamera("walk", username="admin", password=PASSWORD, main_codec="h264", sub_scene="walker")
        stack.callback(cam.run_in_thread().stop)
        port = free_port()
        detect = {"fps": 5, "labels": ["person"], "min_score": 0.5, "min_frames": 2,
                  "zones": {"street": [[0, 100], [640, 100], [640, 360], [0, 360]],
                            "sky": [[0, 0], [640, 0], [640, 99], [0, 99]]},
                  "alert_zones": ["street"]}
        alerts = {"mqtt": {"host": broker.host, "port": broker.port},
                  "webhooks": {"hook": {"url": hook.url + "/hook"}},
                  "rules": {"people": {"labels": ["person"], "webhooks": ["hook"], "cooldown_seconds": 1}}}
        top = f"alerts: {json.dumps(alerts)}\n"  # no detector: the shipped YOLOX-Nano
        cfg = write_config(d / "campy.yaml", [{"name": "walk", "main": cam.main_url, "sub": cam.sub_url,
                                              "username": "admin", "password": "!secret sim_password",
                                              "detect": detect, "record": {"mode": "events"}}],
                           port=port, password_secret=PASSWORD, extra_top=top, recording={"segment_seconds": 2})
        sub = Subscriber(broker)
        stack.callback(sub.close)
        proc = CampyProcess(cfg, port)
        try:
            yield proc, hook, sub
        finally:
            left = proc.stop()
            assert not left, f"processes left behind: {left}"


def _events(c, **params):
    r = c.get("/api/events", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_walker_becomes_an_event_with_snapshot_mark_webhook_and_mqtt(setup):
    campy, hook, sub = setup
    c = campy.client()
    # The first event may cover only the end of a crossing (the worker starts at any point of
    # the 12 s loop); a whole crossing comes round within one loop.
    ev = wait_until(lambda: next((e for e in _events(c, camera="walk")
                                  if e["end_ms"] and e["end_ms"] - e["start_ms"] >= 2_000), None),
                    timeout=90, what="a finished event of a whole crossing")
    assert set(ev) >= {"id", "camera", "label", "score", "start_ms", "end_ms", "zones", "snapshot_url"}
    assert ev["camera"] == "walk" and ev["label"] == "person" and ev["score"] >= 0.5
    assert ev["zones"] == ["street"] and ev["end_ms"] > ev["start_ms"]
    # The walker crosses the 640 px frame in 8 s of a 12 s loop.
    assert 2_000 <= ev["end_ms"] - ev["start_ms"] <= 15_000, ev
    snap = c.get(ev["snapshot_url"])
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg" and snap.content[:2] == b"\xff\xd8"
    # The event's footage is marked for recording retention (mode: events).
    marks = c.get("/api/cameras/walk/timeline").json()["marks"]
    assert any(m["kind"] == "event" and m["source"] == "detection" and m["label"] == "person" for m in marks)
    assert any(m["kind"] == "motion" for m in marks)
    # Filters: zone and label
    assert _events(c, zone="street") and not _events(c, zone="sky") and not _events(c, label="car")
    # The webhook got the event as JSON, and the broker delivered it.
    posts = wait_until(lambda: hook.received() or None, timeout=20, what="a webhook POST")
    body = posts[0].json()
    assert body["camera"] == "walk" and body["label"] == "person" and posts[0].path == "/hook"
    wait_until(lambda: sub.on("campy/events"), timeout=20, what="an MQTT message on campy/events")
    msg = sub.on("campy/events")[0].json()
    assert msg["camera"] == "walk" and msg["label"] == "person"
    assert sub.on("campy/availability", "online"), "availability not published"
    status = c.get("/api/detection/status").json()["walk"]
    assert status["state"] == "running" and status["fps"] > 2 and status["objects"] is True
    assert status["inference_ms"] is not None and status["last_motion_ms"]


def test_events_api_rejects_nonsense(setup):
    campy, _, _ = setup
    c = campy.client()
    for params, status in (({"camera": "nope"}, 404), ({"start": "soon"}, 400), ({"limit": "0"}, 400),
                           ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, 400)):
        r = c.get("/api/events", params=params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["error"]["message"]
    assert c.get("/api/events/999999/snapshot.jpg").status_code == 404
    assert httpx.get(campy.base_url + "/api/events").status_code == 401
    assert httpx.get(campy.base_url + "/api/events/stream").status_code == 401


def test_events_page_lists_events_and_updates_live(browser, setup):  # noqa: F811
    campy, _, _ = setup
    c = campy.client()
    wait_until(lambda: _events(c, camera="walk"), timeout=90, what="an event")
    ctx, page = _login(browser, campy)
    try:
        page.goto(campy.base_url + "/events")
        page.wait_for_selector("li.event img")
        first = page.locator("li.event").count()
        ids = set(page.eval_on_selector_all("li.event", "els => els.map(e => e.dataset.eventId)"))
        # Wait for the browser to finish with the image (loaded or failed), then check which:
        # reading `complete` at once raced the image's own request.
        page.wait_for_function("() => { const i = document.querySelector('li.event img'); return i && i.complete; }")
        width = page.eval_on_selector("li.event img", "img => img.naturalWidth")
        assert width > 0, "snapshot thumbnail did not load"
        # The walker comes round every 12 s: a new event must appear without a reload.
        wait_until(lambda: set(page.eval_on_selector_all("li.event", "els => els.map(e => e.dataset.eventId)"))
                   - ids, timeout=45, what="a new event pushed to the open page")
        assert page.locator("li.event").count() >= first
        assert page.locator("#live-state").inner_text() == "live"
        # Click through to the footage.
        href = page.get_attribute("li.event a", "href")
        assert href and href.startswith("/cameras/walk/recordings?at=")
    finally:
        ctx.close()


def test_zone_drawn_on_the_picture_lands_in_campy_yaml(browser, setup):  # noqa: F811
    campy, _, _ = setup
    frame = campy.config.parent / "data" / "snapshots" / "walk" / "latest.jpg"
    wait_until(frame.exists, timeout=30, what="the worker's current picture")
    ctx, page = _login(browser, campy)
    try:
        page.goto(campy.base_url + "/cameras/walk/zones")
        page.wait_for_selector(".zone-canvas img")
        page.wait_for_function("() => document.querySelector('.zone-canvas img').complete")
        assert page.eval_on_selector(".zone-canvas img", "img => img.naturalWidth") == 640
        box = page.locator("#zone-svg").bounding_box()
        for fx, fy in ((0.1, 0.6), (0.5, 0.6), (0.5, 0.95), (0.1, 0.95)):
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.fill("#zone-name", "porch")
        page.click("#zone-form button[type=submit]")
        page.wait_for_selector("#zone-saved")
        assert page.locator("polygon[data-zone=porch]").count() == 1
    finally:
        ctx.close()
    text = campy.config.read_text()
    assert "porch:" in text and "# CamPy test configuration" in text  # written back, comments kept
    from campy.config import load_config

    porch = load_config(campy.config).cameras["walk"].detect.zones["porch"]
    want = [(64, 216), (320, 216), (320, 342), (64, 342)]  # 10 %/50 % × 60 %/95 % of 640×360
    assert all(abs(a - c) <= 1.5 and abs(b - d) <= 1.5 for (a, b), (c, d) in zip(porch, want, strict=True)), porch
    c = campy.client()
    # An invalid zone is refused with the reason, and the file is left alone.
    r = c.post("/cameras/walk/zones", data={"zone": "bad", "points": "[[0,0],[1000,0],[0,10]]",
                                             "_csrf_token": c.cookies["csrftoken"]})
    assert r.status_code == 400 and "outside the 640x360" in r.text
    assert "bad:" not in campy.config.read_text()
