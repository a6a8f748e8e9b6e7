"""The alerts settings page's "Send test": one test alert through the real delivery code
(``webhook.deliver``, ``MqttPublisher``), done within 10 s, and the precise reason when it
fails (connection refused, host not found, timed out, TLS, HTTP status, MQTT refusal)."""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import ssl
import time
from typing import Any

import httpx
import msgspec

from campy.alerts.mqtt import MqttConfig, MqttPublisher, _published, _until
from campy.alerts.rules import AlertEvent, event_payload
from campy.alerts.webhook import WebhookTarget, deliver, safe_url

BUDGET_S = 10.0  # the whole test, whatever the target does
TEST_RULE = "campy_test"


def sample_event(camera: str = "test") -> AlertEvent:
    now = int(time.time() * 1000)
    return AlertEvent(id=0, camera=camera, label="person", score=1.0, start_ms=now, end_ms=None, zones=[],
                      snapshot_url="", clip_url="", kind="start")


def _test_payload(camera: str) -> dict[str, Any]:
    return {"rule": TEST_RULE, "test": True, **event_payload(sample_event(camera))}


def _os_reason(err: BaseException | None) -> str | None:
    """The cause behind an httpx/socket error, in words."""
    seen = 0
    while err is not None and seen < 6:
        seen += 1
        if isinstance(err, ssl.SSLCertVerificationError):
            return f"TLS error: the certificate was not accepted ({err.verify_message or err.reason})"
        if isinstance(err, ssl.SSLError):
            return f"TLS error: {err.reason or err}"
        if isinstance(err, ConnectionRefusedError) or getattr(err, "errno", None) == errno.ECONNREFUSED:
            return "connection refused (nothing listens on that port)"
        if isinstance(err, socket.gaierror):
            return "host not found (the name does not resolve)"
        if isinstance(err, OSError) and err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
        err = err.__cause__ or err.__context__
    return None


def describe_http(error: BaseException | None, status: int | None, timeout: float) -> str:
    if error is None:
        return f"the receiver answered HTTP {status}" + (" (redirects are not followed)"
                                                         if status and 300 <= status < 400 else "")
    if isinstance(error, httpx.ConnectTimeout):
        return f"timed out connecting (no answer within {timeout:g} s)"
    if isinstance(error, httpx.TimeoutException):
        return f"timed out: the receiver did not answer within {timeout:g} s"
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text.upper() and "certificate" in text.lower():
        return f"TLS error: {text}"
    reason = _os_reason(error)
    if reason:
        return reason
    if "Connection refused" in text:
        return "connection refused (nothing listens on that port)"
    if isinstance(error, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return f"the URL is not usable: {text}"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def send_test_webhook(target: WebhookTarget, *, camera: str = "test") -> tuple[bool, str]:
    """POST a test alert once (no retries); (ok, what happened)."""
    timeout = min(target.timeout_seconds, BUDGET_S - 1)
    once = msgspec.structs.replace(target, retries=0, timeout_seconds=timeout)
    try:
        async with asyncio.timeout(BUDGET_S), httpx.AsyncClient(follow_redirects=False) as client:
            result = await deliver(client, once, _test_payload(camera), backoff=())
    except TimeoutError:
        return False, f"timed out after {BUDGET_S:g} s"
    where = safe_url(target.url)
    if result.ok:
        return True, f"delivered to {where}: HTTP {result.status}"
    return False, f"not delivered to {where}: {describe_http(result.error, result.status, timeout)}"


async def _reachable(cfg: MqttConfig, timeout: float) -> str | None:
    """Why the broker's port cannot be opened (with TLS when set), or None when it can."""
    ctx = ssl.create_default_context() if cfg.tls else None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(cfg.host, cfg.port, ssl=ctx, server_hostname=cfg.host if ctx else None),
            timeout)
    except TimeoutError:
        return f"timed out connecting to {cfg.host}:{cfg.port} (no answer within {timeout:g} s)"
    except OSError as err:
        reason = _os_reason(err)
        if ctx is not None and (reason is None or reason.startswith("TLS")) and \
                isinstance(err, (ssl.SSLError, ConnectionResetError, ConnectionAbortedError)):
            return (f"TLS error: the handshake with {cfg.host}:{cfg.port} failed ({reason or err.strerror or err}); "
                    "does this port speak TLS? (brokers usually offer it on 8883)")
        return reason or f"cannot connect to {cfg.host}:{cfg.port}: {err.strerror or err}"
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (TimeoutError, OSError, ssl.SSLError):
        pass
    return None


async def send_test_mqtt(cfg: MqttConfig, *, camera: str = "test") -> tuple[bool, str]:
    """Connect with the settings given, publish a test alert on ``<prefix>/alerts`` and wait
    for the broker's acknowledgement; (ok, what happened)."""
    try:
        async with asyncio.timeout(BUDGET_S):
            return await _mqtt_once(cfg, camera)
    except TimeoutError:
        return False, f"timed out after {BUDGET_S:g} s"


async def _mqtt_once(cfg: MqttConfig, camera: str) -> tuple[bool, str]:
    where = f"{cfg.host}:{cfg.port}"
    problem = await _reachable(cfg, 3.0)
    if problem:
        return False, f"MQTT broker {where}: {problem}"
    # Its own client id: the same id as CamPy's publisher would make the broker drop that one.
    trial = msgspec.structs.replace(cfg, client_id=f"{cfg.client_id}-test-{secrets.token_hex(3)}")
    pub = MqttPublisher(trial, announce=False, reconnect_delay=(5, 5))
    try:
        await pub.start(timeout=3.0)
        if not await pub.wait_connected(1.0):
            return False, pub.error or f"MQTT broker {where} did not accept the connection in time"
        payload = msgspec.json.encode(_test_payload(camera))
        info = pub._client.publish(pub.alerts_topic, payload, qos=1, retain=False)
        if not await _until(lambda: _published(info), 3.0):
            return False, f"MQTT broker {where} did not acknowledge the test message within 3 s"
        return True, f"published to {pub.alerts_topic} on {where}"
    finally:
        await pub.stop(timeout=2.0)
