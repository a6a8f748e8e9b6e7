"""Child-process hygiene shared by every supervisor (go2rtc, recorders, exports), and the
guardian that kills whatever is left when CamPy itself is killed."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive ``sig`` when CamPy dies (Linux)."""

    def _set() -> None:  # runs in the child between fork and exec
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)

    return _set


async def terminate(proc: asyncio.subprocess.Process, *, timeout: float = 5.0,
                    sig: int = signal.SIGTERM, group: bool = True) -> None:
    """Signal ``proc`` (its process group when ``group``), wait, then SIGKILL."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        await proc.wait()


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for it to finish, whatever it raises on the way out."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


# -- the guardian: no child outlives CamPy, even after kill -9 -----------------------------
#
# PR_SET_PDEATHSIG alone leaves holes: it fires when the *thread* that forked exits (so a
# child forked from a worker thread dies early, or a child forked without it lives on), and
# grandchildren (go2rtc's on-demand ffmpeg transcoders, a worker's decoder) only get it if
# their own parent asked. The guardian is a tiny process in its own session that holds the
# read end of a pipe CamPy never writes to: when CamPy dies, however it dies, the kernel
# closes the write end, the guardian reads EOF and kills every process it saw descend from
# CamPy (polled every second) plus any process that carries CamPy's guard token in its
# environment, then exits.

GUARD_ENV = "CAMPY_GUARD_TOKEN"
_GUARD_POLL_S = 1.0
_guardian: Any = None


def start_guardian() -> int:
    """Start the guardian for this process (once); returns its pid."""
    global _guardian
    if _guardian is not None and _guardian.poll() is None:
        return int(_guardian.pid)
    # A fresh token even if one was inherited: a CamPy started by another must not share
    # (and on its death sweep up) its parent's processes.
    token = os.environ[GUARD_ENV] = secrets.token_hex(16)
    _guardian = subprocess.Popen(
        [sys.executable, "-m", "campy.procs", str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C to CamPy's group must not reach it; it cleans up after
        env={**os.environ, GUARD_ENV: token}, close_fds=True,
    )
    atexit.register(_stop_guardian)
    return int(_guardian.pid)


def _stop_guardian() -> None:
    # On a normal exit, let the guardian sweep now and wait for it, so it does not outlive
    # CamPy (whoever checks for leftovers after CamPy exits finds nothing, the guardian included).
    g = _guardian
    if g is None or g.poll() is not None:
        return
    with contextlib.suppress(Exception):
        g.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        g.wait(10)


def _proc_key(p: Any) -> tuple[int, float]:
    return (p.pid, p.create_time())


def _descendants(root: int) -> dict[tuple[int, float], Any]:
    import psutil

    try:
        kids = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return {}
    found = {}
    for k in kids:
        with contextlib.suppress(psutil.Error):
            found[_proc_key(k)] = k
    return found


def _tokened(token: str, me: int) -> dict[tuple[int, float], Any]:
    import psutil

    found = {}
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        with contextlib.suppress(psutil.Error):
            if p.environ().get(GUARD_ENV) == token:
                found[_proc_key(p)] = p
    return found


def _guard(parent: int) -> None:
    """The guardian's main: track ``parent``'s descendants until stdin closes, then kill them."""
    import select

    import psutil

    token = os.environ.get(GUARD_ENV, "")
    me = os.getpid()
    seen: dict[tuple[int, float], Any] = {}
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], _GUARD_POLL_S)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break  # EOF: CamPy is gone
        seen = {k: p for k, p in seen.items() if p.is_running()}  # forget the dead
        seen.update(_descendants(parent))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        targets = {k: p for k, p in seen.items() if k[0] != me}
        if token:
            targets.update(_tokened(token, me))
        for p in list(targets.values()):
            targets.update(_descendants(p.pid))
        alive = []
        for (pid, created), p in targets.items():
            with contextlib.suppress(psutil.Error):
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    p.kill()
                    alive.append(pid)
        if not alive:
            return
        seen = targets
        time.sleep(0.1)


if __name__ == "__main__":
    _guard(int(sys.argv[1]))
