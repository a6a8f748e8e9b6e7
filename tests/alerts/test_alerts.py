"""Alerts: rules and cooldowns (pure), webhooks against a real HTTP server, MQTT against a
real Mosquitto, and the dispatcher end to end."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from campy.alerts import (
    AlertDispatcher,
    AlertEvent,
    AlertRule,
    Cooldowns,
    MqttConfig,
    MqttPublisher,
    WebhookTarget,
    matching_rules,
    post_event,
)
from campy.clock import ManualClock
from campy.errors import BadRequest
from tests.alerts.conftest import (
    AUTH_PASSWORD,
    AUTH_USER,
    Broker,
    Subscriber,
    WebhookReceiver,
    eventually,
)
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(60)

FAST = (0.01, 0.02, 0.04)


def ev(id: int = 1, *, camera: str = "front", label: str = "person", zones: tuple[str, ...] = (),
       kind: str = "start", score: float = 0.9) -> AlertEvent:
    return AlertEvent(id=id, camera=camera, label=label, score=score, start_ms=1_796_000_000_000 + id,
                      end_ms=None if kind != "end" else 1_796_000_005_000 + id, zones=list(zones),
                      snapshot_url=f"/api/events/{id}/snapshot.jpg", clip_url=f"/api/events/{id}/clip.mp4",
                      kind=kind)  # type: ignore[arg-type]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- rules --------------------------------------------------------------------------------

MATCH_TABLE = [
    # rule fields, event fields, matches?
    ({}, {}, True),
    ({"cameras": ["front"]}, {"camera": "front"}, True),
    ({"cameras": ["front"]}, {"camera": "back"}, False),
    ({"cameras": ["front", "back"]}, {"camera": "back"}, True),
    ({"labels": ["person"]}, {"label": "person"}, True),
    ({"labels": ["person"]}, {"label": "car"}, False),
    ({"labels": ["car", "dog"]}, {"label": "dog"}, True),
    ({"zones": ["driveway"]}, {"zones": ("driveway",)}, True),
    ({"zones": ["driveway"]}, {"zones": ("porch", "driveway")}, True),
    ({"zones": ["driveway"]}, {"zones": ("porch",)}, False),
    ({"zones": ["driveway"]}, {"zones": ()}, False),
    ({"zones": []}, {"zones": ()}, True),
    ({"zones": []}, {"zones": ("porch",)}, True),
    ({"cameras": ["front"], "labels": ["person"], "zones": ["porch"]},
     {"camera": "front", "label": "person", "zones": ("porch",)}, True),
    ({"cameras": ["front"], "labels": ["person"], "zones": ["porch"]},
     {"camera": "front", "label": "car", "zones": ("porch",)}, False),
    ({"cameras": ["front"], "labels": ["person"], "zones": ["porch"]},
     {"camera": "back", "label": "person", "zones": ("porch",)}, False),
]


@pytest.mark.parametrize(("rule_fields", "event_fields", "expected"), MATCH_TABLE)
def test_rule_matching_table(rule_fields: dict, event_fields: dict, expected: bool) -> None:
    rule = AlertRule(name="r", **rule_fields)
    assert matching_rules(ev(**event_fields), [rule]) == ([rule] if expected else [])


def test_matching_rules_returns_every_match_in_order() -> None:
    rules = [AlertRule(name="cars", labels=["car"]), AlertRule(name="all"),
             AlertRule(name="front", cameras=["front"]), AlertRule(name="back", cameras=["back"])]
    assert [r.name for r in matching_rules(ev(camera="front", label="person"), rules)] == ["all", "front"]


def test_rule_config_rejects_unknown_keys() -> None:
    with pytest.raises(msgspec.ValidationError, match="camera"):
        msgspec.convert({"name": "r", "camera": ["front"]}, AlertRule)
    rule = msgspec.convert({"name": "r", "cameras": ["front"], "cooldown_seconds": 5}, AlertRule)
    assert rule.cameras == ["front"] and rule.cooldown_seconds == 5 and rule.mqtt is True


def test_cooldown_is_per_rule_and_camera() -> None:
    cd = Cooldowns()
    a, b = AlertRule(name="a", cooldown_seconds=60), AlertRule(name="b", cooldown_seconds=60)
    assert cd.allow(a, "front", 0)
    assert not cd.allow(a, "front", 1_000)
    assert not cd.allow(a, "front", 59_999)
    assert cd.allow(a, "back", 1_000)  # another camera
    assert cd.allow(b, "front", 1_000)  # another rule
    assert cd.allow(a, "front", 60_000)  # cooldown over: sends, and restarts it
    assert not cd.allow(a, "front", 60_001)
    assert not cd.allow(a, "front", 119_999)
    assert cd.allow(a, "front", 120_000)


def test_cooldown_edges() -> None:
    cd = Cooldowns()
    zero = AlertRule(name="z", cooldown_seconds=0)
    assert all(cd.allow(zero, "front", 5) for _ in range(3))
    r = AlertRule(name="r", cooldown_seconds=10)
    assert cd.allow(r, "front", 100_000)
    assert cd.allow(r, "front", 50_000)  # the counter went back: allowed, not held
    assert not cd.allow(r, "front", 55_000)
    cd.forget("r")
    assert cd.allow(r, "front", 55_000)


# -- webhooks -----------------------------------------------------------------------------

def _target(receiver: WebhookReceiver, **kw: Any) -> WebhookTarget:
    return WebhookTarget(**{"name": "hook", "url": receiver.url + "/hook", **kw})


async def _post(target: WebhookTarget, payload: dict) -> bool:
    async with httpx.AsyncClient() as client:
        return await post_event(client, target, payload, backoff=FAST)


def test_webhook_retried_after_two_500s_then_succeeds(receiver: WebhookReceiver) -> None:
    receiver.fail_next(2, 500)
    payload = {"rule": "r", "type": "start", "id": 7, "camera": "front", "zones": ["porch"]}
    target = _target(receiver, headers={"X-Campy-Test": "yes"})
    assert run(_post(target, payload)) is True
    reqs = receiver.received()
    assert len(reqs) == 3
    for r in reqs:
        assert r.path == "/hook"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-campy-test"] == "yes"
        assert r.json() == payload


@pytest.mark.parametrize("status", [503, 429])
def test_webhook_retries_other_transient_statuses(receiver: WebhookReceiver, status: int) -> None:
    receiver.fail_next(1, status)
    assert run(_post(_target(receiver), {"id": 1})) is True
    assert len(receiver.received()) == 2


@pytest.mark.parametrize("status", [400, 404])
def test_webhook_not_retried_on_4xx(receiver: WebhookReceiver, status: int) -> None:
    receiver.fail_next(5, status)
    assert run(_post(_target(receiver), {"id": 1})) is False
    assert len(receiver.received()) == 1


def test_webhook_gives_up_after_its_retries(receiver: WebhookReceiver) -> None:
    receiver.fail_next(10, 500)
    assert run(_post(_target(receiver, retries=2), {"id": 1})) is False
    assert len(receiver.received()) == 3


def test_webhook_failures_never_log_header_values(receiver: WebhookReceiver,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": "Bearer tok-SECRET-8841", "X-Api-Key": "key-SECRET-5512"}
    receiver.fail_next(10, 500)
    failing = _target(receiver, url=receiver.url + "/hook?token=query-SECRET-3307", headers=headers, retries=1)
    closed = WebhookTarget(name="closed", url=f"http://user:pw-SECRET-9001@127.0.0.1:{free_port()}/x",
                           headers=headers, retries=1, timeout_seconds=2)
    assert run(_post(failing, {"id": 1})) is False
    assert run(_post(closed, {"id": 1})) is False
    assert len(receiver.received()) == 2
    assert all(r.headers["authorization"] == headers["Authorization"] for r in receiver.received())

    ours = [r for r in caplog.records if r.name.startswith("campy.alerts")]
    warnings = [r.getMessage() for r in ours if r.levelno >= logging.WARNING]
    assert any("webhook hook" in m and "HTTP 500" in m for m in warnings), warnings
    assert any("webhook closed" in m and "ConnectError" in m for m in warnings), warnings
    for secret in headers.values():
        assert secret not in caplog.text  # every logger, every level
    for r in ours:  # httpx itself logs request URLs at INFO; ours must not carry their secrets
        assert "query-SECRET" not in r.getMessage() and "pw-SECRET" not in r.getMessage()


# -- MQTT ---------------------------------------------------------------------------------

def _config(broker: Broker, **kw: Any) -> MqttConfig:
    return MqttConfig(**{"host": broker.host, "port": broker.port, **kw})


def test_mqtt_availability_is_retained_and_events_arrive(broker: Broker) -> None:
    async def scenario() -> None:
        pub = MqttPublisher(_config(broker))
        await pub.start()
        assert pub.state == "connected", pub.error
        # Subscribing only now: "online" can only arrive because the broker retained it.
        sub = Subscriber(broker)
        try:
            online = await eventually(lambda: sub.on("campy/availability", "online"), what="online")
            assert online[0].retain is True

            event = ev(7, camera="front", label="person", zones=("porch",))
            assert pub.publish_event(event) is True
            assert pub.publish_event(msgspec.structs.replace(event, kind="update", score=0.95)) is True
            assert pub.publish_state("front", "detect_fps", 5.0) is True
            on_events = await eventually(lambda: len(sub.on("campy/events")) == 2 and sub.on("campy/events"),
                                         what="two events on campy/events")
            first = on_events[0].json()
            assert first == {"type": "start", "id": 7, "camera": "front", "label": "person", "score": 0.9,
                             "start_ms": event.start_ms, "end_ms": None, "zones": ["porch"],
                             "snapshot_url": event.snapshot_url, "clip_url": event.clip_url,
                             "links_expire_ms": None}
            assert on_events[1].json()["type"] == "update"
            per_object = await eventually(lambda: len(sub.on("campy/front/person")) == 2
                                          and sub.on("campy/front/person"), what="campy/front/person")
            assert [m.json()["type"] for m in per_object] == ["start", "update"]
            assert not any(m.retain for m in on_events + per_object)
            await eventually(lambda: sub.on("campy/front/detect_fps", "5.0"), what="detect_fps")
        finally:
            sub.close()
            await pub.stop()
        assert pub.state == "stopped"
        # A clean stop leaves "offline" retained, and the state value stays retained too.
        late = Subscriber(broker)
        try:
            msg = await eventually(lambda: late.on("campy/availability"), what="availability after stop")
            assert (msg[-1].payload, msg[-1].retain) == ("offline", True)
            fps = await eventually(lambda: late.on("campy/front/detect_fps"), what="retained detect_fps")
            assert fps[0].retain is True
        finally:
            late.close()
        assert pub.publish_event(ev(8)) is False  # stopped: refused, not queued forever

    run(scenario())


def test_mqtt_last_will_on_unclean_drop_then_reconnect_and_queued_event(broker: Broker) -> None:
    async def scenario() -> None:
        pub = MqttPublisher(_config(broker, client_id="campy-lwt"))
        await pub.start()
        assert pub.state == "connected", pub.error
        sub = Subscriber(broker)
        try:
            await eventually(lambda: sub.on("campy/availability", "online"), what="online")
            sock = pub._client.socket()
            assert sock is not None
            # Cut the TCP connection under paho: no MQTT DISCONNECT, so the broker must
            # publish the Last Will.
            sock.shutdown(socket.SHUT_RDWR)
            await eventually(lambda: pub.state == "disconnected", timeout=5, what="publisher sees the drop")
            # Published while disconnected: paho queues it and sends it after reconnecting.
            assert pub.publish_event(ev(42, camera="back", label="car")) is True
            await eventually(lambda: sub.on("campy/availability", "offline"), what="LWT offline")
            await eventually(lambda: len(sub.on("campy/availability", "online")) == 2, what="online again")
            topics = [m.payload for m in sub.on("campy/availability")]
            assert topics == ["online", "offline", "online"]
            queued = await eventually(lambda: sub.on("campy/events"), what="the queued event")
            assert queued[0].json()["id"] == 42
            assert sub.on("campy/back/car")
            assert pub.state == "connected"
        finally:
            sub.close()
            await pub.stop()

    run(scenario())


def test_mqtt_broker_started_late_gets_retained_state_queued_before(mosquitto: Callable[..., Broker]) -> None:
    port = free_port()

    async def scenario() -> None:
        pub = MqttPublisher(MqttConfig(host="127.0.0.1", port=port), reconnect_delay=(1, 2))
        await pub.start()
        try:
            assert pub.state == "unreachable"
            assert pub.error and f"127.0.0.1:{port}" in pub.error
            assert pub.publish_state("front", "recording", True) is True  # queued
            broker = mosquitto(port=port)
            assert await pub.wait_connected(10), pub.error
            sub = Subscriber(broker)
            try:
                rec = await eventually(lambda: sub.on("campy/front/recording"), what="queued retained state")
                assert (rec[0].payload, rec[0].retain) == ("true", True)
                assert (await eventually(lambda: sub.on("campy/availability", "online")))[0].retain
            finally:
                sub.close()
        finally:
            await pub.stop()

    run(scenario())


def test_mqtt_auth_wrong_password_is_a_clear_error_right_one_works(
        auth_broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        wrong = MqttPublisher(_config(auth_broker, username=AUTH_USER, password="wrong-pass-1234"))
        await wrong.start()
        try:
            assert wrong.state == "auth_failed"
            assert wrong.error and "username and password" in wrong.error
            assert "wrong-pass-1234" not in wrong.error and "wrong-pass-1234" not in repr(wrong.config)
        finally:
            await wrong.stop()

        anonymous = MqttPublisher(_config(auth_broker))
        await anonymous.start()
        try:
            assert anonymous.state == "auth_failed", anonymous.error
        finally:
            await anonymous.stop()

        right = MqttPublisher(_config(auth_broker, username=AUTH_USER, password=AUTH_PASSWORD))
        await right.start()
        sub = Subscriber(auth_broker, username=AUTH_USER, password=AUTH_PASSWORD)
        try:
            assert right.state == "connected" and right.error is None
            await eventually(lambda: sub.on("campy/availability", "online"), what="online with auth")
        finally:
            sub.close()
            await right.stop()

    run(scenario())
    assert any("refused the connection" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert "wrong-pass-1234" not in caplog.text and AUTH_PASSWORD not in caplog.text


# -- the dispatcher -----------------------------------------------------------------------

def test_dispatcher_end_to_end(broker: Broker, receiver: WebhookReceiver) -> None:
    clock = ManualClock()
    rule = AlertRule(name="front-person", cameras=["front"], labels=["person"], cooldown_seconds=60,
                     webhooks=["hook"])

    async def scenario() -> None:
        pub = MqttPublisher(_config(broker))
        await pub.start()
        sub = Subscriber(broker)
        d = AlertDispatcher(rules=[rule], webhooks={"hook": _target(receiver)}, mqtt=pub, clock=clock,
                            backoff=FAST)
        await d.start()
        try:
            d.submit(ev(1))
            got = await eventually(receiver.received, what="webhook for event 1")
            body = got[0].json()
            assert (body["rule"], body["type"], body["id"], body["camera"]) == ("front-person", "start", 1, "front")
            await eventually(lambda: sub.on("campy/events"), what="event 1 on MQTT")
            alert = await eventually(lambda: sub.on("campy/alerts"), what="alert on MQTT")
            assert alert[0].json()["rule"] == "front-person"

            d.submit(ev(1, kind="update"))  # MQTT only
            clock.advance(10)
            d.submit(ev(2))  # same rule and camera, within the cooldown
            d.submit(ev(3, camera="back"))  # matches no rule
            assert await d.flush(10)
            await eventually(lambda: len(sub.on("campy/events")) == 4, what="all four on MQTT")
            assert [m.json()["id"] for m in sub.on("campy/events")] == [1, 1, 2, 3]
            assert len(receiver.received()) == 1
            assert d.stats["suppressed"] == 1

            d.submit(ev(2, kind="end"))  # its start was not sent: neither is its end
            d.submit(ev(1, kind="end"))  # its start was sent: so is its end
            assert await d.flush(10)
            assert [(r.json()["id"], r.json()["type"]) for r in receiver.received()] == [(1, "start"), (1, "end")]

            clock.advance(51)  # 61 s after event 1: the cooldown is over
            d.submit(ev(4))
            assert await d.flush(10)
            assert [r.json()["id"] for r in receiver.received()] == [1, 1, 4]
            await eventually(lambda: len(sub.on("campy/alerts")) == 3, what="three alerts on MQTT")
            assert [(m.json()["id"], m.json()["type"]) for m in sub.on("campy/alerts")] == \
                [(1, "start"), (1, "end"), (4, "start")]
            assert d.stats["sent"] == 3 and d.stats["failed"] == 0 and d.stats["dropped"] == 0
            assert d.stats["mqtt_failed"] == 0
        finally:
            await d.stop()
            sub.close()
            await pub.stop()
        d.submit(ev(5))  # after stop: counted, never raised
        assert d.stats["dropped"] == 1

    run(scenario())


def test_dispatcher_failing_target_does_not_hold_up_others(receiver: WebhookReceiver) -> None:
    # A server that accepts connections and never answers: the worst kind of target.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    dead = WebhookTarget(name="dead", url=f"http://127.0.0.1:{silent.getsockname()[1]}/", retries=0,
                         timeout_seconds=3)
    rules = [AlertRule(name="all", cooldown_seconds=0, webhooks=["dead", "hook"])]

    async def scenario() -> None:
        d = AlertDispatcher(rules=rules, webhooks={"dead": dead, "hook": _target(receiver)}, mqtt=None,
                            clock=ManualClock(), backoff=FAST)
        await d.start()
        try:
            d.submit(ev(1))
            d.submit(ev(2))
            await eventually(lambda: len(receiver.received()) == 2, what="both events at the good target")
            assert d.stats["failed"] == 0  # the dead target is still waiting for its answer
            assert await d.flush(10)
            assert (d.stats["sent"], d.stats["failed"]) == (2, 2)  # the dead one timed out twice
        finally:
            await d.stop()

    try:
        run(scenario())
    finally:
        silent.close()


def test_dispatcher_survives_a_500_target_and_a_broken_mqtt(receiver: WebhookReceiver) -> None:
    class BrokenMqtt:
        def publish_event(self, event: AlertEvent) -> bool:
            raise RuntimeError("boom")

        def publish_alert(self, rule: str, event: AlertEvent) -> bool:
            raise RuntimeError("boom")

    receiver.fail_next(10, 500)
    rules = [AlertRule(name="all", cooldown_seconds=0, webhooks=["hook"])]

    async def scenario() -> None:
        d = AlertDispatcher(rules=rules, webhooks={"hook": _target(receiver, retries=1)},
                            mqtt=BrokenMqtt(), clock=ManualClock(), backoff=FAST)  # type: ignore[arg-type]
        await d.start()
        try:
            d.submit(ev(1))
            d.submit(ev(2))
            assert await d.flush(10)
            assert [r.json()["id"] for r in receiver.received()] == [1, 1, 2, 2]  # each tried twice
            assert (d.stats["sent"], d.stats["failed"]) == (0, 2)
            assert d.stats["mqtt_failed"] == 4  # two events and two alerts
        finally:
            await d.stop()

    run(scenario())


def test_dispatcher_rejects_rules_naming_unknown_webhooks() -> None:
    with pytest.raises(BadRequest, match="nowhere"):
        AlertDispatcher(rules=[AlertRule(name="r", webhooks=["nowhere"])], webhooks={}, mqtt=None,
                        clock=ManualClock())


def test_event_json_round_trips() -> None:
    event = ev(3, zones=("porch",), kind="end")
    data = json.loads(msgspec.json.encode(event))
    assert msgspec.convert(data, AlertEvent) == event
