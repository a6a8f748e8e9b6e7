"""go2rtc supervised by CamPy: hardened config, lifecycle, secrets, reconcile."""

from __future__ import annotations

import os
import signal
import time

import httpx
import jsonschema
import psutil
import pytest

from campy.go2rtc import Go2rtcError
from tests.go2rtc.conftest import FAKE_SECRET, dead_spec
from tests.helpers import wait_until


def test_generated_config_is_valid_against_the_binary_own_schema(g2r):
    schema = httpx.get(g2r.api + "/schema.json", auth=g2r.auth, timeout=5).json()
    jsonschema.validate(g2r.config(base={"webrtc": {"candidates": ["192.0.2.10:8555"],
                                                   "ice_servers": []}}), schema)
    text = g2r.config_path.read_text()
    assert text.startswith("# managed by CamPy")
    assert FAKE_SECRET not in text and g2r.auth[1] not in text, "a secret was written to disk"
    assert (g2r.config_path.stat().st_mode & 0o777) == 0o600


def test_api_and_rtsp_listen_on_loopback_only(g2r):
    proc = psutil.Process(g2r.server.pid)
    listening = {c.laddr for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
    by_port = {a.port: a.ip for a in listening}
    assert by_port[g2r.api_port] == "127.0.0.1"
    assert by_port[g2r.rtsp_port] == "127.0.0.1"
    assert g2r.webrtc_port in by_port  # the media port is the one that faces browsers


def test_api_requires_credentials_even_from_loopback_and_is_allow_listed(g2r):
    assert httpx.get(g2r.api + "/api", timeout=5).status_code == 401
    assert httpx.get(g2r.api + "/api", auth=g2r.auth, timeout=5).status_code == 200
    for path in ("/api/config", "/api/exit", "/api/restart", "/api/log", "/onvif/"):
        r = httpx.get(g2r.api + path, auth=g2r.auth, timeout=5)
        assert r.status_code == 404, f"{path} answered {r.status_code}"
    with pytest.raises(Go2rtcError) as err:
        g2r.call(g2r.client.put_stream("evil", ["exec:/bin/sh -c id"]))
    assert err.value.status == 400
    # the player modules CamPy serves to its pages are reachable
    assert httpx.get(g2r.api + "/video-stream.js", auth=g2r.auth, timeout=5).status_code == 200


def test_kill_9_restarts_go2rtc_with_its_streams(g2r):
    old = g2r.server.pid
    assert g2r.ready_calls == 1
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    wait_until(lambda: g2r.server.pid != old and g2r.server.running and g2r.ready_calls == 2,
               timeout=10, what="go2rtc restarted")
    streams = g2r.call(g2r.client.streams())
    print(f"restarted in {time.monotonic() - t0:.2f}s")
    assert {"alpha", "beta"} <= set(streams)
    assert g2r.server.restarts == 1


def test_stop_leaves_no_process(tmp_path):
    from tests.go2rtc.conftest import G2R

    g = G2R(tmp_path, {"alpha": dead_spec("alpha")})
    pid = g.server.pid
    g.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_secrets_are_masked_in_logs_errors_and_stream_listing(g2r):
    # Make go2rtc dial the (dead) camera so it logs the URL.
    with pytest.raises(Go2rtcError) as err:
        g2r.call(g2r.client.probe("alpha", timeout=8))
    assert FAKE_SECRET not in str(err.value)
    listing = httpx.get(g2r.api + "/api/streams", auth=g2r.auth, timeout=5).text
    assert FAKE_SECRET not in listing and "127.0.0.1" in listing
    wait_until(lambda: g2r.server.recent_log(), timeout=5, what="log lines")
    assert all(FAKE_SECRET not in line and g2r.auth[1] not in line for line in g2r.server.recent_log())


def test_api_stream_changes_never_reach_a_file(g2r):
    spec = dead_spec("gamma")
    g2r.call(g2r.client.put_stream("gamma", spec.resolved()))
    assert "gamma" in g2r.call(g2r.client.streams())
    for path in g2r.tmp.rglob("*"):
        if path.is_file():
            assert FAKE_SECRET not in path.read_text(errors="replace"), path
    info = httpx.get(g2r.api + "/api", auth=g2r.auth, timeout=5).json()
    assert info.get("config_path") == "/dev/null"
    assert os.path.getsize("/dev/null") == 0


def test_reconcile_touches_only_the_difference_and_never_restarts(g2r):
    pid = g2r.server.pid
    first = g2r.call(g2r.reconciler.reconcile(g2r.specs))
    assert not first.touched and not first.errors  # go2rtc loaded them from the file
    g2r.specs["gamma"] = dead_spec("gamma")                      # add
    g2r.specs["beta"] = dead_spec("beta")                        # change (new port)
    del g2r.specs["alpha"]                                       # remove
    result = g2r.call(g2r.reconciler.reconcile(g2r.specs))
    assert (result.added, result.changed, result.removed) == (["gamma"], ["beta"], ["alpha"])
    assert set(g2r.call(g2r.client.streams())) == {"beta", "gamma"}
    again = g2r.call(g2r.reconciler.reconcile(g2r.specs))
    assert not again.touched
    assert g2r.server.pid == pid


def test_preloads_follow_sub_streams_and_are_retried(g2r):
    from campy.sim.camera import SimCamera
    from campy.streams import StreamSpec

    cam = SimCamera("pre", password="pw-pre")
    handle = cam.run_in_thread()
    try:
        url = cam.sub_url.replace("rtsp://", "rtsp://admin:pw-pre@")
        g2r.specs["pre_sub"] = StreamSpec("pre_sub", "pre", "sub", (url,))
        cam.set_fault("refuse")
        result = g2r.call(g2r.reconciler.reconcile(g2r.specs))
        assert "preload pre_sub" in result.errors  # camera down: go2rtc refuses the preload
        assert "pw-pre" not in str(result.errors)
        cam.set_fault("none")
        # The next passes retry it (CamPy's loop runs one every 10 s; a loaded machine may
        # need more than one while the camera's session starts).
        wait_until(lambda: not g2r.call(g2r.reconciler.reconcile(g2r.specs)).errors, timeout=40, interval=1,
                   what="a reconcile pass without errors once the camera is back")
        assert "pre_sub" in g2r.call(g2r.client.preloads())
        wait_until(lambda: g2r.call(g2r.client.stream("pre_sub")).producers[0].bytes_recv > 0,
                   timeout=10, what="preloaded stream receiving")
        del g2r.specs["pre_sub"]
        g2r.call(g2r.reconciler.reconcile(g2r.specs))
        assert "pre_sub" not in g2r.call(g2r.client.preloads())
    finally:
        handle.stop()



def test_a_go2rtc_that_cannot_start_is_retried_without_crashing(tmp_path):
    """go2rtc's API port is taken: start() returns with the error recorded instead of
    raising, the watchdog keeps retrying, and once the port is free go2rtc runs."""
    import socket

    from tests.go2rtc.conftest import G2R

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    g = G2R(tmp_path, {"alpha": dead_spec("alpha")}, api_port=blocker.getsockname()[1], ready_timeout=2)
    try:
        assert g.server.last_error and g.ready_calls == 0
        blocker.close()
        wait_until(lambda: g.ready_calls == 1, timeout=30, what="go2rtc up after the port was freed")
        assert "alpha" in g.call(g.client.streams())
    finally:
        blocker.close()
        g.stop()
