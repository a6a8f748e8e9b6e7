"""The shared inference service under a real CamPy (go2rtc, simulated cameras, the YOLOX-Nano
CamPy ships, used because the config names no model): one service serves both cameras'
workers, which load no onnxruntime; the walker camera's person becomes a real `person` event
with a snapshot; a kill -9 of the service is restarted by the manager while the workers run
on; a kill -9 of a worker leaves the service alone."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.helpers import CampyProcess, free_port, wait_until, write_config

PASSWORD = "infer-pw-1"


@pytest.fixture(scope="module")
def campy(tmp_path_factory):
    from campy.sim.camera import SimCamera

    d = tmp_path_factory.mktemp("infer")
    with contextlib.ExitStack() as stack:
        cams = {"walk": SimCamera("walk", password=PASSWORD, main_codec="h264", sub_scene="walker"),
                "quiet": SimCamera("quiet", password=PASSWORD, main_codec="h264", sub_scene="still")}
        for cam in cams.values():
            stack.callback(cam.run_in_thread().stop)
        port = free_port()
        # No detection section: the shipped model is the default.
        cfg = write_config(d / "campy.yaml", [
            {"name": n, "main": c.main_url, "sub": c.sub_url, "username": "admin", "password": "!secret sim_password",
             "detect": {"fps": 5}, "record": {"enabled": False}} for n, c in cams.items()],
            port=port, password_secret=PASSWORD)
        proc = CampyProcess(cfg, port)
        try:
            yield proc
        finally:
            left = proc.stop()
            assert not left, f"processes left behind: {left}"


def _workers(campy: CampyProcess) -> dict[str, int]:
    """Camera → its worker's pid (found through the ffmpeg child reading ``<camera>_sub``)."""
    out = {}
    for p in psutil.Process(campy.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "campy.detection.worker" in " ".join(p.cmdline()):
                for kid in p.children():
                    for name in ("walk", "quiet"):
                        if f"/{name}_sub" in " ".join(kid.cmdline()):
                            out[name] = p.pid
    return out


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_the_walker_is_a_person_to_the_shipped_model(campy):
    c = campy.client()
    ev = wait_until(lambda: next((e for e in c.get("/api/events", params={"camera": "walk"}).json()
                                  if e["label"] == "person"), None), timeout=120, what="a person event")
    assert ev["score"] >= 0.5, ev
    snap = c.get(ev["snapshot_url"])
    assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
    assert not c.get("/api/events", params={"camera": "quiet"}).json(), "nobody walks the quiet street"


def test_one_service_serves_every_worker_and_survives_kills(campy):
    c = campy.client()

    def status():
        return c.get("/api/detection/status").json()

    def service():
        return c.get("/api/detection/service").json()

    wait_until(lambda: service()["state"] == "ready" and service()["clients"] == 2
               and all(s["objects_state"] == "ready" for s in status().values())
               and status()["walk"]["inferences"] > 0, timeout=120, what="both workers using the service")
    svc = service()
    assert svc["mode"] == "shared" and svc["restarts"] == 0 and svc["input_size"] == 416 and svc["inference_ms"]
    workers = wait_until(lambda: w if len(w := _workers(campy)) == 2 else None, timeout=30, what="worker pids")
    for pid in workers.values():  # the model lives in the service only
        assert "onnxruntime" not in _maps(pid)
    assert "onnxruntime" in _maps(svc["pid"])

    # kill -9 the service: the manager starts a new one, the workers reconnect and go on.
    before = status()
    os.kill(svc["pid"], signal.SIGKILL)
    wait_until(lambda: (s := service())["restarts"] == 1 and s["state"] == "ready" and s["pid"] != svc["pid"],
               timeout=60, what="the inference service restarted")
    wait_until(lambda: all(s["service_connects"] >= 2 and s["objects_state"] == "ready" for s in status().values())
               and status()["walk"]["inferences"] > before["walk"]["inferences"],
               timeout=60, what="the workers back on the new service, objects resumed")
    after = status()
    assert _workers(campy) == workers and all(s["restarts"] == 0 for s in after.values())
    wait_until(lambda: status()["walk"]["last_motion_ms"] > before["walk"]["last_motion_ms"], timeout=30,
               what="motion still reported")

    # kill -9 a worker: it is restarted; the service does not notice beyond a reconnect.
    svc = service()
    os.kill(workers["quiet"], signal.SIGKILL)
    wait_until(lambda: (s := status()["quiet"])["restarts"] == 1 and s["state"] == "running"
               and s["objects_state"] == "ready", timeout=60, what="the quiet worker restarted and connected")
    wait_until(lambda: service()["clients"] == 2, timeout=30, what="two clients again")
    now = service()
    assert (now["pid"], now["restarts"], now["state"]) == (svc["pid"], 1, "ready")
    assert status()["walk"]["restarts"] == 0
