"""Supervising the go2rtc binary: start, readiness, watchdog, log capture, clean stop.

go2rtc runs as ``go2rtc -c /dev/null -c <generated config>``. go2rtc writes stream changes
made through its API back into its *first* config file; /dev/null makes those write-backs
vanish, so a camera URL pushed through the API (with its password resolved) never lands on
disk. The child gets its own process group and dies with CamPy (PR_SET_PDEATHSIG), so no
go2rtc outlives CamPy.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx

from campy.go2rtc.confgen import api_env
from campy.go2rtc.const import GO2RTC_VERSION
from campy.procs import die_with_parent
from campy.streams import scrub

log = logging.getLogger(__name__)
go2rtc_log = logging.getLogger("campy.go2rtc.log")

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
           "warn": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL}


_STREAM_RE = re.compile(r"\bstream=(\S+)")


def format_log_line(raw: str) -> tuple[int, str]:
    """go2rtc's JSON log line → (logging level, readable text)."""
    try:
        rec = json.loads(raw)
    except ValueError:
        return logging.INFO, raw
    if not isinstance(rec, dict):
        return logging.INFO, raw
    level = _LEVELS.get(str(rec.pop("level", "info")), logging.INFO)
    rec.pop("time", None)
    msg = str(rec.pop("message", ""))
    extra = " ".join(f"{k}={v}" for k, v in rec.items())
    return level, f"{msg} {extra}".strip()


class Go2rtcServer:
    """One supervised go2rtc process."""

    def __init__(self, *, binary: Path, config_path: Path, api_url: str, auth: tuple[str, str],
                 env: Mapping[str, str], secrets: Callable[[], list[str]] | None = None,
                 on_ready: Callable[[], Awaitable[None]] | None = None,
                 backoff: tuple[float, ...] = (0.2, 1, 2, 5, 10), ready_timeout: float = 15.0,
                 strict_version: bool = False,
                 camera_of: Callable[[str], str | None] | None = None) -> None:
        self.binary = binary
        self._camera_of = camera_of  # go2rtc stream name → camera, to tag its log lines
        self.config_path = config_path
        self.api_url = api_url.rstrip("/")
        self.auth = auth
        self.env = env  # read at every (re)start: callers may update it in place
        self._secrets = secrets or list
        self.on_ready = on_ready
        self.backoff = backoff
        self.ready_timeout = ready_timeout
        self.strict_version = strict_version
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.last_error = ""
        self.version = ""
        self._log_lines: collections.deque[str] = collections.deque(maxlen=500)
        self._stopping = False
        self._watchdog: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None

    # -- state ---------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def recent_log(self) -> list[str]:
        return list(self._log_lines)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets() + [self.auth[1]])

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        """Start go2rtc and wait until its API answers; then supervise it.

        A go2rtc that fails to come up does not stop CamPy: the error is logged and kept in
        ``last_error`` (the UI shows it) and the watchdog keeps retrying with backoff.
        """
        self._stopping = False
        try:
            await self._spawn()
            await self._wait_ready()
            if self.on_ready:
                await self.on_ready()
        except Exception as err:
            self.last_error = self._scrub(str(err))
            log.error("go2rtc did not start: %s", self.last_error)
            if self.running and self.proc is not None:
                self.proc.kill()
        self._watchdog = asyncio.create_task(self._watch(), name="go2rtc-watchdog")

    async def _spawn(self) -> None:
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
        env.update(self.env)
        env.update(api_env(*self.auth))
        self.proc = await asyncio.create_subprocess_exec(
            str(self.binary), "-c", "/dev/null", "-c", str(self.config_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=env, start_new_session=True, preexec_fn=die_with_parent(),
        )
        log.info("go2rtc started (pid %s)", self.proc.pid)
        self._reader = asyncio.create_task(self._read_log(self.proc), name="go2rtc-log")

    async def _read_log(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                return
            level, text = format_log_line(raw.decode(errors="replace").rstrip())
            m = _STREAM_RE.search(text) if self._camera_of else None
            camera = self._camera_of(m.group(1)) if m and self._camera_of else None
            text = self._scrub(text)
            self._log_lines.append(text)
            go2rtc_log.log(level, "%s", text, extra={"camera": camera} if camera else None)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        async with httpx.AsyncClient(auth=self.auth, timeout=2) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"go2rtc exited at start (code {self.proc.returncode if self.proc else '?'}): "
                                       + " | ".join(self.recent_log()[-5:]))
                try:
                    r = await http.get(self.api_url + "/api")
                    if r.status_code == 200:
                        self.version = str(r.json().get("version", ""))
                        if not self.version.startswith(GO2RTC_VERSION):
                            msg = f"go2rtc reports version {self.version}, CamPy expects {GO2RTC_VERSION}"
                            if self.strict_version:
                                raise RuntimeError(msg)
                            log.warning("%s", msg)
                        return
                    last = f"HTTP {r.status_code}"
                except httpx.HTTPError as err:
                    last = type(err).__name__
                await asyncio.sleep(0.05)
        raise RuntimeError(f"go2rtc did not answer on {self.api_url} within {self.ready_timeout}s ({last})")

    async def _watch(self) -> None:
        attempt = 0
        while not self._stopping:
            started = time.monotonic()
            code = await self.proc.wait() if self.proc is not None else None
            if self._stopping:
                return
            if time.monotonic() - started > 60:
                attempt = 0
            if code is not None or not self.last_error:
                self.last_error = f"go2rtc exited with code {code}"
            delay = self.backoff[min(attempt, len(self.backoff) - 1)]
            attempt += 1
            log.warning("%s; restarting in %.1fs", self.last_error, delay)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._spawn()
                await self._wait_ready()
                self.restarts += 1
                if self.on_ready:
                    await self.on_ready()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.last_error = self._scrub(str(err))
                log.error("go2rtc restart failed: %s", self.last_error)
                if self.running and self.proc is not None:
                    self.proc.kill()

    async def stop(self, *, timeout: float = 5.0) -> None:
        """SIGTERM, wait ``timeout`` s, then SIGKILL; the watchdog stops first."""
        self._stopping = True
        if self._watchdog:
            self._watchdog.cancel()
            try:
                await self._watchdog
            except (asyncio.CancelledError, Exception):
                pass
        proc = self.proc
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # go2rtc and any ffmpeg it started
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                log.warning("go2rtc ignored SIGTERM; killing it")
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
        if self._reader:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        log.info("go2rtc stopped")
