"""The shared inference service and a worker's pipeline talking to it over its socket: a
kill -9 of the service leaves motion running and objects come back with a new service;
bad requests get an error and break nothing; the worker never loads onnxruntime."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from campy.detection import worker
from campy.detection.inference_client import recv_msg, send_msg, sock_address
from campy.detection.worker import Pipeline
from tests.detection.conftest import InferenceService
from tests.detection.test_pipeline import _settings, _walk_through
from tests.helpers import wait_until


T0 = 1_800_000_000_000


@pytest.fixture
def emitted(monkeypatch):
    out: list[dict] = []
    monkeypatch.setattr(worker, "emit", lambda obj: out.append(json.loads(json.dumps(obj))))
    return out


def _starts(emitted: list[dict]) -> list[dict]:
    return [m for m in emitted if m["type"] == "event" and m["kind"] == "start"]


def test_a_killed_service_leaves_motion_running_and_objects_resume(tmp_path, real_model, person_photo, emitted):
    svc = InferenceService(real_model)
    pipe = Pipeline(_settings(tmp_path, inference=svc.address), wait_s=30)
    try:
        assert pipe.client is not None and pipe.client.wait_ready(30)
        _walk_through(pipe, person_photo, T0)
        assert len(_starts(emitted)) == 1 and pipe.objects_state == "ready"
        looked = pipe.inferences

        os.kill(svc.proc.pid, signal.SIGKILL)
        svc.proc.wait()
        wait_until(lambda: pipe.client.state == "unavailable", timeout=10, what="the worker to see the service gone")
        emitted.clear()
        _walk_through(pipe, person_photo, T0 + 60_000)
        motion = [m["state"] for m in emitted if m["type"] == "motion"]
        assert motion[:1] == ["start"]  # motion goes on without the model
        assert pipe.last_motion_ms is not None and pipe.last_motion_ms > T0 + 60_000
        assert not _starts(emitted) and pipe.inferences == looked and pipe.skipped > 0
        status = pipe.status("running")
        assert status["objects_state"] == "unavailable" and status["objects"] is True

        svc = InferenceService(real_model, address=svc.address)  # what the manager's restart does
        assert pipe.client.wait_ready(30), "the worker did not reconnect"
        emitted.clear()
        _walk_through(pipe, person_photo, T0 + 120_000)
        assert len(_starts(emitted)) == 1 and pipe.inferences > looked
        assert pipe.status("running")["objects_state"] == "ready" and pipe.client.connects == 2
    finally:
        pipe.close()
        svc.stop()


def _connect(address: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock_address(address))
    hello, _ = recv_msg(s)
    assert hello["type"] == "hello" and hello["input_size"] == 416
    return s


def test_bad_requests_get_an_error_and_break_nothing(inference_service):
    s = _connect(inference_service.address)
    try:
        send_msg(s, {"id": 1, "w": 640, "h": 360, "crops": [[600, 300, 700, 400]]}, [b"\0" * (100 * 100 * 3)])
        reply, _ = recv_msg(s)
        assert reply["id"] == 1 and "not inside" in reply["error"]
        send_msg(s, {"id": 2, "w": 640, "h": 360, "crops": [[0, 0, 10, 10]]}, [b"\0" * 5])
        reply, _ = recv_msg(s)
        assert reply["id"] == 2 and "shorter" in reply["error"]
        send_msg(s, {"id": 3, "w": 640, "h": 360, "crops": [[0, 0, 416, 360]]}, [b"\x72" * (416 * 360 * 3)])
        reply, _ = recv_msg(s)
        assert reply["id"] == 3 and reply["dets"] == [] and reply["ms"] > 0
        # A request its worker has already given up on is not worked on.
        send_msg(s, {"id": 4, "w": 640, "h": 360, "crops": [[0, 0, 416, 360]], "deadline": time.monotonic() - 0.1},
                 [b"\x72" * (416 * 360 * 3)])
        reply, _ = recv_msg(s)
        assert reply == {"id": 4, "error": "expired"}
        s.sendall(b"\xff" * 8)  # a frame of 4 GiB: the service hangs up on this client only
        assert s.recv(1) == b""
    finally:
        s.close()
    other = _connect(inference_service.address)
    other.close()
    assert inference_service.proc.poll() is None


def test_a_worker_with_the_shared_service_loads_no_onnxruntime(tmp_path, inference_service):
    code = f"""
import json, sys
import numpy as np
from campy.detection.worker import Pipeline, WorkerSettings
s = WorkerSettings(camera="c", url="rtsp://unused", width=640, height=360, fps=5,
                   snapshot_dir={str(tmp_path)!r}, inference={inference_service.address!r})
p = Pipeline(s, wait_s=30)
assert p.client.wait_ready(30)
for i in range(12):
    f = np.full((360, 640, 3), 90, np.uint8)
    if i >= 10:
        f[100:200, 100 + 50 * i:200 + 50 * i] = 250
    p.process(f, 1_800_000_000_000 + i * 200)
print(json.dumps({{"ort": "onnxruntime" in sys.modules, "looked": p.inferences}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"ort": False, "looked": got["looked"]} and got["looked"] >= 1

