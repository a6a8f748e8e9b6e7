"""A real Mosquitto broker, a paho subscriber and a webhook receiver, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers import free_port

MOSQUITTO = Path("/usr/sbin/mosquitto")
MOSQUITTO_PASSWD = Path("/usr/bin/mosquitto_passwd")


async def eventually(predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` without blocking the event loop; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# -- Mosquitto ----------------------------------------------------------------------------

class Broker:
    """``/usr/sbin/mosquitto`` with a generated config in its own directory."""

    def __init__(self, directory: Path, *, port: int | None = None,
                 users: dict[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        lines = ["# managed by tests/alerts/conftest.py, do not edit",
                 f"listener {self.port} {self.host}",
                 "persistence false",
                 "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice", "log_type information"]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to a user that cannot read tmp_path
        if users:
            passwd = directory / "passwd"
            for i, (user, password) in enumerate(users.items()):
                args = [str(MOSQUITTO_PASSWD), *(["-c"] if i == 0 else []), "-b", str(passwd), user, password]
                subprocess.run(args, check=True, capture_output=True, timeout=10)
            os.chmod(passwd, 0o600)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.log_path = directory / "mosquitto.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(MOSQUITTO), "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(timeout=10)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited with {self.proc.returncode}: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on {self.port} within {timeout}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """A factory: ``mosquitto(port=None, users=None)`` starts a broker, stopped at teardown."""
    if not MOSQUITTO.exists():
        pytest.skip(f"{MOSQUITTO} is missing: install Debian's mosquitto package to run MQTT tests")
    started: list[Broker] = []

    def start(*, port: int | None = None, users: dict[str, str] | None = None) -> Broker:
        broker = Broker(tmp_path / f"mosquitto-{len(started)}", port=port, users=users)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def broker(mosquitto: Callable[..., Broker]) -> Broker:
    """An anonymous broker, fresh per test (so no retained message leaks between tests)."""
    return mosquitto()


AUTH_USER = "campy"
AUTH_PASSWORD = "right-pass-7f3a"


@pytest.fixture
def auth_broker(mosquitto: Callable[..., Broker]) -> Broker:
    """A broker that accepts only ``AUTH_USER`` / ``AUTH_PASSWORD``."""
    if not MOSQUITTO_PASSWD.exists():
        pytest.skip(f"{MOSQUITTO_PASSWD} is missing: install Debian's mosquitto package")
    return mosquitto(users={AUTH_USER: AUTH_PASSWORD})


# -- an MQTT subscriber -------------------------------------------------------------------

@dataclass(frozen=True)
class Msg:
    topic: str
    payload: str
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client (its own thread) that records every message on ``topic``."""

    def __init__(self, broker: Broker, topic: str = "campy/#", *, username: str | None = None,
                 password: str | None = None) -> None:
        self.messages: list[Msg] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=f"test-sub-{secrets.token_hex(4)}")
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise AssertionError(f"subscriber could not subscribe to {topic}")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Msg(message.topic, message.payload.decode(errors="replace"),
                                     bool(message.retain)))

    def on(self, topic: str, payload: str | None = None) -> list[Msg]:
        """Messages received on ``topic`` (with ``payload``, if given), oldest first."""
        with self._lock:
            return [m for m in self.messages
                    if m.topic == topic and (payload is None or m.payload == payload)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- a webhook receiver -------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server in a thread that records requests and fails the next N on request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.requests.append(Request("POST", self.path,
                                                     {k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                reply = b"ok" if status < 400 else b"nope"
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(reply)))
                if status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._statuses += [status] * n

    def received(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()
