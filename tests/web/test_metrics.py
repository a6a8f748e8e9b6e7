"""``GET /metrics`` against a real `campy serve`: a simulated camera whose sub stream shows a
person walking (so detection makes events), scraped with a token of role ``metrics`` and
parsed with prometheus_client's own text parser; the values agree with the JSON API."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import CampyProcess, api, free_port, wait_until, write_config

PASSWORD = "metrics-cam-pw-1"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from campy.sim.camera import SimCamera

    d = tmp_path_factory.mktemp("metrics")
    with contextlib.ExitStack() as stack:
        cam = SimCamera("walk", username="admin", password=PASSWORD, main_codec="h264", sub_scene="walker")
        stack.callback(cam.run_in_thread().stop)
        port = free_port()
        detect = {"fps": 5, "labels": ["person"], "min_score": 0.5, "min_frames": 2}
        cfg = write_config(d / "campy.yaml", [{"name": "walk", "main": cam.main_url, "sub": cam.sub_url,
                                              "username": "admin", "password": "!secret sim_password",
                                              "detect": detect}],
                           port=port, password_secret=PASSWORD, recording={"segment_seconds": 2})
        proc = CampyProcess(cfg, port)
        try:
            admin = proc.client()
            r = api(admin, "POST", "/api/tokens", json={"name": "prometheus", "role": "metrics"})
            assert r.status_code == 201, r.text
            proc.sim = cam  # the last test breaks it
            yield proc, admin, r.json()["token"]
        finally:
            left = proc.stop()
            assert not left, f"processes left behind: {left}"


def _scrape(campy, token: str) -> dict[str, list]:
    r = httpx.get(campy.base_url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples: dict[str, list] = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            samples.setdefault(s.name, []).append(s)
    return samples


def _value(samples: dict[str, list], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {found} in {sorted(samples)}"
    return found[0]


def _recorder(source) -> dict:
    """The main recorder's status of camera walk, from /api/storage (a client) or its JSON."""
    cams = source["cameras"] if isinstance(source, dict) else source.get("/api/storage").json()["cameras"]
    return next(c for c in cams if c["camera"] == "walk")["recorder"] or {}


def _event_count(admin, label: str) -> int:
    r = admin.get("/api/events", params={"camera": "walk", "label": label, "limit": 1000})
    assert r.status_code == 200, r.text
    return len(r.json())


def test_metrics_parse_and_agree_with_the_api(setup):
    campy, admin, token = setup
    cams = wait_until(lambda: (c := admin.get("/api/cameras").json()) and c[0]["state"] == "online" and c,
                      timeout=60, what="the camera online")
    wait_until(lambda: admin.get("/api/storage").json()["used_bytes"] > 0, timeout=60, what="a recorded segment")
    wait_until(lambda: _event_count(admin, "person") > 0, timeout=120, what="a person event")

    wait_until(lambda: _recorder(admin).get("fps") is not None, timeout=60, what="the recorder's frame rate")

    before_storage, before_events = admin.get("/api/storage").json(), _event_count(admin, "person")
    before_frames = admin.get("/api/detection/status").json()["walk"]["frames_total"]
    m = _scrape(campy, token)
    after_frames = admin.get("/api/detection/status").json()["walk"]["frames_total"]
    after_storage, after_events = admin.get("/api/storage").json(), _event_count(admin, "person")
    cams = admin.get("/api/cameras").json()

    # Camera state (one-hot) and viewers, as the API says.
    state = cams[0]["state"]
    assert _value(m, "campy_camera_state", camera="walk", state=state) == 1
    assert sum(s.value for s in m["campy_camera_state"]) == 1
    assert _value(m, "campy_camera_viewers", camera="walk") == cams[0]["viewers"]
    assert _value(m, "campy_camera_receive_bytes_per_second", camera="walk") > 0
    assert _value(m, "campy_camera_uptime_seconds", camera="walk") > 0
    assert _value(m, "campy_camera_reconnects_total", camera="walk") == 0
    # Recorded bytes: footage grows between the two API reads, the scrape lies between them.
    used = _value(m, "campy_disk_used_bytes")
    assert before_storage["used_bytes"] <= used <= after_storage["used_bytes"]
    rec = _value(m, "campy_recorded_bytes", camera="walk")
    size = {c["camera"]: c["size_bytes"] for c in before_storage["cameras"]}["walk"]
    assert size <= rec <= {c["camera"]: c["size_bytes"] for c in after_storage["cameras"]}["walk"]
    assert _value(m, "campy_disk_free_bytes") > 0 and _value(m, "campy_disk_total_bytes") > 0
    assert _value(m, "campy_recorder_state", camera="walk", stream="main", state="recording") == 1
    assert _value(m, "campy_recorder_last_segment_age_seconds", camera="walk", stream="main") >= 0
    # The camera's frame rate as recorded: the simulator's main stream is 25 fps (frames per
    # second of stream time, so a slow box does not change it; lost UDP packets could lower it).
    fps = _value(m, "campy_recorder_frames_per_second", camera="walk", stream="main")
    assert 12.5 <= fps <= 26, fps
    rec_before, rec_after = (_recorder({"cameras": s}) for s in (before_storage["cameras"], after_storage["cameras"]))
    assert 0 < rec_before["frames_total"] <= _value(m, "campy_recorder_frames_total", camera="walk",
                                                    stream="main") <= rec_after["frames_total"]
    # Detection and its events, by label.
    assert before_events <= _value(m, "campy_events_total", camera="walk", label="person") <= after_events
    # Frames analysed is a counter: it lies between the two API reads. (The fps gauge is a rate over
    # the last seconds and may be 0 on a loaded box, so only its presence is checked.)
    assert 0 < before_frames <= _value(m, "campy_detection_frames_total", camera="walk") <= after_frames
    assert _value(m, "campy_detection_fps", camera="walk") >= 0
    assert _value(m, "campy_detection_state", camera="walk", state="running") == 1
    # Processes: CamPy, go2rtc, the recorder's ffmpeg and the detection children.
    for role in ("campy", "go2rtc", "recorder", "detector"):
        assert _value(m, "campy_process_resident_memory_bytes", role=role) > 0, role
        assert _value(m, "campy_process_cpu_seconds_total", role=role) > 0, role
    assert _value(m, "campy_go2rtc_up") == 1
    # No secret and no URL anywhere in the exposition.
    text = httpx.get(campy.base_url + "/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert PASSWORD not in text and "rtsp://" not in text and "sim_password" not in text


def test_http_requests_are_counted_by_route_template(setup):
    campy, admin, token = setup
    route = dict(method="GET", route="/api/cameras/{name}")
    m0 = _scrape(campy, token)
    n0 = sum(s.value for s in m0.get("campy_http_requests_total", [])
             if s.labels.get("route") == route["route"] and s.labels.get("status") == "200")
    h0 = sum(s.value for s in m0.get("campy_http_request_duration_seconds_count", [])
             if s.labels.get("route") == route["route"])
    for _ in range(3):
        assert admin.get("/api/cameras/walk").status_code == 200
    assert admin.get("/no/such/page-12345").status_code in (401, 404)
    m1 = _scrape(campy, token)
    assert _value(m1, "campy_http_requests_total", status="200", **route) - n0 == 3
    assert _value(m1, "campy_http_request_duration_seconds_count", **route) - h0 == 3
    assert _value(m1, "campy_http_request_duration_seconds_bucket", le="+Inf", **route) - h0 == 3
    # Labels are route templates: a raw path never becomes a label value.
    values = {v for ss in m1.values() for s in ss for v in s.labels.values()}
    assert not any("page-12345" in v or v == "/api/cameras/walk" for v in values)


def test_who_may_read_the_metrics(setup):
    campy, admin, token = setup
    bearer = {"Authorization": f"Bearer {token}"}
    # Anonymous: 401. The metrics token: nothing but /metrics (403 with a message).
    r = httpx.get(campy.base_url + "/metrics")
    assert r.status_code == 401 and r.json()["error"]["message"], r.text
    r = httpx.get(campy.base_url + "/api/cameras", headers=bearer)
    assert r.status_code == 403 and "metrics" in r.json()["error"]["message"], r.text
    assert httpx.get(campy.base_url + "/api/storage", headers=bearer).status_code == 403
    # An admin's session may; a viewer's token may not.
    assert admin.get("/metrics").status_code == 200
    r = api(admin, "POST", "/api/tokens", json={"name": "view", "role": "viewer"})
    viewer = {"Authorization": f"Bearer {r.json()['token']}"}
    r = httpx.get(campy.base_url + "/metrics", headers=viewer)
    assert r.status_code == 403, r.text
    # A metrics token takes no camera grant.
    r = api(admin, "POST", "/api/tokens", json={"name": "m2", "role": "metrics", "cameras": ["walk"]})
    assert r.status_code == 400 and "cameras" in r.json()["error"]["fields"], r.text


def _state(admin) -> str:
    return admin.get("/api/cameras/walk").json()["state"]


def test_a_camera_that_drops_and_returns_counts_one_reconnect(setup):
    """Last in this module: it breaks the camera."""
    campy, admin, token = setup
    wait_until(lambda: _state(admin) == "online", timeout=60, what="the camera online")
    assert _value(_scrape(campy, token), "campy_camera_reconnects_total", camera="walk") == 0
    campy.sim.set_fault("refuse")  # closes its connections and stops listening
    wait_until(lambda: _state(admin) in ("offline", "auth_failed"), timeout=40, what="the camera down")
    m = _scrape(campy, token)
    down = _state(admin)
    assert _value(m, "campy_camera_state", camera="walk", state=down) == 1
    assert _value(m, "campy_camera_uptime_seconds", camera="walk") == 0
    campy.sim.set_fault("none")
    wait_until(lambda: _state(admin) == "online", timeout=60, what="the camera back online")
    m = _scrape(campy, token)
    assert _value(m, "campy_camera_reconnects_total", camera="walk") == 1
    assert _value(m, "campy_camera_state", camera="walk", state="online") == 1
