"""Settings in the UI against a real `campy serve`: a camera's recording and detection
settings, motion masks, draggable zone corners, and the alerts page with "Send test".

Every save must land in campy.yaml with its comments kept, be refused with the YAML key
and the loader's own message (and the file untouched) when invalid, reach the running app,
and survive a restart."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import msgspec
import psutil
import pytest

from campy.config.loader import parse_text
from tests.alerts.conftest import MOSQUITTO, MOSQUITTO_PASSWD, Broker, Subscriber, WebhookReceiver
from tests.helpers import CampyProcess, free_port, post_form, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries
from tests.web.test_browser import _login, browser  # noqa: F401 - fixture used by name


class Served:
    """The module's CamPy, restartable on the same config and port."""

    def __init__(self, cfg: Path, port: int) -> None:
        self.cfg, self.port = cfg, port
        self.proc = CampyProcess(cfg, port)
        self.admin = self.proc.client()

    def restart(self) -> None:
        self.admin.close()
        left = self.proc.stop()
        assert not left, f"processes left behind: {left}"
        self.proc = CampyProcess(self.cfg, self.port)
        self.admin = self.proc.client()

    def data(self) -> dict:
        return parse_text(self.cfg.read_text(), file=self.cfg)[1]


@pytest.fixture(scope="module")
def served(sims, tmp_path_factory):
    d = tmp_path_factory.mktemp("settings")
    port = free_port()
    cfg = write_config(d / "campy.yaml", camera_entries(sims), port=port, password_secret=CAM_PASSWORD,
                       recording={"segment_seconds": 4, "min_free": "null"})
    s = Served(cfg, port)
    try:
        yield s
    finally:
        s.admin.close()
        left = s.proc.stop()
        assert not left, f"processes left behind: {left}"


def _user(served: Served, name: str, role: str):
    env = {**os.environ, "CAMPY_USER_PASSWORD": f"{name}-password-1"}
    subprocess.run([sys.executable, "-m", "campy", "user", "add", name, "--role", role,
                    "--config", str(served.cfg)], check=True, env=env, capture_output=True)
    return served.proc.client(name, f"{name}-password-1")


RECORD = {"section": "record", "enabled": "on", "mode": "continuous", "days": "7.0", "event_days": "30.0",
          "pre_roll_seconds": "5.0", "post_roll_seconds": "5.0"}


def _field_error(html: str, field: str) -> str:
    m = re.search(rf'data-field="{re.escape(field)}"[^>]*>([^<]*)<', html)
    assert m, f"no inline error for {field} in the page"
    return unescape(m.group(1))


def test_recording_settings_are_written_back_with_comments_kept(served):
    page = served.admin.get("/cameras/front/settings")
    assert page.status_code == 200, page.text
    assert "cameras.front.record" in page.text and "cameras.front.detect" in page.text
    assert 'name="labels" value="person"' in page.text  # the model's labels as check boxes
    assert 'value="motorbike"' in page.text  # the shipped model's spelling
    r = post_form(served.admin, "/cameras/front/settings", {**RECORD, "mode": "motion", "days": "14"})
    assert r.status_code == 200, r.text
    assert 'id="settings-saved"' in r.text
    text = served.cfg.read_text()
    assert "# CamPy test configuration" in text and "# camera front" in text
    record = served.data()["cameras"]["front"]["record"]
    assert record == {"mode": "motion", "days": 14}, "only changed keys are written, no defaults"
    page = served.admin.get("/cameras/front/settings").text
    assert '<option value="motion" selected>' in page
    assert re.search(r'name="days"[^>]*value="14(\.0)?"', page), "the page shows the new days"
    # The running app has it (what retention applies): the recordings page says the mode.
    assert "<small>mode: motion</small>" in served.admin.get("/cameras/front/recordings").text


def test_invalid_values_are_shown_inline_and_nothing_is_written(served):
    before = served.cfg.read_bytes()
    r = post_form(served.admin, "/cameras/back/settings", {**RECORD, "days": "-1"})
    assert r.status_code == 400
    assert _field_error(r.text, "record.days") == "cameras.back.record.days: must not be negative"
    assert re.search(r'name="days"[^>]*value="-1"', r.text), "the typed value is shown again"
    r = post_form(served.admin, "/cameras/back/settings",
                  {"section": "detect", "enabled": "on", "fps": "0", "labels": "person", "min_score": "0.5",
                   "min_area": "0"})
    assert r.status_code == 400
    assert _field_error(r.text, "detect.fps") == "cameras.back.detect.fps: must be between 0.2 and 30"
    r = post_form(served.admin, "/cameras/back/settings", {**RECORD, "mode": "sometimes"})
    assert r.status_code == 400
    assert "cameras.back.record.mode: Invalid enum value 'sometimes'" in _field_error(r.text, "record.mode")
    assert served.cfg.read_bytes() == before, "an invalid setting must not touch campy.yaml"


def _workers(served: Served) -> set[int]:
    out = set()
    for pid in served.proc.descendants():
        try:
            if "campy.detection.worker" in " ".join(psutil.Process(pid).cmdline()):
                out.add(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_a_detection_change_restarts_the_camera_worker(served):
    base = {"section": "detect", "enabled": "on", "labels": "person", "min_score": "0.5", "min_area": "0"}
    assert not _workers(served), "no camera has a detect section yet"
    r = post_form(served.admin, "/cameras/back/settings", {**base, "fps": "1"})
    assert r.status_code == 200, r.text
    assert served.data()["cameras"]["back"]["detect"] == {"fps": 1}
    first = wait_until(lambda: _workers(served), timeout=30, what="a detection worker for back")
    r = post_form(served.admin, "/cameras/back/settings", {**base, "fps": "2", "labels": ["person", "car"]})
    assert r.status_code == 200, r.text
    assert served.data()["cameras"]["back"]["detect"] == {"fps": 2, "labels": ["person", "car"]}
    wait_until(lambda: (w := _workers(served)) and not (w & first), timeout=30,
               what=f"the worker {first} replaced by one with the new settings")
    # Off again: the worker stops, and the section says so.
    r = post_form(served.admin, "/cameras/back/settings", {"section": "detect", "fps": "2", "labels": "person"})
    assert r.status_code == 200, r.text
    assert served.data()["cameras"]["back"]["detect"]["enabled"] is False
    wait_until(lambda: not _workers(served), timeout=30, what="the worker of back to stop")


def test_motion_masks_are_added_replaced_and_deleted(served):
    r = post_form(served.admin, "/cameras/front/masks", {"points": "[[10,10],[200,10],[200,100]]"})
    assert r.status_code == 200, r.text
    assert 'id="mask-saved"' in r.text and "Mask 1 (3 points)" in r.text
    assert served.data()["cameras"]["front"]["detect"]["motion_masks"] == [[[10, 10], [200, 10], [200, 100]]]
    assert "# camera front" in served.cfg.read_text()
    # Outside the detect frame: the loader's message, nothing written.
    before = served.cfg.read_bytes()
    r = post_form(served.admin, "/cameras/front/masks", {"points": "[[0,0],[5000,0],[0,50]]"})
    assert r.status_code == 400
    assert "cameras.front.detect.motion_masks: mask 2: point [5000.0, 0.0] is outside the 640x360 detect frame" \
        in unescape(r.text)
    assert served.cfg.read_bytes() == before
    r = post_form(served.admin, "/cameras/front/masks", {"points": "[[0,0],[50,0],[0,50]]"})
    assert r.status_code == 200 and "Mask 2 (3 points)" in r.text
    r = post_form(served.admin, "/cameras/front/masks/2/delete", {})
    assert r.status_code == 200, r.text
    assert served.data()["cameras"]["front"]["detect"]["motion_masks"] == [[[10, 10], [200, 10], [200, 100]]]


def test_viewers_and_operators_are_refused(served):
    viewer, operator = _user(served, "vera", "viewer"), _user(served, "otto", "operator")
    before = served.cfg.read_bytes()
    try:
        for c in (viewer, operator):
            assert c.get("/cameras/front/settings").status_code == 403
            assert post_form(c, "/cameras/front/settings", {**RECORD, "days": "1"}).status_code == 403
            assert post_form(c, "/cameras/front/masks", {"points": "[[0,0],[50,0],[0,50]]"}).status_code == 403
            assert c.get("/alerts/settings").status_code == 403
            assert post_form(c, "/alerts/webhooks", {"name": "x", "url": "http://127.0.0.1:9/"}).status_code == 403
            assert "/cameras/front/settings" not in c.get("/cameras/front").text
    finally:
        viewer.close()
        operator.close()
    assert served.cfg.read_bytes() == before


def test_a_simulated_camera_refuses_edits(tmp_path):
    from campy.config import ConfigError, ConfigStore, edits
    from campy.config.model import CameraConfig

    cfg = tmp_path / "campy.yaml"
    cfg.write_text("cameras: {}\n")

    def overlay(c):
        sim = CameraConfig(name="sim1", title=None, main="rtsp://127.0.0.1:9/x", sub=None, username=None,
                           password=None, password_ref=None, enabled=True, h265_fallback="sub")
        return msgspec.structs.replace(c, cameras={"sim1": sim})

    store = ConfigStore(cfg, overlay=overlay, readonly=frozenset({"sim1"}))
    for change in (lambda: edits.set_record(store, "sim1", {"days": 3}),
                   lambda: edits.set_detect(store, "sim1", {"fps": 2}),
                   lambda: edits.set_mask(store, "sim1", None, [(0, 0), (9, 0), (0, 9)])):
        with pytest.raises(ConfigError, match="simulated camera"):
            change()
    assert cfg.read_text() == "cameras: {}\n"


# -- alerts ------------------------------------------------------------------------------

def test_webhook_send_test_delivers_or_says_why(served):
    receiver = WebhookReceiver()
    closed = free_port()
    try:
        r = post_form(served.admin, "/alerts/webhooks", {"name": "home", "url": receiver.url + "/hook",
                                                        "headers": "X-Token: tok-7781", "timeout_seconds": "3",
                                                        "retries": "2"})
        assert r.status_code == 200, r.text
        hook = served.data()["alerts"]["webhooks"]["home"]
        assert hook == {"url": receiver.url + "/hook", "timeout_seconds": 3, "retries": 2,
                        "headers": {"X-Token": "tok-7781"}}
        page = served.admin.get("/alerts/settings").text
        assert "X-Token" in page and "tok-7781" not in page, "header values are never shown"
        r = post_form(served.admin, "/alerts/webhooks/home/test", {}, headers={"HX-Request": "true"})
        assert r.status_code == 200 and "Sent: delivered" in r.text, r.text
        got = wait_until(receiver.received, timeout=10, what="the test alert")
        body = got[0].json()
        assert body["test"] is True and body["rule"] == "campy_test" and body["type"] == "start"
        assert got[0].headers["x-token"] == "tok-7781"
        # A closed port: the reason, not just "failed".
        r = post_form(served.admin, "/alerts/webhooks", {"name": "dead", "url": f"http://127.0.0.1:{closed}/x",
                                                        "timeout_seconds": "2", "retries": "0"})
        assert r.status_code == 200, r.text
        r = post_form(served.admin, "/alerts/webhooks/dead/test", {}, headers={"HX-Request": "true"})
        assert "Failed:" in r.text and "connection refused" in r.text, r.text
        # An HTTP error status is named.
        receiver.fail_next(1, 503)
        r = post_form(served.admin, "/alerts/webhooks/home/test", {}, headers={"HX-Request": "true"})
        assert "HTTP 503" in r.text, r.text
        # A bad value: the loader's message with its key, and nothing written.
        before = served.cfg.read_bytes()
        r = post_form(served.admin, "/alerts/webhooks", {"name": "bad", "url": "ftp://x", "timeout_seconds": "3"})
        assert r.status_code == 400
        assert _field_error(r.text, "webhook.url") == "alerts.webhooks.bad.url: must be an http(s) URL"
        assert served.cfg.read_bytes() == before
        # Kept header values (tokens) never go to a new host: they must be typed again.
        r = post_form(served.admin, "/alerts/webhooks", {"name": "home", "url": f"http://127.0.0.1:{closed}/hook",
                                                        "timeout_seconds": "3", "retries": "2"})
        assert r.status_code == 400
        assert "enter the headers again" in _field_error(r.text, "webhook.headers")
        assert served.cfg.read_bytes() == before
        r = post_form(served.admin, "/alerts/webhooks/dead/delete", {})
        assert r.status_code == 200 and "dead" not in served.data()["alerts"]["webhooks"]
    finally:
        receiver.close()


def test_rules_are_validated_against_the_model_and_cameras(served):
    before = served.cfg.read_bytes()
    r = post_form(served.admin, "/alerts/rules", {"name": "people", "cameras": "front", "labels": "motorcycle",
                                                  "cooldown_seconds": "30", "webhooks": "home"})
    assert r.status_code == 400
    assert "alerts.rules.people.labels: the detector's model has no label 'motorcycle' (did you mean " \
           "'motorbike'?)" in _field_error(r.text, "rule.labels")
    assert served.cfg.read_bytes() == before
    r = post_form(served.admin, "/alerts/rules", {"name": "people", "cameras": "front", "labels": "person, car",
                                                  "cooldown_seconds": "30", "webhooks": "home"})
    assert r.status_code == 200, r.text
    assert served.data()["alerts"]["rules"]["people"] == {"cameras": ["front"], "labels": ["person", "car"],
                                                          "cooldown_seconds": 30, "webhooks": ["home"],
                                                          "mqtt": False}
    # A webhook a rule uses cannot go: the loader says which rule needs it.
    r = post_form(served.admin, "/alerts/webhooks/home/delete", {})
    assert r.status_code == 400 and "alerts.rules.people.webhooks: no webhook named &#39;home&#39;" in r.text


@pytest.mark.skipif(not (MOSQUITTO.exists() and MOSQUITTO_PASSWD.exists()), reason="Debian's mosquitto is missing")
def test_mqtt_settings_keep_the_password_secret_and_send_test_publishes(served, tmp_path):
    broker = Broker(tmp_path / "mqtt", users={"campy": "mq-pass-5521"})
    sub = Subscriber(broker, "campy/#", username="campy", password="mq-pass-5521")
    try:
        form = {"host": broker.host, "port": str(broker.port), "username": "campy", "password": "wrong-pass",
                "topic_prefix": "campy"}
        r = post_form(served.admin, "/alerts/mqtt/test", form, headers={"HX-Request": "true"})
        assert "Failed:" in r.text and "check the MQTT username and password" in r.text, r.text
        r = post_form(served.admin, "/alerts/mqtt", {**form, "password": "mq-pass-5521"})
        assert r.status_code == 200, r.text
        mqtt = served.data()["alerts"]["mqtt"]
        assert mqtt["host"] == broker.host and mqtt["port"] == broker.port and mqtt["username"] == "campy"
        assert "mq-pass-5521" not in served.cfg.read_text()
        assert "password: !secret alerts_mqtt_password" in served.cfg.read_text()
        assert "mq-pass-5521" in (served.cfg.parent / "secrets.yaml").read_text()
        page = served.admin.get("/alerts/settings").text
        assert "mq-pass-5521" not in page and "set (never shown)" in page
        # The password field left empty: the saved one is used for the saved broker.
        r = post_form(served.admin, "/alerts/mqtt/test", {**form, "password": ""}, headers={"HX-Request": "true"})
        assert "Sent: published to campy/alerts" in r.text, r.text
        msg = wait_until(lambda: sub.on("campy/alerts"), timeout=10, what="the test alert on campy/alerts")
        assert msg[0].json()["test"] is True
        # The running publisher (CamPy's own) stays online: the test used its own client.
        wait_until(lambda: sub.on("campy/availability", "online"), timeout=15, what="CamPy's publisher online")
        assert not sub.on("campy/availability", "offline")
        closed = free_port()
        r = post_form(served.admin, "/alerts/mqtt/test", {**form, "port": str(closed)},
                      headers={"HX-Request": "true"})
        assert "connection refused" in r.text, r.text
    finally:
        sub.close()
        broker.stop()
    r = post_form(served.admin, "/alerts/mqtt/delete", {})
    assert r.status_code == 200 and "mqtt" not in served.data()["alerts"]


# -- the browser: dragging corners -------------------------------------------------------

def test_dragging_a_zone_corner_saves_new_coordinates(served, browser):  # noqa: F811
    r = post_form(served.admin, "/cameras/front/zones", {"zone": "porch", "points": "[[100,100],[300,100],[300,300]]"})
    assert r.status_code == 200, r.text
    ctx, page = _login(browser, served.proc, viewport={"width": 1280, "height": 900})
    try:
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(served.proc.base_url + "/cameras/front/zones")
        handle = page.locator('circle.handle.zone[data-shape="zone porch"][data-corner="1"]')
        box = handle.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40, y + 30, steps=5)
        page.mouse.up()
        page.wait_for_selector("#drag-status[data-saved='1']", timeout=15_000)
        pts = served.data()["cameras"]["front"]["detect"]["zones"]["porch"]
        assert pts[1:] == [[300, 100], [300, 300]]
        assert pts[0][0] > 110 and pts[0][1] > 110, f"the dragged corner did not move: {pts}"
        # Keyboard: focus the next corner and nudge it right by 3.
        page.locator('circle.handle.zone[data-shape="zone porch"][data-corner="2"]').focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        page.wait_for_selector("#drag-status[data-saved='2']", timeout=15_000)
        assert served.data()["cameras"]["front"]["detect"]["zones"]["porch"][1] == [303, 100]
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        ctx.close()


# -- last: everything survives a restart -------------------------------------------------

def test_settings_survive_a_restart(served):
    served.restart()
    page = served.admin.get("/cameras/front/settings").text
    assert '<option value="motion" selected>' in page
    assert re.search(r'name="days"[^>]*value="14(\.0)?"', page), "recording days after restart"
    zones = served.admin.get("/cameras/front/zones").text
    assert "Mask 1 (3 points)" in zones and "porch" in zones
    alerts = served.admin.get("/alerts/settings").text
    assert 'data-webhook="home"' in alerts and 'data-rule="people"' in alerts
    assert json.dumps(served.data()["cameras"]["front"]["record"]) == json.dumps({"mode": "motion", "days": 14})
