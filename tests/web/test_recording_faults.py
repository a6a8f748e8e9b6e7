"""Recording under hard faults, each with its own CamPy: kill -9 of CamPy, an unwritable
storage path, and a small filesystem that fills up."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import CampyProcess, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries
from tests.web.test_recording import max_gap, segments, wait_segments


def _start(tmp_path: Path, sims, *, cams=("back",), recording=None) -> CampyProcess:
    entries = [e for e in camera_entries(sims) if e["name"] in cams]
    port = free_port()
    cfg = write_config(tmp_path / "campy.yaml", entries, port=port, password_secret=CAM_PASSWORD,
                       recording={"segment_seconds": 2, "min_free": "null", **(recording or {})})
    return CampyProcess(cfg, port)


def _check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "campy", "check", "--config", str(config), "--deep"],
                          capture_output=True, text=True)


def test_campy_killed_mid_write_recovers_at_start(sims, tmp_path):
    campy = _start(tmp_path, sims)
    try:
        c = campy.client()
        before = wait_segments(c, "back", 3)
        time.sleep(1.0)  # mid-segment
        killed_at = int(time.time() * 1000)
        campy.proc.send_signal(signal.SIGKILL)
        campy.proc.wait(timeout=10)
    finally:
        campy.stop()
    incoming = campy.data_file("recordings") / "back" / ".incoming"
    wait_until(lambda: any(incoming.glob("*.mp4")), timeout=5, what="the open segment left behind")

    again = CampyProcess(campy.config, campy.port)
    try:
        c = again.client()
        wait_until(lambda: "salvaged" in again.log(), timeout=30, what="startup recovery salvaging the open segment")
        after = segments(c, "back", start=before[0]["start_ms"], end=killed_at + 500)
        # Everything indexed before the crash is still there, and the open segment was kept
        # up to its last fragment: no gap of a whole segment around the crash.
        assert {s["id"] for s in before} <= {s["id"] for s in after}
        assert max_gap(after) <= 1500, after
        assert after[-1]["end_ms"] >= killed_at - 2000
        wait_segments(c, "back", 2, after_ms=killed_at + 1)
        res = _check(again.config)
        assert res.returncode == 0, res.stdout + res.stderr
    finally:
        left = again.stop()
        assert not left, left


def test_unwritable_storage_is_reported_and_the_rest_runs(sims, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    campy = _start(tmp_path, sims, recording={"path": str(blocker / "recordings")})
    try:
        c = campy.client()
        status = wait_until(lambda: (s := c.get("/api/storage").json())["error"] and s, timeout=20,
                            what="a storage error")
        assert "not writable" in status["error"] and str(blocker) in status["error"]
        back = wait_until(lambda: next((x for x in c.get("/api/storage").json()["cameras"]
                                        if x["camera"] == "back" and x["recorder"]["state"] == "error"), None),
                          timeout=20, what="recorder in error state")
        assert "not writable" in back["recorder"]["error"]
        page = c.get("/storage")
        assert page.status_code == 200 and "not writable" in page.text
        # Live view and the API keep working.
        assert c.get("/api/cameras/back").status_code == 200
        wait_until(lambda: "back" in campy.go2rtc_streams(), timeout=20, what="go2rtc stream for back")
        assert c.get("/").status_code == 200
    finally:
        left = campy.stop()
        assert not left, left


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        return False
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return res.returncode == 0


def test_full_disk_retention_frees_space_and_recording_goes_on(sims, tmp_path):
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "40m"):
        pytest.skip("needs permission to mount a small tmpfs (root); the size cap is tested in "
                    "tests/recording/test_manager.py")
    campy = None
    try:
        # The 4K H.264 camera writes ~1 MB/s; 40 MB with a 16 MB floor fills in ~25 s.
        campy = _start(tmp_path, sims, recording={"path": str(small / "recordings"), "min_free": "16MB"})
        c = campy.client()
        first = wait_segments(c, "back", 1)[0]
        status = wait_until(lambda: (s := c.get("/api/storage").json())["last_retention"] and
                            s["last_retention"]["reason"] == "disk pressure" and s, timeout=90,
                            what="a retention pass under disk pressure")
        assert status["last_retention"]["deleted"] > 0
        assert any("disk pressure" in w for w in status["warnings"])
        page = c.get("/storage")
        assert "disk pressure" in page.text
        t = int(time.time() * 1000)
        time.sleep(12)
        # Recording went on through it, and the floor holds (give or take one segment).
        fresh = segments(c, "back", start=t, end=int(time.time() * 1000))
        assert len(fresh) >= 3 and max_gap(fresh) <= 1500, fresh
        free = shutil.disk_usage(small).free
        assert free >= 16_000_000 - 6_000_000, free
        # Oldest first: the very first segment went.
        assert c.get(first["url"]).status_code == 404
        assert segments(c, "back", start=t - 3_600_000, end=t)[0]["start_ms"] > first["start_ms"]
        res = _check(campy.config)
        assert res.returncode == 0, res.stdout + res.stderr
    finally:
        if campy is not None:
            left = campy.stop()
            assert not left, left
        subprocess.run(["umount", "-l", str(small)], capture_output=True)
