"""The alerts page's "Send test" (campy/alerts/trial.py): the precise reason for each way a
target can fail, always within the 10 s budget."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from campy.alerts.mqtt import MqttConfig
from campy.alerts.trial import send_test_mqtt, send_test_webhook
from campy.alerts.webhook import WebhookTarget
from tests.alerts.conftest import Broker, WebhookReceiver
from tests.helpers import free_port


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    for c in conns:
        c.close()
    srv.close()


def _hook(url: str, **kw) -> WebhookTarget:
    return WebhookTarget(name="t", url=url, **{"timeout_seconds": 2, "retries": 3, **kw})


def test_webhook_reasons(receiver: WebhookReceiver) -> None:
    ok, msg = run(send_test_webhook(_hook(receiver.url + "/in")))
    assert ok and "HTTP 200" in msg
    body = receiver.received()[-1].json()
    assert body["test"] is True and body["camera"] == "test" and body["label"] == "person"
    receiver.fail_next(1, 500)
    ok, msg = run(send_test_webhook(_hook(receiver.url + "/in")))
    assert not ok and "HTTP 500" in msg
    assert len(receiver.received()) == 2, "a test is sent once, never retried"
    ok, msg = run(send_test_webhook(_hook(f"http://127.0.0.1:{free_port()}/x")))
    assert not ok and "connection refused" in msg
    # HTTPS against a plain HTTP server: a TLS error, named as such.
    ok, msg = run(send_test_webhook(_hook(receiver.url.replace("http://", "https://") + "/in")))
    assert not ok and "TLS error" in msg, msg
    ok, msg = run(send_test_webhook(_hook("http://no-such-host.invalid/x")))
    assert not ok and "host not found" in msg, msg


def test_webhook_timeout_is_reported_within_the_budget(silent: int) -> None:
    ok, msg = run(send_test_webhook(_hook(f"http://127.0.0.1:{silent}/x", timeout_seconds=60)))
    assert not ok and "timed out" in msg, msg


def test_mqtt_reasons(tmp_path) -> None:
    from tests.alerts.conftest import MOSQUITTO, MOSQUITTO_PASSWD

    if not (MOSQUITTO.exists() and MOSQUITTO_PASSWD.exists()):
        pytest.skip("Debian's mosquitto is missing")
    broker = Broker(tmp_path / "b", users={"u": "right-pass-1"})
    try:
        cfg = MqttConfig(host=broker.host, port=broker.port, username="u", password="right-pass-1")
        ok, msg = run(send_test_mqtt(cfg))
        assert ok and "campy/alerts" in msg, msg
        ok, msg = run(send_test_mqtt(MqttConfig(host=broker.host, port=broker.port, username="u", password="nope")))
        assert not ok and "check the MQTT username and password" in msg, msg
        ok, msg = run(send_test_mqtt(MqttConfig(host=broker.host, port=broker.port, username="u",
                                                password="right-pass-1", tls=True)))
        assert not ok and "TLS" in msg, msg
        ok, msg = run(send_test_mqtt(MqttConfig(host="127.0.0.1", port=free_port())))
        assert not ok and "connection refused" in msg, msg
    finally:
        broker.stop()


def test_mqtt_silent_port_times_out(silent: int) -> None:
    ok, msg = run(send_test_mqtt(MqttConfig(host="127.0.0.1", port=silent)))
    assert not ok and ("did not accept" in msg or "timed out" in msg), msg
