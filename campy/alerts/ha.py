"""Home Assistant MQTT discovery: CamPy's cameras appear in HA without hand-written YAML.

With ``alerts.mqtt`` set and ``alerts.mqtt.ha_discovery`` on (the default), CamPy publishes one
retained config per entity on ``<discovery_prefix>/<component>/<node>/<object_id>/config``
(``discovery_prefix``: ``alerts.mqtt.discovery_prefix``, ``homeassistant`` by default; ``<node>``:
the MQTT client id made topic-safe). Per camera (``<p>`` is ``alerts.mqtt.topic_prefix``):

==========================  ================================  =====================================
Entity                      State topic                       Payload
==========================  ================================  =====================================
motion (binary_sensor)      ``<p>/<camera>/motion``           ``ON`` / ``OFF``
<label> occupancy (binary)  ``<p>/<camera>/occupancy/<label>`` ``ON`` / ``OFF``
<label> count (sensor)      ``<p>/<camera>/count/<label>``    open events of that label, ``0``…
snapshot (camera) [1]_      ``<p>/<camera>/snapshot``         JPEG of the latest event snapshot
detection fps (sensor) [1]_ ``<p>/<camera>/detect_fps``       frames analysed per second
state (sensor, enum)        ``<p>/<camera>/state``            ``online``, ``offline``, ``auth_failed`` …
<kind> (binary, problem)    ``<p>/health/<camera>/<kind>/state``  ``ON`` / ``OFF`` (health alerts)
==========================  ================================  =====================================

.. [1] only for a camera with detection on.

On the CamPy device: the system problems (``<p>/health/system/<kind>/state``). All state topics
are retained. Every entity's ``availability`` is CamPy's Last-Will topic ``<p>/availability``.

Removal: CamPy subscribes to its own config topics, so it knows which configs the broker holds
(also ones left from before a restart). Each ``sync`` publishes what the config asks for and an
empty retained payload on every other one (a deleted or renamed camera; all of them when
``ha_discovery`` is turned off), and for a camera that is gone also empties its state topics.
Configs are published again on every reconnect and when HA announces itself on
``<discovery_prefix>/status`` (``online``), so a broker without persistence recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec

from campy import __version__
from campy.alerts.mqtt import MqttPublisher, topic_part
from campy.config.model import CameraConfig, CampyConfig

log = logging.getLogger(__name__)

CAMERA_PROBLEMS = ("camera_offline", "camera_auth_failed", "recorder_failing", "detection_crashloop")
SYSTEM_PROBLEMS = ("disk_pressure", "protected_shortfall", "go2rtc_restarting", "config_error",
                   "detection_crashloop")  # the last: the shared inference service
CAMERA_STATES = ["online", "offline", "auth_failed", "connecting", "disabled", "unknown"]
MAX_SNAPSHOT_BYTES = 1 << 20  # a detect-sized JPEG is ~50 kB; larger files are not sent
_REOLINK_PATHS = ("Preview_01_", "h264Preview_01_", "h265Preview_01_")


def _title(text: str) -> str:
    return text.replace("_", " ").capitalize()


def camera_make(cam: CameraConfig) -> tuple[str, str]:
    """(manufacturer, model) for the device block: the camera's config, else guessed from its URL."""
    reolink = any(p in cam.main for p in _REOLINK_PATHS)
    manufacturer = cam.manufacturer or ("Reolink" if reolink else "Generic")
    model = cam.model or ("Reolink camera" if manufacturer == "Reolink" else "RTSP camera")
    return manufacturer, model


def detected_labels(cfg: CampyConfig, cam: CameraConfig) -> tuple[str, ...]:
    """The labels this camera can report events for (none with detection off or motion only)."""
    if cam.detect is None or not cam.detect.enabled or cfg.detection.detector.model is None:
        return ()
    return cam.detect.labels


class Topics:
    """The state topics the discovery configs point at (also what CamPy publishes)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    @property
    def availability(self) -> str:
        return f"{self.prefix}/availability"

    def camera(self, camera: str, name: str) -> str:
        return f"{self.prefix}/{topic_part(camera)}/{name}"

    def per_label(self, camera: str, what: str, label: str) -> str:
        return f"{self.prefix}/{topic_part(camera)}/{what}/{topic_part(label)}"

    def health(self, scope: str, kind: str) -> str:
        return f"{self.prefix}/health/{topic_part(scope)}/{kind}/state"


def discovery_configs(cfg: CampyConfig, *, topics: Topics, discovery_prefix: str, node: str,
                      url: str | None = None) -> dict[str, dict[str, Any]]:
    """Config topic → discovery payload for every entity ``cfg`` asks for (a pure function)."""
    dp = discovery_prefix.rstrip("/")
    hub = {"identifiers": [node], "name": "CamPy", "manufacturer": "CamPy", "model": "NVR",
           "sw_version": __version__, **({"configuration_url": url} if url else {})}
    availability = [{"topic": topics.availability, "payload_available": "online",
                     "payload_not_available": "offline"}]
    origin = {"name": "CamPy", "sw_version": __version__}
    out: dict[str, dict[str, Any]] = {}

    def add(component: str, key: str, name: str, device: dict[str, Any], **fields: Any) -> None:
        object_id = f"{node}_{key}"
        out[f"{dp}/{component}/{node}/{key}/config"] = {
            "name": name, "unique_id": object_id, "object_id": object_id, "device": device,
            "availability": availability, "origin": origin, **fields}

    for kind in SYSTEM_PROBLEMS:
        add("binary_sensor", f"system_{kind}", _title(kind), hub, device_class="problem",
            entity_category="diagnostic", state_topic=topics.health("system", kind),
            payload_on="ON", payload_off="OFF")
    for name, cam in sorted(cfg.cameras.items()):
        manufacturer, model = camera_make(cam)
        device = {"identifiers": [f"{node}_{name}"], "name": cam.title or name, "manufacturer": manufacturer,
                  "model": model, "via_device": node, **({"configuration_url": f"{url}/cameras/{name}"} if url else {})}
        add("binary_sensor", f"{name}_motion", "Motion", device, device_class="motion",
            state_topic=topics.camera(name, "motion"), payload_on="ON", payload_off="OFF")
        add("sensor", f"{name}_state", "State", device, device_class="enum", options=CAMERA_STATES,
            state_topic=topics.camera(name, "state"), entity_category="diagnostic")
        if cam.detect is not None and cam.detect.enabled:  # event snapshots exist only with detection
            add("camera", f"{name}_snapshot", "Snapshot", device, topic=topics.camera(name, "snapshot"))
            add("sensor", f"{name}_detect_fps", "Detection fps", device, state_topic=topics.camera(name, "detect_fps"),
                state_class="measurement", unit_of_measurement="fps", suggested_display_precision=1,
                value_template="{{ value_json | float(0) }}", entity_category="diagnostic")
        for label in detected_labels(cfg, cam):
            key = f"{name}_{topic_part(label)}"
            add("binary_sensor", f"{key}_occupancy", f"{_title(label)} occupancy", device, device_class="occupancy",
                state_topic=topics.per_label(name, "occupancy", label), payload_on="ON", payload_off="OFF")
            add("sensor", f"{key}_count", f"{_title(label)} count", device, state_class="measurement",
                state_topic=topics.per_label(name, "count", label))
        for kind in CAMERA_PROBLEMS:
            add("binary_sensor", f"{name}_{kind}", _title(kind), device, device_class="problem",
                entity_category="diagnostic", state_topic=topics.health(name, kind),
                payload_on="ON", payload_off="OFF")
    return out


class HaDiscovery:
    """Keeps the broker's discovery configs equal to the config, and publishes the states they name.

    Called from the event loop (``sync``, ``event``, ``camera_states``, ``snapshot``) and from
    paho's thread (the subscription callbacks); ``_lock`` guards what both touch.
    """

    def __init__(self, mqtt: MqttPublisher, *, enabled: bool, discovery_prefix: str, url: str | None = None,
                 snapshot_dir: Callable[[str], Path] | None = None) -> None:
        self.mqtt = mqtt
        self.enabled = enabled
        self.discovery_prefix = discovery_prefix.rstrip("/")
        self.node = topic_part(mqtt.config.client_id)
        self.topics = Topics(mqtt.config.topic_prefix)
        self.url = url
        self.snapshot_dir = snapshot_dir  # camera → where its event snapshots are
        self._lock = threading.Lock()
        self._desired: dict[str, bytes] = {}
        self._held: dict[str, bytes] = {}  # config topic → payload the broker holds (seen on our subscription)
        self._synced = False  # nothing is cleared before the first sync says what is wanted
        self._cameras: set[str] = set()
        self._open: dict[tuple[str, str], set[int]] = {}  # (camera, label) → open event ids
        self._states: dict[str, str] = {}  # camera → last published state
        self._snapshot_tasks: set[asyncio.Task[bool]] = set()

    def start(self) -> None:
        """Subscribe to our own configs and HA's birth message (before ``mqtt.start``)."""
        self.mqtt.subscribe(f"{self.discovery_prefix}/+/{self.node}/+/config", self._on_config)
        self.mqtt.subscribe(f"{self.discovery_prefix}/status", self._on_ha_status)
        self.mqtt.on_connected.append(self._republish)

    # -- discovery configs ----------------------------------------------------------------

    def sync(self, cfg: CampyConfig, *, motion: set[str] | frozenset[str] = frozenset()) -> None:
        """Publish the configs ``cfg`` asks for, remove the others; set first states of new cameras."""
        desired: dict[str, bytes] = {}
        if self.enabled:
            configs = discovery_configs(cfg, topics=self.topics, discovery_prefix=self.discovery_prefix,
                                        node=self.node, url=self.url)
            desired = {t: msgspec.json.encode(p) for t, p in configs.items()}
        with self._lock:
            changed = {t: p for t, p in desired.items() if self._held.get(t) != p}
            self._desired = desired
            self._synced = True
            stale = {t: p for t, p in self._held.items() if t not in desired}
        for topic, payload in changed.items():
            self.mqtt.publish(topic, payload, retain=True)
        self._clear(stale)
        gone = self._cameras - set(cfg.cameras)
        for (camera, label) in [k for k in self._open if k[0] in gone]:
            del self._open[(camera, label)]
        for camera in gone:
            self._states.pop(camera, None)
        for name, cam in cfg.cameras.items():
            if name in self._cameras:
                continue
            self.mqtt.publish(self.topics.camera(name, "motion"), b"ON" if name in motion else b"OFF", retain=True)
            for label in detected_labels(cfg, cam):
                self._publish_label(name, label)
            if self.snapshot_dir is not None and cam.detect is not None and cam.detect.enabled:
                self._spawn(self._latest_snapshot(name, self.snapshot_dir(name)))
        self._cameras = set(cfg.cameras)
        if changed or stale:
            log.info("Home Assistant discovery: %d config(s) published, %d removed", len(changed), len(stale))

    def _clear(self, stale: dict[str, bytes]) -> None:
        """Empty retained payloads on ``stale`` configs and, for an entity no wanted config still
        names, on its state topic (a deleted camera's motion, snapshot …)."""
        with self._lock:
            wanted = {_state_topic_of(p) for p in self._desired.values()}
        for topic, payload in stale.items():
            self.mqtt.publish(topic, b"", retain=True)
            state = _state_topic_of(payload)
            if self.enabled and state and state not in wanted:
                self.mqtt.publish(state, b"", retain=True)

    def _on_config(self, topic: str, payload: bytes, retained: bool) -> None:  # paho's thread
        with self._lock:
            if not payload:
                self._held.pop(topic, None)
                return
            self._held[topic] = payload
            stale = self._synced and topic not in self._desired
        if stale:
            self._clear({topic: payload})

    def _on_ha_status(self, topic: str, payload: bytes, retained: bool) -> None:  # paho's thread
        if payload.strip() == b"online":
            self._republish()

    def _republish(self) -> None:
        """Every wanted config again (after a reconnect, or HA restarting)."""
        with self._lock:
            desired = dict(self._desired)
        for topic, payload in desired.items():
            self.mqtt.publish(topic, payload, retain=True)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"enabled": self.enabled, "configs": len(self._desired), "held": len(self._held)}

    # -- states -----------------------------------------------------------------------------

    def event(self, camera: str, label: str, event_id: int, kind: str, *, snapshot: Path | None = None) -> None:
        """An event started, changed or ended: occupancy and count of its label, and its snapshot."""
        ids = self._open.setdefault((camera, label), set())
        before = len(ids)
        if kind == "end":
            ids.discard(event_id)
        else:
            ids.add(event_id)
        if len(ids) != before:
            self._publish_label(camera, label)
        if snapshot is not None and kind in ("start", "end"):  # first and best picture; not every update
            self._spawn(self.snapshot(camera, snapshot))

    def _spawn(self, work: Coroutine[Any, Any, bool]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._snapshot_tasks.add(task)
        task.add_done_callback(self._snapshot_tasks.discard)

    async def _latest_snapshot(self, camera: str, directory: Path) -> bool:
        """The newest event snapshot on disk (what HA shows until the next event)."""
        def newest() -> Path | None:
            best: tuple[float, str] | None = None
            with contextlib.suppress(OSError), os.scandir(directory) as entries:
                for e in entries:
                    if _event_snapshot(e.name) and e.is_file():
                        best = max(best or (0.0, ""), (e.stat().st_mtime, e.name))
            return directory / best[1] if best else None

        path = await asyncio.to_thread(newest)
        return await self.snapshot(camera, path) if path is not None else False

    def worker_gone(self, camera: str) -> None:
        """The camera's detection worker exited: the events it had open will not end by themselves."""
        for key in [k for k, ids in self._open.items() if k[0] == camera and ids]:
            self._open[key].clear()
            self._publish_label(*key)

    def _publish_label(self, camera: str, label: str) -> None:
        n = len(self._open.get((camera, label), ()))
        self.mqtt.publish(self.topics.per_label(camera, "occupancy", label), b"ON" if n else b"OFF", retain=True)
        self.mqtt.publish(self.topics.per_label(camera, "count", label), str(n).encode(), retain=True)

    async def snapshot(self, camera: str, path: Path) -> bool:
        """The JPEG at ``path`` on the camera's snapshot topic (retained); files over
        ``MAX_SNAPSHOT_BYTES`` or unreadable are skipped."""
        def read() -> bytes | None:
            with contextlib.suppress(OSError), path.open("rb") as f:
                data = f.read(MAX_SNAPSHOT_BYTES + 1)
                return data if len(data) <= MAX_SNAPSHOT_BYTES else None
            return None

        data = await asyncio.to_thread(read)
        if not data:
            log.debug("camera %s: snapshot %s not sent (missing or over %d bytes)", camera, path.name,
                      MAX_SNAPSHOT_BYTES)
            return False
        return self.mqtt.publish(self.topics.camera(camera, "snapshot"), data, retain=True)

    def camera_states(self, states: dict[str, str]) -> None:
        """Each camera's health state on ``<p>/<camera>/state``, when it changed."""
        for camera, state in states.items():
            if self._states.get(camera) != state:
                if self.mqtt.publish(self.topics.camera(camera, "state"), state.encode(), retain=True):
                    self._states[camera] = state

    async def stop(self) -> None:
        for task in list(self._snapshot_tasks):
            task.cancel()
        await asyncio.gather(*self._snapshot_tasks, return_exceptions=True)


def _event_snapshot(name: str) -> bool:
    """An event's snapshot file (not the worker's rolling ``latest.jpg`` or a file being written)."""
    return name.endswith(".jpg") and name != "latest.jpg" and not name.endswith(".part.jpg")


def _state_topic_of(payload: bytes) -> str | None:
    try:
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    if not isinstance(body, dict):
        return None
    topic = body.get("state_topic") or body.get("topic")
    return topic if isinstance(topic, str) else None
