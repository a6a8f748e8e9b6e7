"""``campy demo`` killed with SIGKILL leaves no process behind (simulators, go2rtc, recorders, workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from tests.helpers import REPO, free_port, wait_until


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_demo_killed_with_sigkill_leaves_no_child(tmp_path):
    data = tmp_path / "demo"
    log = open(tmp_path / "demo.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "campy", "demo", "--cameras", "1", "--port", str(free_port()),
         "--data-dir", str(data)],
        cwd=REPO, env={**os.environ, "CAMPY_ADMIN_PASSWORD": "demo-test-password"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[int, psutil.Process] = {}
    try:
        def recording() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited: {(tmp_path / 'demo.log').read_text()}")
            return any((data / "recordings").rglob("*.mp4"))

        wait_until(recording, timeout=180, interval=0.5, what="the demo camera's first segment")

        def every_role_running() -> bool:
            for k in psutil.Process(proc.pid).children(recursive=True):
                seen.setdefault(k.pid, k)
            cmds = []
            for k in seen.values():
                try:
                    cmds.append(" ".join(k.cmdline()))
                except psutil.Error:
                    pass
            return (any("-stream_loop" in c for c in cmds) and any("go2rtc" in c for c in cmds)
                    and any("-segment_time" in c or "segment" in c for c in cmds if "-stream_loop" not in c))

        wait_until(every_role_running, timeout=30, what="simulator, go2rtc and recorder processes")
        for k in psutil.Process(proc.pid).children(recursive=True):
            seen.setdefault(k.pid, k)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: not [p for p in seen.values() if _alive(p)], timeout=20,
                   what="every process the demo had started to be gone")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in seen.values():
            if _alive(p):
                p.kill()
        log.close()
