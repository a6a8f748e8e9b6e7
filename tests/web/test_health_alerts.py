"""Health alerts end to end: a real CamPy, go2rtc, a simulated camera, a real mosquitto and a
webhook receiver. Each problem is caused for real (the simulator's faults, SIGKILL of go2rtc,
campy.yaml edits) and must fire once, stay quiet while it lasts, and resolve once, with the
retained MQTT state going ON then OFF and a row in the notification list."""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path

import pytest

from tests.alerts.conftest import MOSQUITTO, Broker, Subscriber, WebhookReceiver
from tests.helpers import CampyProcess, api, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD
from tests.web.test_browser import _login, browser  # noqa: F401 - fixture used by name

HEALTH = {"offline_after_s": 2, "clear_after_s": 2, "disk_after_s": 1, "restart_window_s": 30,
          "tick_s": 0.5, "crashloop_restarts": 2, "webhooks": ["hook"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not MOSQUITTO.exists():
        pytest.skip("Debian's mosquitto is not installed (make test installs it)")
    from campy.sim.camera import SimCamera

    d = tmp_path_factory.mktemp("health")
    with contextlib.ExitStack() as stack:
        broker = Broker(d / "mqtt")
        stack.callback(broker.stop)
        hook = WebhookReceiver()
        stack.callback(hook.close)
        cam = SimCamera("flaky", username="admin", password=CAM_PASSWORD, main_codec="h264")
        stack.callback(cam.run_in_thread().stop)
        port = free_port()
        alerts = {"mqtt": {"host": broker.host, "port": broker.port},
                  "webhooks": {"hook": {"url": hook.url + "/hook", "retries": 0}}, "health": HEALTH}
        cfg = write_config(d / "campy.yaml", [{"name": "flaky", "main": cam.main_url, "sub": cam.sub_url,
                                              "username": "admin", "password": "!secret sim_password"}],
                           port=port, password_secret=CAM_PASSWORD, extra_top=f"alerts: {json.dumps(alerts)}\n",
                           recording={"segment_seconds": 4, "min_free": "1MB"})
        sub = Subscriber(broker)
        stack.callback(sub.close)
        proc = CampyProcess(cfg, port)
        try:
            yield proc, cam, hook, sub, cfg
        finally:
            left = proc.stop()
            assert not left, f"processes left behind: {left}"


def _posts(hook: WebhookReceiver, kind: str, scope: str, state: str) -> list[dict]:
    out = [r.json() for r in hook.received() if r.path == "/hook"]
    return [p for p in out if p.get("type") == "health" and (p["kind"], p["scope"], p["state"]) == (kind, scope, state)]


def _topic(kind: str, scope: str) -> str:
    return f"campy/health/{scope}/{kind}/state"


def _ticks(c) -> int:
    return c.get("/api/notifications").json()["health"]["ticks"]


def _episode(world, kind: str, scope: str, cause, undo, *, timeout: float = 60) -> None:
    """Cause a problem, see it fire once (webhook, MQTT ON, an open row), let it persist for
    many ticks without a repeat, undo it, see it resolve once (webhook, MQTT OFF, row closed)."""
    hook = world[2]
    before = len(_posts(hook, kind, scope, "firing"))
    cause()
    undone = False
    try:
        _fires_and_resolves(world, kind, scope, before, undo, timeout)
        undone = True
    finally:
        if not undone:
            undo()  # a failed step must not leave the fault on for the next test


def _fires_and_resolves(world, kind: str, scope: str, before: int, undo, timeout: float) -> None:
    campy, _, hook, sub, _ = world
    c = campy.client()
    try:
        fired = wait_until(lambda: len(_posts(hook, kind, scope, "firing")) > before and
                           _posts(hook, kind, scope, "firing")[-1], timeout=timeout, what=f"{kind} {scope} firing")
    except AssertionError as err:
        raise AssertionError(f"{err}\ncamera: {c.get('/api/cameras/flaky').json()}\n"
                             f"health: {c.get('/api/notifications').json()['health']}\n"
                             f"detection: {c.get('/api/detection/status').json()}") from None
    assert fired["message"] and fired["since_ms"] <= fired["at_ms"] and isinstance(fired["id"], int)
    assert CAM_PASSWORD not in json.dumps(fired)
    wait_until(lambda: sub.on(_topic(kind, scope)) and sub.on(_topic(kind, scope))[-1].payload == "ON",
               timeout=10, what=f"MQTT {kind} ON")
    rows = c.get("/api/notifications", params={"open": "true"}).json()["items"]
    assert any(r["id"] == fired["id"] and r["kind"] == kind and r["resolved_ms"] is None for r in rows)
    t0 = _ticks(c)
    wait_until(lambda: _ticks(c) >= t0 + 8, timeout=30, what="8 more health ticks")
    assert len(_posts(hook, kind, scope, "firing")) == before + 1, "fired again while the problem lasted"
    resolved_before = len(_posts(hook, kind, scope, "resolved"))
    undo()
    wait_until(lambda: len(_posts(hook, kind, scope, "resolved")) > resolved_before, timeout=timeout,
               what=f"{kind} {scope} resolved")
    wait_until(lambda: sub.on(_topic(kind, scope))[-1].payload == "OFF", timeout=10, what=f"MQTT {kind} OFF")
    t1 = _ticks(c)
    wait_until(lambda: _ticks(c) >= t1 + 6, timeout=30, what="6 more health ticks")
    assert len(_posts(hook, kind, scope, "resolved")) == resolved_before + 1
    assert len(_posts(hook, kind, scope, "firing")) == before + 1
    row = next(r for r in c.get("/api/notifications").json()["items"] if r["id"] == fired["id"])
    assert row["resolved_ms"] is not None and row["resolved_ms"] >= row["started_ms"]


def _online(world) -> None:
    """The camera online and recording (a segment closed since it came online): a settled start."""
    campy = world[0]
    c = campy.client()
    wait_until(lambda: c.get("/api/cameras/flaky").json()["state"] == "online", timeout=90, what="flaky online")

    def segments() -> int:
        return sum((x["recorder"] or {}).get("segments") or 0 for x in c.get("/api/storage").json()["cameras"]
                   if x["camera"] == "flaky")

    n0 = segments()
    wait_until(lambda: segments() > n0, timeout=90, what="flaky recording")


def test_state_topics_are_announced_retained_off(world):
    _, _, _, sub, _ = world
    _online(world)
    for kind, scope in [("camera_offline", "flaky"), ("go2rtc_restarting", "system"), ("config_error", "system")]:
        wait_until(lambda k=kind, s=scope: sub.on(_topic(k, s), "OFF"), timeout=20, what=f"{kind} OFF")


def test_camera_offline_fires_once_and_resolves(world):
    cam = world[1]
    _online(world)
    _episode(world, "camera_offline", "flaky", lambda: cam.set_fault("refuse"), lambda: cam.set_fault("none"))


def test_camera_auth_failed_fires_once_and_resolves(world):
    # A wrong password in campy.yaml: go2rtc dials the camera afresh and is refused. (The
    # simulator's reject_credentials fault applies only to new logins, and go2rtc keeps the
    # stale session of a camera it had, which CamPy's health reports as offline, not auth.)
    cfg = world[4]
    _online(world)
    good, bad = "password: !secret sim_password", "password: 'not-the-password'"
    _episode(world, "camera_auth_failed", "flaky", lambda: _edit(cfg, good, bad), lambda: _edit(cfg, bad, good),
             timeout=90)


def test_go2rtc_restarting_fires_once_and_resolves(world):
    campy = world[0]
    _online(world)

    def kill():
        g = campy.go2rtc()
        assert g is not None
        g.send_signal(signal.SIGKILL)

    # Resolves by itself once restart_window_s passes without another restart.
    _episode(world, "go2rtc_restarting", "system", kill, lambda: None)


def _edit(cfg: Path, old: str, new: str) -> None:
    text = cfg.read_text()
    assert old in text, old
    cfg.write_text(text.replace(old, new))


def test_config_error_fires_once_and_resolves(world):
    cfg = world[4]
    _episode(world, "config_error", "system", lambda: _edit(cfg, "  segment_seconds: 4", "  segment_seconds: 1"),
             lambda: _edit(cfg, "  segment_seconds: 1", "  segment_seconds: 4"))


def test_recorder_failing_fires_once_and_resolves(world):
    campy, cfg = world[0], world[4]
    _online(world)
    blocker = cfg.parent / "not-a-dir"
    blocker.write_text("a file where the recordings directory should be")
    c = campy.client()
    wait_until(lambda: any(x["camera"] == "flaky" and (x["recorder"] or {}).get("segments")
                           for x in c.get("/api/storage").json()["cameras"]), timeout=60, what="a first segment")
    bad = f"\n  path: {blocker / 'recordings'}"
    _episode(world, "recorder_failing", "flaky", lambda: _edit(cfg, "  segment_seconds: 4", "  segment_seconds: 4" + bad),
             lambda: _edit(cfg, bad, ""))


def test_disk_pressure_fires_once_and_resolves(world):
    cfg = world[4]
    _episode(world, "disk_pressure", "system", lambda: _edit(cfg, "min_free: 1MB", "min_free: 100TB"),
             lambda: _edit(cfg, "min_free: 100TB", "min_free: 1MB"))


def test_protected_shortfall_fires_once_and_resolves(world):
    """Marked footage deleted because the floor cannot be met otherwise: it fires at the pass
    that gave it up and resolves restart_window_s after the last give-up (the disk stays
    under pressure meanwhile)."""
    campy, cfg, hook = world[0], world[4], world[2]
    c = campy.client()
    wait_until(lambda: c.get("/api/cameras/flaky/recordings").status_code == 200 and
               c.get("/api/cameras/flaky/recordings").json(), timeout=60, what="segments to protect")
    now = c.get("/api/cameras/flaky/recordings").json()[-1]["end_ms"]
    mark = api(c, "POST", "/api/cameras/flaky/marks", json={"start_ms": now - 600_000, "end_ms": now})
    assert mark.status_code == 201, mark.text
    pressure = len(_posts(hook, "disk_pressure", "system", "resolved"))
    _episode(world, "protected_shortfall", "system", lambda: _edit(cfg, "min_free: 1MB", "min_free: 100TB"),
             lambda: None)
    _edit(cfg, "min_free: 100TB", "min_free: 1MB")
    wait_until(lambda: len(_posts(hook, "disk_pressure", "system", "resolved")) > pressure, timeout=60,
               what="disk pressure resolved")


def _workers(campy) -> list:
    import psutil

    out = []
    for k in psutil.Process(campy.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "campy.detection.worker" in " ".join(k.cmdline()):
                out.append(k)
    return out


def test_detection_crashloop_fires_once_and_resolves(world):
    campy, cfg = world[0], world[4]
    on = '    enabled: true\n    detect: {"fps": 2, "labels": ["person"]}'
    _edit(cfg, "    enabled: true", on)
    try:
        def crash_twice():
            for _ in range(2):
                w = wait_until(lambda: _workers(campy), timeout=60, what="a detection worker")[0]
                w.kill()
                wait_until(lambda p=w.pid: _workers(campy) and all(x.pid != p for x in _workers(campy)),
                           timeout=60, what="the worker restarted")

        # Resolves once restart_window_s passes without restarts.
        _episode(world, "detection_crashloop", "flaky", crash_twice, lambda: None)
    finally:
        _edit(cfg, on, "    enabled: true")


def test_notifications_page_and_badge(world):
    campy = world[0]
    c = campy.client()
    page = c.get("/notifications")
    assert page.status_code == 200 and 'data-kind="camera_offline"' in page.text
    assert 'hx-get="/notifications/badge"' in c.get("/").text
    assert c.get("/notifications/badge").status_code == 200
    rows = c.get("/api/notifications").json()["items"]
    r = api(c, "POST", f"/api/notifications/{rows[0]['id']}/ack")
    assert r.status_code == 200 and r.json()["acked_by"] == "admin"
    missing = api(c, "POST", "/api/notifications/999999/ack")
    assert missing.status_code == 400 and "no notification 999999" in missing.text
    # the ack form answers with the acknowledgement line
    assert "acknowledged by admin" in api(c, "POST", f"/notifications/{rows[0]['id']}/ack").text


FIT_JS = """() => ({rows: document.querySelectorAll('tr[data-kind]').length,
  wide: document.documentElement.scrollWidth, view: window.innerWidth})"""


@pytest.mark.browser
def test_notification_lists_fit_a_phone(world, browser):  # noqa: F811
    """The episodes above left rows: on a 390 px phone the notification list and the system
    page's recent alerts are cards, not a table that scrolls sideways."""
    campy = world[0]
    ctx, page = _login(browser, campy, viewport={"width": 390, "height": 844})
    try:
        for url in ("/notifications", "/system"):
            page.goto(campy.base_url + url)
            fit = page.evaluate(FIT_JS)
            assert fit["rows"] >= 2, f"{url}: {fit}"  # not an empty list that fits trivially
            assert fit["wide"] <= fit["view"], f"{url} scrolls sideways at 390 px: {fit}"
    finally:
        ctx.close()
