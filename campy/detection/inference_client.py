"""The worker's side of the shared inference service (``campy.detection.inference``).

The channel is a Unix stream socket in Linux's abstract namespace (an address that starts
with ``@``: no file to clean up after a kill -9, no path-length limit; the service accepts
only peers of its own uid). Every message, both ways, is one frame::

    <u32 header length> <u32 payload length> <msgpack header> <payload bytes>

* service → worker, on connect: ``{"type": "hello", "input_size": S, "pid": …}``;
* worker → service: ``{"id": n, "w": W, "h": H, "crops": [[x1, y1, x2, y2], …], "deadline": t}``
  (``t`` on CLOCK_MONOTONIC, which all processes share; a request past it is answered
  ``{"id": n, "error": "expired"}`` without running the model) and, as
  payload, the crops' BGR pixels one after the other (each ``region_crops`` gives, cut out of
  the frame; only the crops travel, never the whole frame unless the motion covers it);
* service → worker: ``{"id": n, "dets": [[label, score, x1, y1, x2, y2], …], "ms": model ms}``
  or ``{"id": n, "error": "…"}``.

The client never blocks the worker: :meth:`InferenceClient.submit` hands a request to a
sender thread through a queue of at most ``max_in_flight`` (3) entries and says no (``None``)
when that many are unanswered or the service is not connected; replies come back on a
reader thread and are picked up with :meth:`InferenceClient.replies`. When the service
goes away every unanswered request fails at once, and the reader reconnects with a short
backoff, so objects resume by themselves once the service is back.

This module is imported by every worker, so it imports nothing heavy (no onnxruntime, no
OpenCV of its own).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from campy.detection.types import Box, Detection

_HEAD = struct.Struct("<II")
MAX_HEADER = 1 << 16
MAX_PAYLOAD = 64 << 20  # a whole 4K BGR frame is 25 MB
_RECONNECT_S = (0.2, 0.5, 1.0)


class ChannelError(Exception):
    """The inference channel broke: the peer closed it or sent a frame that makes no sense."""


def sock_address(address: str) -> str:
    """``@name`` (abstract namespace) → the address :mod:`socket` takes; paths unchanged."""
    return "\0" + address[1:] if address.startswith("@") else address


def send_msg(sock: socket.socket, header: dict[str, Any], payload: Sequence[bytes | memoryview] = ()) -> None:
    head = msgspec.msgpack.encode(header)
    size = sum(len(p) for p in payload)
    sock.sendall(_HEAD.pack(len(head), size) + head)
    for part in payload:
        sock.sendall(part)


def _read_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if not k:
            raise ChannelError("the peer closed the channel")
        got += k
    return buf


def recv_msg(sock: socket.socket) -> tuple[dict[str, Any], bytearray]:
    head_len, size = _HEAD.unpack(_read_exact(sock, _HEAD.size))
    if head_len > MAX_HEADER or size > MAX_PAYLOAD:
        raise ChannelError(f"frame too large: header {head_len} B, payload {size} B")
    try:
        header = msgspec.msgpack.decode(bytes(_read_exact(sock, head_len)))
    except msgspec.DecodeError as err:
        raise ChannelError(f"undecodable header: {err}") from err
    if not isinstance(header, dict):
        raise ChannelError("the header is not a map")
    return header, _read_exact(sock, size) if size else bytearray()


class Reply(msgspec.Struct):
    """The answer to one request: detections, or ``None`` with an error when it failed."""

    id: int
    detections: list[Detection] | None
    model_ms: float = 0.0
    round_trip_ms: float = 0.0
    error: str | None = None


class InferenceClient:
    """One worker's connection to the inference service (see the module docstring)."""

    def __init__(self, address: str, *, max_in_flight: int = 3, deadline_s: float = 2.0) -> None:
        self.address = address
        self.max_in_flight = max_in_flight
        self.deadline_s = deadline_s
        self.state = "connecting"  # connecting | ready | unavailable
        self.input_size: int | None = None
        self.service_pid: int | None = None
        self.connects = 0
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self._sent_at: dict[int, float] = {}  # unanswered request id → monotonic submit time
        self._outbox: queue.Queue[tuple[socket.socket, dict[str, Any], list[bytes]]] = queue.Queue(max_in_flight)
        self._inbox: queue.Queue[Reply] = queue.Queue()
        self._ready = threading.Event()
        self._closed = False
        threading.Thread(target=self._read_loop, name="inference-reader", daemon=True).start()
        threading.Thread(target=self._send_loop, name="inference-sender", daemon=True).start()

    # -- the worker's side ----------------------------------------------------------------
    def submit(self, frame: np.ndarray, regions: Sequence[Box]) -> int | None:
        """Queue the motion ``regions`` of ``frame`` for detection; the request id, or None
        when the service is not there or this worker already has enough unanswered."""
        from campy.detection.objects import region_crops  # OpenCV is already loaded (motion)

        with self._lock:
            sock, size = self._sock, self.input_size
            if self.state != "ready" or sock is None or size is None or len(self._sent_at) >= self.max_in_flight:
                return None
            h, w = frame.shape[:2]
            crops = region_crops(regions, w, h, size)
            self._next_id += 1
            rid = self._next_id
            parts = [np.ascontiguousarray(frame[y1:y2, x1:x2]).tobytes() for x1, y1, x2, y2 in crops]
            now = time.monotonic()
            # CLOCK_MONOTONIC is one clock for every process of the machine: the service drops a
            # request past its deadline unread, so a backlog drains instead of being worked
            # through for answers nobody waits for any more.
            header = {"id": rid, "w": w, "h": h, "crops": [list(c) for c in crops], "deadline": now + self.deadline_s}
            try:
                self._outbox.put_nowait((sock, header, parts))
            except queue.Full:
                return None
            self._sent_at[rid] = now
            return rid

    def replies(self, timeout: float = 0.0) -> list[Reply]:
        """The replies that have arrived (waiting up to ``timeout`` s for the first one)."""
        out: list[Reply] = []
        with contextlib.suppress(queue.Empty):
            out.append(self._inbox.get(timeout=timeout) if timeout > 0 else self._inbox.get_nowait())
            while True:
                out.append(self._inbox.get_nowait())
        return out

    def forget(self, rid: int) -> None:
        """Give up on request ``rid`` (its late reply, if any, is still delivered)."""
        with self._lock:
            self._sent_at.pop(rid, None)

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # -- threads --------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._closed:
            sock, header, parts = self._outbox.get()
            try:
                send_msg(sock, header, parts)
            except OSError:  # the reader sees the same break and fails what is unanswered
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _read_loop(self) -> None:
        failures = 0
        while not self._closed:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(sock_address(self.address))
                hello, _ = recv_msg(sock)
                with self._lock:
                    self.input_size = int(hello["input_size"])
                    self.service_pid = hello.get("pid")
                    self._sock, self.state = sock, "ready"
                    self.connects += 1
                self._ready.set()
                failures = 0
                while True:
                    self._deliver(*recv_msg(sock))
            except (OSError, ChannelError, KeyError, TypeError, ValueError):
                pass
            self._ready.clear()
            with self._lock:
                self._sock = None
                if not self._closed:
                    self.state = "unavailable"
                lost, self._sent_at = self._sent_at, {}
            sock.close()
            for rid in sorted(lost):
                self._inbox.put(Reply(rid, None, error="the inference service went away"))
            time.sleep(_RECONNECT_S[min(failures, len(_RECONNECT_S) - 1)])
            failures += 1

    def _deliver(self, msg: dict[str, Any], _payload: bytearray) -> None:
        rid = int(msg["id"])
        with self._lock:
            sent = self._sent_at.pop(rid, None)
        rtt = (time.monotonic() - sent) * 1000.0 if sent is not None else 0.0
        if "error" in msg:
            self._inbox.put(Reply(rid, None, round_trip_ms=rtt, error=str(msg["error"])))
            return
        dets = [Detection(str(d[0]), float(d[1]), (int(d[2]), int(d[3]), int(d[4]), int(d[5]))) for d in msg["dets"]]
        self._inbox.put(Reply(rid, dets, model_ms=float(msg.get("ms", 0.0)), round_trip_ms=rtt))
