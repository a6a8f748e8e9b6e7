"""Home Assistant MQTT discovery against a real mosquitto and a real ``campy serve``: every
retained config has the keys HA needs, the state topics they name get values, a deleted camera's
configs are emptied, and availability turns ``offline`` when CamPy stops."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from campy.alerts.ha import CAMERA_PROBLEMS, MAX_SNAPSHOT_BYTES, SYSTEM_PROBLEMS, discovery_configs, Topics
from campy.config.loader import load_config
from tests.alerts.conftest import MOSQUITTO, Broker, Subscriber, eventually
from tests.helpers import CampyProcess, api, free_port, wait_until, write_config

PASSWORD = "ha-disc-pw-3"
GHOST = "homeassistant/binary_sensor/campy/ghost_motion/config"
AVAILABILITY = {"topic": "campy/availability", "payload_available": "online", "payload_not_available": "offline"}


class RawSubscriber(Subscriber):
    """Also keeps each payload's bytes (a snapshot is a JPEG) and its retain flag."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.raw: list[tuple[str, bytes, bool]] = []
        self._raw_lock = threading.Lock()
        super().__init__(broker, topic)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        super()._on_message(client, userdata, message)
        with self._raw_lock:
            self.raw.append((message.topic, bytes(message.payload), bool(message.retain)))

    def last(self, topic: str) -> bytes | None:
        with self._raw_lock:
            found = [p for t, p, _ in self.raw if t == topic]
        return found[-1] if found else None

    def configs(self) -> dict[str, dict[str, Any]]:
        """Config topic → its latest payload (JSON), for topics whose latest payload is not empty."""
        with self._raw_lock:
            latest = {t: p for t, p, _ in self.raw if t.endswith("/config")}
        return {t: json.loads(p) for t, p in latest.items() if p}


def _expected_topics(node: str = "campy") -> set[str]:
    out = {f"homeassistant/binary_sensor/{node}/system_{k}/config" for k in SYSTEM_PROBLEMS}
    for cam, labels, fps in (("walk", ("person", "car"), True), ("yard", (), False)):
        out |= {f"homeassistant/binary_sensor/{node}/{cam}_motion/config",
                f"homeassistant/sensor/{node}/{cam}_state/config"}
        out |= {f"homeassistant/binary_sensor/{node}/{cam}_{k}/config" for k in CAMERA_PROBLEMS}
        if fps:
            out |= {f"homeassistant/sensor/{node}/{cam}_detect_fps/config",
                    f"homeassistant/camera/{node}/{cam}_snapshot/config"}
        for label in labels:
            out |= {f"homeassistant/binary_sensor/{node}/{cam}_{label}_occupancy/config",
                    f"homeassistant/sensor/{node}/{cam}_{label}_count/config"}
    return out


def _holding(sub: RawSubscriber, topics: set[str]) -> dict[str, dict[str, Any]] | None:
    configs = sub.configs()
    return configs if topics <= set(configs) else None


def _check_payload(topic: str, p: dict[str, Any]) -> None:
    component = topic.split("/")[1]
    for key in ("name", "unique_id", "object_id", "device", "availability"):
        assert key in p, f"{topic}: no {key}"
    assert p["unique_id"] == "campy_" + topic.split("/")[3] == p["object_id"]
    device = p["device"]
    assert device["identifiers"] and all(isinstance(i, str) for i in device["identifiers"]), topic
    assert device["name"] and device["manufacturer"] and device["model"], topic
    assert p["availability"] == [AVAILABILITY], topic
    if component == "binary_sensor":
        assert p["state_topic"].startswith("campy/") and p["payload_on"] == "ON" and p["payload_off"] == "OFF"
        assert p["device_class"] in ("motion", "occupancy", "problem"), topic
    elif component == "sensor":
        assert p["state_topic"].startswith("campy/"), topic
        if p["unique_id"].endswith("_count"):
            assert p["state_class"] == "measurement"
    elif component == "camera":
        assert p["topic"].startswith("campy/"), topic
    else:
        raise AssertionError(f"unexpected component in {topic}")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if not MOSQUITTO.exists():
        pytest.skip("Debian's mosquitto is not installed (make test installs it)")
    from campy.sim.camera import SimCamera

    d = tmp_path_factory.mktemp("hadisc")
    with contextlib.ExitStack() as stack:  # whatever started is stopped, even if a later step fails
        broker = Broker(d / "mqtt")
        stack.callback(broker.stop)
        walk = SimCamera("walk", username="admin", password=PASSWORD, main_codec="h264", sub_scene="walker")
        stack.callback(walk.run_in_thread().stop)
        yard = SimCamera("yard", username="admin", password=PASSWORD, main_codec="h264")
        stack.callback(yard.run_in_thread().stop)
        port = free_port()
        detect = {"fps": 5, "labels": ["person", "car"], "min_score": 0.5, "min_frames": 2}
        top = f"alerts: {json.dumps({'mqtt': {'host': broker.host, 'port': broker.port}})}\n"
        cams = [{"name": "walk", "title": "Walk way", "main": walk.main_url, "sub": walk.sub_url,
                 "username": "admin", "password": "!secret sim_password", "detect": detect},
                {"name": "yard", "main": yard.main_url, "sub": yard.sub_url,
                 "username": "admin", "password": "!secret sim_password"}]
        cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=PASSWORD, extra_top=top)
        ha = RawSubscriber(broker, "homeassistant/#")
        stack.callback(ha.close)
        states = RawSubscriber(broker, "campy/#")
        stack.callback(states.close)
        # Left on the broker by an earlier run, for a camera no longer in campy.yaml.
        for topic, payload in ((GHOST, json.dumps({"name": "Motion", "state_topic": "campy/ghost/motion"})),
                               ("campy/ghost/motion", "ON")):
            ha.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
        proc = CampyProcess(cfg, port)
        try:
            yield proc, broker, ha, states
        finally:
            proc.stop()


def test_every_discovery_config_is_complete_and_its_state_topic_gets_values(setup):
    campy, broker, ha, states = setup
    expected = _expected_topics()
    configs = wait_until(lambda: _holding(ha, expected), timeout=60, what="all discovery configs")
    wait_until(lambda: ha.last(GHOST) == b"", timeout=20, what="the stale config from before emptied")
    configs = ha.configs()
    assert set(configs) == expected, set(configs) ^ expected
    assert states.last("campy/ghost/motion") == b"", "the stale camera's state was left retained"
    for topic, p in configs.items():
        _check_payload(topic, p)
    assert len({p["unique_id"] for p in configs.values()}) == len(configs)
    walk = configs["homeassistant/binary_sensor/campy/walk_motion/config"]["device"]
    assert walk["identifiers"] == ["campy_walk"] and walk["name"] == "Walk way" and walk["via_device"] == "campy"
    assert walk["manufacturer"] == "Reolink"  # the simulator answers on Reolink's paths
    system = configs["homeassistant/binary_sensor/campy/system_disk_pressure/config"]
    assert system["device"]["identifiers"] == ["campy"] and system["device_class"] == "problem"
    assert system["state_topic"] == "campy/health/system/disk_pressure/state"
    assert configs["homeassistant/binary_sensor/campy/yard_camera_offline/config"]["state_topic"] == \
        "campy/health/yard/camera_offline/state"
    # Every state topic CamPy owns gets a value (the health problem states come from the health
    # alerts; only their topic names are checked above).
    owned = {(p.get("state_topic") or p["topic"]) for p in configs.values() if p.get("device_class") != "problem"}
    wait_until(lambda: all(states.last(t) is not None for t in owned), timeout=120,
               what=f"a value on each of {sorted(owned)} (missing: "
                    f"{sorted(t for t in owned if states.last(t) is None)})")
    assert states.last("campy/walk/state") in (b"online", b"connecting")
    wait_until(lambda: states.last("campy/walk/state") == b"online", timeout=30, what="walk online")
    assert states.last("campy/walk/count/car") == b"0" and states.last("campy/walk/occupancy/car") == b"OFF"
    assert float(json.loads(states.last("campy/walk/detect_fps") or b"null") or 0) >= 0
    # The walker becomes a person event: occupancy ON, count 1 and its snapshot (a JPEG) published.
    snap = states.last("campy/walk/snapshot")
    assert snap is not None and snap[:2] == b"\xff\xd8" and len(snap) < 1 << 20
    assert states.on("campy/walk/occupancy/person", "ON") and states.on("campy/walk/count/person", "1")


def test_deleting_a_camera_empties_its_configs(setup):
    campy, broker, ha, states = setup
    yard = {t for t in _expected_topics() if "/campy/yard_" in t}
    wait_until(lambda: yard <= set(ha.configs()), timeout=60, what="yard's configs")
    c = campy.client()
    r = api(c, "DELETE", "/api/cameras/yard")
    assert r.status_code == 204, r.text
    wait_until(lambda: all(ha.last(t) == b"" for t in yard), timeout=30, what="empty payloads on yard's configs")
    # What the broker still holds: a fresh subscriber sees walk's configs and none of yard's.
    fresh = RawSubscriber(broker, "homeassistant/#")
    try:
        walk = {t for t in _expected_topics() if "/campy/walk_" in t}
        held = wait_until(lambda: _holding(fresh, walk), timeout=20, what="walk's retained configs")
        assert not yard & set(held), sorted(yard & set(held))
    finally:
        fresh.close()
    assert states.last("campy/yard/motion") == b"", "yard's motion state was left retained"


def test_availability_goes_offline_when_campy_stops(setup):
    campy, broker, ha, states = setup
    assert states.on("campy/availability", "online")
    left = campy.stop()
    assert not left, f"processes left behind: {left}"
    wait_until(lambda: states.last("campy/availability") == b"offline", timeout=20, what="availability offline")


def test_discovery_off_removes_every_config_and_ha_birth_republishes(broker: Broker, tmp_path: Path):
    """In process, on the real broker: HA's ``online`` brings the configs again; a publisher with
    ``ha_discovery: false`` empties what an earlier one left (and leaves the states alone)."""
    import asyncio

    from campy.alerts.ha import HaDiscovery
    from campy.alerts.mqtt import MqttConfig, MqttPublisher

    cfg_path = write_config(tmp_path / "campy.yaml", [{"name": "gate", "main": "rtsp://10.0.0.9:554/live"}],
                            port=free_port(), password_secret="x",
                            extra_top=f"alerts: {{mqtt: {{host: 127.0.0.1, port: {broker.port}}}}}\n")
    cfg = load_config(cfg_path)
    motion = "homeassistant/binary_sensor/campy/gate_motion/config"

    async def scenario() -> None:
        sub = RawSubscriber(broker, "#")
        try:
            pub = MqttPublisher(MqttConfig(host=broker.host, port=broker.port))
            ha = HaDiscovery(pub, enabled=True, discovery_prefix="homeassistant")
            ha.start()
            await pub.start()
            ha.sync(cfg)
            await eventually(lambda: motion in sub.configs(), what="gate's motion config")
            sent = len([m for m in sub.raw if m[0] == motion])
            sub.client.publish("homeassistant/status", "online", qos=1).wait_for_publish(10)
            await eventually(lambda: len([m for m in sub.raw if m[0] == motion]) > sent,
                             what="configs again after HA's birth message")
            await eventually(lambda: sub.last("campy/gate/motion") == b"OFF", what="gate's motion OFF")
            # Occupancy and count follow open events; a worker that died ends them.
            ha.event("gate", "person", 1, "start")
            ha.event("gate", "person", 2, "start")
            await eventually(lambda: sub.last("campy/gate/count/person") == b"2", what="count 2")
            assert sub.last("campy/gate/occupancy/person") == b"ON"
            ha.event("gate", "person", 1, "end")
            await eventually(lambda: sub.last("campy/gate/count/person") == b"1", what="count 1")
            ha.worker_gone("gate")
            await eventually(lambda: sub.last("campy/gate/count/person") == b"0", what="count 0")
            assert sub.last("campy/gate/occupancy/person") == b"OFF"
            # Snapshots: a JPEG goes out as is; a file over the bound does not.
            small, big = tmp_path / "small.jpg", tmp_path / "big.jpg"
            small.write_bytes(b"\xff\xd8" + b"x" * 1000 + b"\xff\xd9")
            big.write_bytes(b"\xff\xd8" + b"x" * MAX_SNAPSHOT_BYTES)
            assert await ha.snapshot("gate", big) is False
            assert await ha.snapshot("gate", small) is True
            await eventually(lambda: sub.last("campy/gate/snapshot") == small.read_bytes(), what="the snapshot")
            await pub.stop()

            pub = MqttPublisher(MqttConfig(host=broker.host, port=broker.port))
            ha = HaDiscovery(pub, enabled=False, discovery_prefix="homeassistant")
            ha.start()
            await pub.start()
            ha.sync(cfg)
            await eventually(lambda: not sub.configs(), what="every config emptied")
            await pub.stop()
            assert sub.last("campy/gate/motion") == b"OFF"  # states are not HA's to remove
        finally:
            sub.close()

    asyncio.run(scenario())


def test_discovery_payloads_follow_the_config(tmp_path: Path):
    """A pure check: a camera's manufacturer and model come from campy.yaml; discovery off → none."""
    cfg_path = write_config(tmp_path / "campy.yaml", [{"name": "gate", "main": "rtsp://10.0.0.9:554/live"}],
                            port=free_port(), password_secret="x",
                            extra_top="alerts: {mqtt: {host: 127.0.0.1, discovery_prefix: ha}}\n")
    text = cfg_path.read_text().replace("    enabled: true", "    enabled: true\n    manufacturer: Acme\n"
                                                             "    model: Cam 9000", 1)
    cfg_path.write_text(text)
    cfg = load_config(cfg_path)
    configs = discovery_configs(cfg, topics=Topics("campy"), discovery_prefix="ha", node="campy")
    device = configs["ha/binary_sensor/campy/gate_motion/config"]["device"]
    assert (device["manufacturer"], device["model"]) == ("Acme", "Cam 9000")
    assert "ha/sensor/campy/gate_detect_fps/config" not in configs  # no detection on this camera
