"""One simulated camera for the simulator's own tests."""

from __future__ import annotations

import pytest

PASSWORD = "sim-Pass!1"


@pytest.fixture(scope="module")
def cam():
    from campy.sim.camera import SimCamera

    c = SimCamera("simtest", username="admin", password=PASSWORD, main_codec="h265")
    handle = c.run_in_thread()
    try:
        yield c
    finally:
        c.set_fault("none")
        handle.stop()


def with_creds(url: str, password: str = PASSWORD) -> str:
    from urllib.parse import quote

    return url.replace("rtsp://", f"rtsp://admin:{quote(password, safe='')}@", 1)
