"""MQTT: CamPy's events and state on a broker, for Home Assistant and other subscribers.

Topics (``<prefix>`` is ``MqttConfig.topic_prefix``, ``campy`` by default), all QoS 1:

==============================  =====================================  ========  ====================================
Topic                           Payload                                Retained  Published
==============================  =====================================  ========  ====================================
``<prefix>/availability``       ``online`` / ``offline``               yes       ``online`` on every (re)connect;
                                                                                 ``offline`` on a clean stop, and by
                                                                                 the broker (Last Will) when the
                                                                                 connection drops uncleanly
``<prefix>/events``             event JSON (below)                     no        every event start, update and end
``<prefix>/<camera>/<label>``   event JSON (below)                     no        the same, per camera and label
``<prefix>/alerts``             event JSON plus ``"rule": <name>``     no        an alert rule with ``mqtt: true``
                                                                                 fired (start, and the end of an
                                                                                 event it sent); see ``dispatch``
``<prefix>/health/…``           health alerts (campy/alerts/healthrun)  [2]_      a health problem fires or resolves
``<prefix>/<camera>/<name>``    a state value: text as is, anything    yes [1]_  ``publish_state``, e.g.
                                else as JSON (``12.5``, ``true``)                ``<prefix>/front/detect_fps``
==============================  =====================================  ========  ====================================

.. [2] ``<prefix>/health`` (JSON, not retained) and ``<prefix>/health/<scope>/<kind>/state``
   (``ON``/``OFF``, retained).
.. [1] by default; ``publish_state(..., retain=False)`` for values that are stale at once.

Home Assistant discovery configs, and the per-camera state topics they read (``state``,
``occupancy/<label>``, ``count/<label>``, ``snapshot``), are in ``campy.alerts.ha``.

Event JSON: ``{"type": "start"|"update"|"end", "id": 7, "camera": "front", "label": "person",
"score": 0.87, "start_ms": …, "end_ms": null, "zones": ["driveway"], "snapshot_url": "…",
"clip_url": "…", "links_expire_ms": …}`` (times are UTC epoch milliseconds; the two URLs are
signed links that open without a login until ``links_expire_ms``, see
``campy.alerts.links``). Characters that MQTT reserves in
topic levels (``/``, ``+``, ``#``) in a camera, label or state name become ``_``.

paho-mqtt (2.x, callback API version 2) runs the network loop in its own thread
(``loop_start``) and reconnects with exponential backoff by itself
(``reconnect_delay_set``). Messages published while disconnected wait in paho's queue
(QoS 1, up to ``max_queued``) and go out after the next connect; a message that does not
fit is dropped and counted in ``dropped``. The state of the connection is in ``state``
and ``error`` (``auth_failed`` when the broker rejects the username or password; paho
keeps retrying with backoff, so fixing the broker's password file is picked up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from campy.alerts.rules import AlertEvent, event_payload

log = logging.getLogger(__name__)


class _NoNotConnectedNoise(logging.Filter):
    """paho 2.2 logs "Client is not connected" at ERROR on every pass of its loop while it
    waits to reconnect; ``MqttPublisher`` reports that state itself, once per change."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


_paho_log = logging.getLogger(f"{__name__}.paho")
_paho_log.addFilter(_NoNotConnectedNoise())

State = Literal["stopped", "connecting", "connected", "disconnected", "unreachable", "auth_failed",
                "refused"]

# CONNACK reason codes (paho maps MQTT 3.1.1's 4 and 5 onto these MQTT 5 values).
_BAD_CREDENTIALS = 134
_NOT_AUTHORIZED = 135


class MqttConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the broker is and how CamPy names itself there (TLS brokers usually use 8883)."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    topic_prefix: str = "campy"
    client_id: str = "campy"
    tls: bool = False

    def __repr__(self) -> str:  # the password must never reach a log line
        return (f"MqttConfig(host={self.host!r}, port={self.port}, username={self.username!r}, "
                f"password={'***' if self.password else None}, topic_prefix={self.topic_prefix!r}, "
                f"client_id={self.client_id!r}, tls={self.tls})")


def topic_part(name: str) -> str:
    """``name`` made safe as one topic level (no ``/``, ``+``, ``#`` or NUL; never empty)."""
    for ch in "/+#\0":
        name = name.replace(ch, "_")
    return name or "_"


def _state_payload(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return msgspec.json.encode(value)


class MqttPublisher:
    """One connection to the broker, shared by everything in CamPy that publishes.

    Methods that publish never block on the network and never raise for a broker that is
    down: they return whether the message was accepted for delivery.
    """

    def __init__(self, config: MqttConfig, *, keepalive: int = 60, max_queued: int = 1000,
                 reconnect_delay: tuple[int, int] = (1, 60), announce: bool = True) -> None:
        self.config = config
        self.announce = announce  # False: no availability messages (a test send beside the real one)
        self.keepalive = keepalive
        self.state: State = "stopped"
        self.error: str | None = None
        self.dropped = 0
        self._attempted = False  # the first connect attempt after start() has an outcome
        self._stopping = False
        self._warned_drop = False
        # topic filter -> callback(topic, payload, retained), (re)subscribed on every connect
        self._subs: dict[str, Callable[[str, bytes, bool], None]] = {}
        self.on_connected: list[Callable[[], None]] = []  # run in paho's thread after each connect
        self._client = self._make_client(max_queued, reconnect_delay)

    # -- topics ---------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return self.config.topic_prefix.rstrip("/")

    @property
    def availability_topic(self) -> str:
        return f"{self.prefix}/availability"

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}/events"

    @property
    def alerts_topic(self) -> str:
        return f"{self.prefix}/alerts"

    def object_topic(self, camera: str, label: str) -> str:
        return f"{self.prefix}/{topic_part(camera)}/{topic_part(label)}"

    def state_topic(self, camera: str, name: str) -> str:
        return f"{self.prefix}/{topic_part(camera)}/{topic_part(name)}"

    # -- lifecycle ------------------------------------------------------------------------

    def _make_client(self, max_queued: int, reconnect_delay: tuple[int, int]) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                             protocol=MQTTProtocolVersion.MQTTv311, clean_session=True)
        client.enable_logger(_paho_log)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set()  # the system's CA certificates; hostname checked
        if self.announce:
            client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=reconnect_delay[0], max_delay=reconnect_delay[1])
        client.max_queued_messages_set(max_queued)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        return client

    async def start(self, *, timeout: float = 5.0) -> None:
        """Start connecting in paho's thread; wait up to ``timeout`` s for the first outcome.

        Never raises for a broker that is down or refuses us: see ``state`` and ``error``.
        """
        if self.state != "stopped":
            return
        self._stopping = False
        self._attempted = False
        self.state, self.error = "connecting", None
        self._client.connect_async(self.config.host, self.config.port, keepalive=self.keepalive)
        self._client.loop_start()
        await _until(lambda: self._attempted, timeout)
        if not self._attempted:
            log.warning("MQTT broker %s:%d has not answered yet; still trying",
                        self.config.host, self.config.port)

    async def wait_connected(self, timeout: float) -> bool:
        """Whether the publisher is (or within ``timeout`` s becomes) connected."""
        return await _until(lambda: self.state == "connected", timeout)

    async def stop(self, *, timeout: float = 3.0) -> None:
        """Publish ``offline`` (retained), disconnect cleanly and stop paho's thread."""
        if self.state == "stopped":
            return
        self._stopping = True
        if self._client.is_connected() and self.announce:
            info = self._client.publish(self.availability_topic, "offline", qos=1, retain=True)
            await _until(lambda: _published(info), timeout)
        self._client.disconnect()
        with contextlib.suppress(TimeoutError):
            # The thread ends once the DISCONNECT is written and the socket closed.
            await asyncio.wait_for(asyncio.to_thread(self._client.loop_stop), timeout)
        self.state = "stopped"
        log.info("MQTT publisher stopped")

    # -- paho callbacks (paho's thread) ---------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                    reason_code: ReasonCode, properties: Properties | None) -> None:
        where = f"{self.config.host}:{self.config.port}"
        if reason_code.is_failure:
            auth = reason_code.value in (_BAD_CREDENTIALS, _NOT_AUTHORIZED)
            state: State = "auth_failed" if auth else "refused"
            error = f"MQTT broker {where} refused the connection: {reason_code.getName()}"
            if auth:
                error += " (check the MQTT username and password)"
            if (self.state, self.error) != (state, error):
                log.error("%s; retrying with backoff", error)
            self.state, self.error = state, error
        else:
            self.state, self.error = "connected", None
            self._warned_drop = False
            if self.announce:
                client.publish(self.availability_topic, "online", qos=1, retain=True)
            for pattern in self._subs:
                client.subscribe(pattern, qos=1)
            log.info("MQTT connected to %s", where)
            for hook in self.on_connected:
                try:
                    hook()
                except Exception:
                    log.exception("MQTT: an on-connect hook failed")
        self._attempted = True

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        error = f"MQTT broker {self.config.host}:{self.config.port} is unreachable"
        if self.state != "unreachable":
            log.warning("%s; retrying with backoff", error)
        self.state, self.error = "unreachable", error
        self._attempted = True

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
                       reason_code: ReasonCode, properties: Properties | None) -> None:
        if self._stopping or self.state != "connected":
            return  # a clean stop, or the close that follows a refused CONNACK
        self.state = "disconnected"
        self.error = f"connection lost ({reason_code.getName()})"
        log.warning("MQTT connection to %s:%d lost (%s); reconnecting",
                    self.config.host, self.config.port, reason_code.getName())

    # -- publishing -----------------------------------------------------------------------

    def publish_event(self, event: AlertEvent) -> bool:
        """``event`` on ``<prefix>/events`` and ``<prefix>/<camera>/<label>`` (not retained)."""
        payload = msgspec.json.encode(event_payload(event))
        ok = self._publish(self.events_topic, payload, retain=False)
        return self._publish(self.object_topic(event.camera, event.label), payload, retain=False) and ok

    def publish_alert(self, rule: str, event: AlertEvent) -> bool:
        """An alert rule fired for ``event``: on ``<prefix>/alerts`` (not retained)."""
        payload = msgspec.json.encode({"rule": rule, **event_payload(event)})
        return self._publish(self.alerts_topic, payload, retain=False)

    def publish_state(self, camera: str, name: str, value: object, retain: bool = True) -> bool:
        """A per-camera state value on ``<prefix>/<camera>/<name>`` (retained by default)."""
        return self._publish(self.state_topic(camera, name), _state_payload(value), retain=retain)

    def publish(self, topic: str, payload: bytes, *, retain: bool) -> bool:
        """``payload`` on any ``topic`` (e.g. Home Assistant's discovery configs)."""
        return self._publish(topic, payload, retain=retain)

    def subscribe(self, pattern: str, callback: Callable[[str, bytes, bool], None]) -> None:
        """Call ``callback(topic, payload, retained)`` (in paho's thread) for every message on
        ``pattern``; the subscription is renewed on each reconnect."""
        self._subs[pattern] = callback
        self._client.message_callback_add(
            pattern, lambda client, userdata, msg: callback(msg.topic, bytes(msg.payload), bool(msg.retain)))
        if self.state == "connected":
            self._client.subscribe(pattern, qos=1)

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool) -> bool:
        """``payload`` on a full ``topic`` (health alerts: ``<prefix>/health/...``)."""
        return self._publish(topic, payload, retain=retain)

    def _publish(self, topic: str, payload: bytes, *, retain: bool) -> bool:
        if self.state == "stopped":
            log.debug("MQTT publisher stopped; not publishing to %s", topic)
            return False
        try:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
        except ValueError as err:  # an invalid topic or an oversized payload
            log.warning("MQTT: cannot publish to %s: %s", topic, err)
            return False
        # NO_CONN means "not connected now": the message is queued and sent after reconnect.
        if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            return True
        self.dropped += 1
        if not self._warned_drop:  # once per outage, not once per message
            self._warned_drop = True
            log.warning("MQTT: dropping messages (%s); broker state %s",
                        mqtt.error_string(info.rc), self.state)
        return False


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (ValueError, RuntimeError):  # never queued: nothing to wait for
        return True


async def _until(predicate: Callable[[], bool], timeout: float, *, interval: float = 0.05) -> bool:
    """Poll ``predicate`` (set from paho's thread) for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
