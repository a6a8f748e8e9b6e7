"""The guardian kills what a SIGKILLed CamPy leaves behind, and leaves nothing on a normal exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil

from tests.helpers import REPO, wait_until

# A stand-in for CamPy: starts the guardian, then a child that would outlive it (no
# PDEATHSIG, its own session: exactly what a grandchild of go2rtc looks like), a thread-forked
# child, and prints their pids.
_PARENT = r"""
import subprocess, sys, threading, time
from campy.procs import start_guardian
g = start_guardian()
a = subprocess.Popen(["sleep", "1000"], start_new_session=True)
box = []
t = threading.Thread(target=lambda: box.append(subprocess.Popen(["sleep", "1000"], start_new_session=True)))
t.start(); t.join()
print(g, a.pid, box[0].pid, flush=True)
if sys.argv[1] == "exit":
    a.kill(); box[0].kill(); a.wait(); box[0].wait()
    sys.exit(0)
time.sleep(1000)
"""


def _gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def _start(mode: str) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, mode], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    pids = [int(x) for x in proc.stdout.readline().split()]
    assert len(pids) == 3, pids
    return proc, pids


def test_guardian_kills_orphans_of_a_sigkilled_parent():
    proc, pids = _start("wait")
    try:
        # The children carry the guard token (inherited), so the guardian finds them even if
        # the parent dies before its first poll.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_until(lambda: _gone(pids), timeout=15, what="the orphans and the guardian to be gone")
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_guardian_exits_with_its_parent_on_a_normal_exit():
    proc, pids = _start("exit")
    assert proc.wait(20) == 0
    # atexit waited for the guardian: nothing is left once the parent has exited.
    assert _gone(pids)
