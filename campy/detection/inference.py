"""The shared inference service: one process per CamPy (``python -m campy.detection.inference``).

It loads the object detector once and serves every camera's worker over a Unix socket (the
protocol is in :mod:`campy.detection.inference_client`). It reads its settings as one JSON
line on stdin — ``{"address": "@…", "detector": {DetectorConfig fields}, "slots": n}`` —
and reports on stdout, one JSON object per line:

    {"type": "status", "state": "loading"|"ready"|"error", "pid": …, "input_size": …,
     "slots": …, "clients": …, "requests": …, "expired": …, "inference_ms": …, "error": …}

Why a thread per connection and ``slots`` inference threads at most: the detector keeps no
state (``ObjectDetector.detect_crops``) and onnxruntime runs one session from several threads
at once, releasing the GIL, so ``slots`` (the number of cores) requests run side by side on
one loaded model, as the old per-camera workers did on their own copies. The queue stays
bounded without a queue of its own: each worker has at most three requests unanswered
(``InferenceClient.max_in_flight``), and an unread request waits in its socket, not here.
Under overload a request may wait past its deadline (the worker gave up on it after 2 s):
it is then answered "expired" without running the model, so the service spends its time on
frames someone still waits for, and throughput stays at capacity instead of collapsing.
The YOLOX-Nano model takes a batch of exactly one image (its input is ``[1, 3, 416, 416]``),
so requests are not stacked into batches: running them side by side is what uses the cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import struct
import sys
import threading
import time
from collections import deque
from typing import Any

import msgspec
import numpy as np

from campy.detection.inference_client import ChannelError, recv_msg, send_msg, sock_address

STATUS_EVERY_S = 2.0


class ServiceSettings(msgspec.Struct, frozen=True):
    address: str
    detector: dict[str, Any]
    slots: int = 0  # 0 = one per core


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Service:
    def __init__(self, detector: Any, slots: int) -> None:
        self.detector = detector
        self.slots = threading.BoundedSemaphore(slots)
        self.n_slots = slots
        self.clients = 0
        self.requests = 0
        self.expired = 0
        self.model_ms: deque[float] = deque(maxlen=200)
        self._lock = threading.Lock()

    def serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.clients += 1
        try:
            send_msg(conn, {"type": "hello", "input_size": self.detector.input_size, "pid": os.getpid()})
            while True:
                header, payload = recv_msg(conn)
                send_msg(conn, self._answer(header, payload))
        except (OSError, ChannelError):
            pass
        finally:
            with self._lock:
                self.clients -= 1
            conn.close()

    def _answer(self, header: dict[str, Any], payload: bytearray) -> dict[str, Any]:
        rid = header.get("id")
        try:
            w, h = int(header["w"]), int(header["h"])
            crops = []
            at = 0
            for c in header["crops"]:
                x1, y1, x2, y2 = (int(v) for v in c)
                if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
                    raise ValueError(f"crop {c} is not inside a {w}×{h} frame")
                n = (x2 - x1) * (y2 - y1) * 3
                if at + n > len(payload):
                    raise ValueError("the payload is shorter than the crops")
                img = np.frombuffer(payload, np.uint8, n, at).reshape(y2 - y1, x2 - x1, 3)
                crops.append(((x1, y1, x2, y2), img))
                at += n
            if at != len(payload):
                raise ValueError("the payload is longer than the crops")
        except (KeyError, TypeError, ValueError) as err:
            return {"id": rid, "error": f"bad request: {err}"}
        deadline = header.get("deadline")
        with self.slots:
            if isinstance(deadline, float | int) and time.monotonic() > deadline:
                with self._lock:
                    self.expired += 1
                return {"id": rid, "error": "expired"}  # its worker has given up on it already
            dets, ms = self.detector.detect_crops(crops, w, h)
        with self._lock:
            self.requests += 1
            self.model_ms.append(ms)
        return {"id": rid, "ms": round(ms, 3), "dets": [[d.label, d.score, *d.box] for d in dets]}

    def status(self) -> dict[str, Any]:
        with self._lock:
            ms = statistics.median(self.model_ms) if self.model_ms else None
            return {"type": "status", "state": "ready", "pid": os.getpid(), "input_size": self.detector.input_size,
                    "slots": self.n_slots, "clients": self.clients, "requests": self.requests,
                    "expired": self.expired,
                    "inference_ms": round(ms, 2) if ms is not None else None, "error": None}


def _same_user(conn: socket.socket) -> bool:
    """Only processes of CamPy's own user may use the service (an abstract socket has no
    file permissions to keep others out)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def run(s: ServiceSettings) -> int:
    from campy.detection.objects import DetectorConfig, ModelError, load_detector

    emit({"type": "status", "state": "loading", "pid": os.getpid()})
    try:
        detector = load_detector(msgspec.convert(s.detector, DetectorConfig))
    except (ModelError, msgspec.ValidationError) as err:
        emit({"type": "status", "state": "error", "pid": os.getpid(), "error": str(err)[:500]})
        return 2
    service = Service(detector, s.slots or os.cpu_count() or 1)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_address(s.address))
    listener.listen(64)

    def report() -> None:
        while True:
            emit(service.status())
            time.sleep(STATUS_EVERY_S)

    threading.Thread(target=report, name="status", daemon=True).start()
    while True:
        conn, _ = listener.accept()
        if not _same_user(conn):
            conn.close()
            continue
        threading.Thread(target=service.serve, args=(conn,), name="client", daemon=True).start()


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    line = sys.stdin.readline()
    try:
        settings = msgspec.json.decode(line.encode(), type=ServiceSettings)
    except msgspec.DecodeError as err:
        emit({"type": "status", "state": "error", "error": f"bad service settings: {err}"})
        return 2
    try:
        return run(settings)
    except Exception as err:  # the manager restarts us; say why first
        with contextlib.suppress(Exception):
            emit({"type": "status", "state": "error", "error": f"{type(err).__name__}: {err}"[:500]})
        raise


if __name__ == "__main__":
    sys.exit(main())
