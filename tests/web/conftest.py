"""Fixtures for the web tests: simulated cameras and a real CamPy process around them."""

from __future__ import annotations

import contextlib

import pytest

from tests.helpers import CampyProcess, free_port, write_config

CAM_PASSWORD = "s3cret-Cam!pw"


@contextlib.contextmanager
def sim_camera(name: str, **options):
    """A simulated camera (user admin, CAM_PASSWORD) on its own thread, stopped on exit."""
    from campy.sim.camera import SimCamera

    cam = SimCamera(name, username="admin", password=CAM_PASSWORD, **options)
    handle = cam.run_in_thread()
    try:
        yield cam
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def sims():
    """Two simulated RLC-810A cameras: `front` (main H.265, the default) and `back` (main H.264)."""
    from campy.sim.camera import SimCamera

    cams = {
        "front": SimCamera("front", username="admin", password=CAM_PASSWORD, main_codec="h265"),
        "back": SimCamera("back", username="admin", password=CAM_PASSWORD, main_codec="h264"),
    }
    handles = [c.run_in_thread() for c in cams.values()]
    try:
        yield cams
    finally:
        for h in handles:
            h.stop()


def camera_entries(sims) -> list[dict]:
    return [
        {"name": name, "title": f"The {name} camera", "main": cam.main_url, "sub": cam.sub_url,
         "username": "admin", "password": "!secret sim_password"}
        for name, cam in sims.items()
    ]


def serve_sims(sims, tmp_path_factory, name: str, *, recording: dict | None = None,
               server_extra: tuple[str, ...] = (), cameras: list[dict] | None = None):
    """A generator for module fixtures: `campy serve` with the simulated cameras (or the
    given camera entries); it checks that no child process outlives CamPy."""
    d = tmp_path_factory.mktemp(name)
    port = free_port()
    cams = camera_entries(sims) if cameras is None else cameras
    cfg = write_config(d / "campy.yaml", cams, port=port, password_secret=CAM_PASSWORD,
                       recording=recording, server_extra=server_extra)
    proc = CampyProcess(cfg, port)
    try:
        yield proc
    finally:
        left = proc.stop()
        assert not left, f"processes left behind after CamPy stopped: {left}"


@pytest.fixture(scope="module")
def campy(sims, tmp_path_factory):
    """A real `campy serve` process with the two simulated cameras configured."""
    yield from serve_sims(sims, tmp_path_factory, "campy")


@pytest.fixture(scope="module")
def viewer(campy):
    """A viewer account in this module's CamPy (made with `campy user add`)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CAMPY_USER_PASSWORD": "viewer-password-1"}
    subprocess.run([sys.executable, "-m", "campy", "user", "add", "vera", "--role", "viewer",
                    "--config", str(campy.config)], check=True, env=env, capture_output=True)
    return campy.client("vera", "viewer-password-1")
