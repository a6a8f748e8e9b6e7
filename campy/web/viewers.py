"""Per-viewer go2rtc streams, so that one viewer's WebRTC picture can be stopped.

Once WebRTC plays, go2rtc's player closes its WebSocket and the media flows between the
browser and go2rtc's WebRTC port; CamPy no longer sees it. go2rtc has no API to close one
consumer, and ``DELETE /api/streams`` only drops the stream from go2rtc's map: its producers
and a playing WebRTC consumer carry on (go2rtc 1.9.14, verified in Chromium).

So each session live view gets its own go2rtc stream, ``<secret name>__v<token>``, whose
source is go2rtc's RTSP restream of the camera stream dialled through a small TCP relay in
CamPy: ``rtsp://127.0.0.1:<relay>/<secret name>?viewer=<token>``. Ending a viewer closes
its relay connections and forgets its token, so that stream's producer loses its input for
good (go2rtc's reconnects are refused) and the viewer's WebRTC peer gets no more media. The
camera stream, its recorders, workers and every other viewer are untouched.

Viewer streams are removed when their WebSocket is closed and go2rtc lists no consumer
for them for ``grace`` seconds (a reaper polls ``/api/streams`` while any exist), when
their user's access is revoked (``runtime.revocations``), and at stop. The reconciler
leaves the current run's viewer streams alone and removes those of earlier runs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from campy.go2rtc.client import Go2rtcError

log = logging.getLogger(__name__)

MARK = "__v"  # between the camera stream's secret name and the viewer token
TOKEN_KEY = "viewer"
_FIRST_LINE_TIMEOUT = 10.0
_CHUNK = 256 * 1024


@dataclass(eq=False)
class Viewer:
    token: str
    stream: str  # CamPy's public stream name (logs only say this)
    name: str  # the viewer stream's go2rtc name: secret
    source: str  # the camera stream's go2rtc name, the only path its relay serves
    keys: list[str]
    sockets: int = 0
    idle_since: float | None = None
    conns: set[asyncio.StreamWriter] = field(default_factory=set)
    guard: asyncio.Task[None] | None = None
    ended: bool = False
    added_at: float = 0.0  # time.monotonic() once go2rtc has the stream


class Viewers:
    """The live view's per-viewer streams and the relay that feeds them."""

    def __init__(self, client: Any, revocations: Any, *, upstream: Callable[[], tuple[str, int]],
                 auth: Callable[[], str] = lambda: "", bind: str = "127.0.0.1",
                 dial_host: str = "127.0.0.1", grace: float = 10.0, interval: float = 3.0,
                 snapshot: Callable[[], tuple[float, dict[str, Any]] | None] = lambda: None,
                 wanted: Callable[[str], bool] = lambda stream: True) -> None:
        self._client = client
        self._revocations = revocations
        self._upstream = upstream  # go2rtc's RTSP server (host, port)
        self._auth = auth  # "user:pass@" when go2rtc's RTSP server checks credentials
        self._bind = bind
        self._dial_host = dial_host  # how go2rtc reaches the relay
        self.grace = grace
        self.interval = interval
        self._snapshot = snapshot  # the health monitor's last /api/streams, (time.monotonic(), streams)
        self._wanted = wanted  # is this public stream still configured?
        self._by_token: dict[str, Viewer] = {}
        # Recent tokens, ended ones included: go2rtc logs the relay URL when a revoked
        # viewer's input drops, after the viewer is gone; the log scrubber masks these.
        self._recent: collections.deque[str] = collections.deque(maxlen=256)
        self._server: asyncio.Server | None = None
        self._port = 0
        self._wake = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._bind, 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for v in list(self._by_token.values()):
            await self.end(v, "CamPy stopping")
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def count(self) -> int:
        return len(self._by_token)

    def recent_tokens(self) -> list[str]:
        return list(self._recent)

    def owns(self, go2rtc_name: str) -> bool:
        """A viewer stream of this run (the reconciler must leave it alone)."""
        _, sep, token = go2rtc_name.rpartition(MARK)  # tokens are hex: no "__v" inside
        v = self._by_token.get(token) if sep else None
        return v is not None and v.name == go2rtc_name

    # -- viewers ---------------------------------------------------------------------
    async def open(self, stream: str, go2rtc_name: str, keys: list[str]) -> Viewer:
        """A new viewer stream fed from ``go2rtc_name``; raises ``Go2rtcError``."""
        token = secrets.token_hex(16)
        self._recent.append(token)
        v = Viewer(token=token, stream=stream, name=f"{go2rtc_name}{MARK}{token}", source=go2rtc_name,
                   keys=keys, sockets=1)
        self._by_token[token] = v  # before the PUT: a reconcile must not remove it
        source = f"rtsp://{self._auth()}{self._dial_host}:{self._port}/{go2rtc_name}?{TOKEN_KEY}={token}"
        try:
            await self._client.put_stream(v.name, [source])
        except Go2rtcError:
            self._by_token.pop(token, None)
            raise
        v.added_at = time.monotonic()
        v.guard = asyncio.create_task(self._watch(v), name="viewer-revocation")
        self._wake.set()
        return v

    def socket_closed(self, v: Viewer) -> None:
        """The viewer's WebSocket is gone; the reaper decides from go2rtc's consumers."""
        v.sockets = max(0, v.sockets - 1)
        v.idle_since = None

    async def _watch(self, v: Viewer) -> None:
        with self._revocations.watch(v.keys) as revoked:
            await revoked.wait()
        await self.end(v, "access revoked")

    async def end(self, v: Viewer, why: str) -> None:
        if v.ended:
            return
        v.ended = True
        self._by_token.pop(v.token, None)
        if v.guard is not None and v.guard is not asyncio.current_task():
            v.guard.cancel()
        for w in list(v.conns):
            w.close()
        v.conns.clear()
        try:
            await self._client.delete_stream(v.name)
        except Go2rtcError as err:
            log.debug("viewer stream of %s: delete failed: %s", v.stream, err.status)
        log.info("live view of %s ended: %s", v.stream, why)

    # -- reaper ----------------------------------------------------------------------
    async def reap_once(self, now: float | None = None) -> int:
        """End viewers without a WebSocket whom go2rtc lists no consumer for since ``grace``."""
        if not self._by_token:
            return 0
        now = time.monotonic() if now is None else now
        current = await self._streams()
        if current is None:
            return 0
        ended = 0
        for v in list(self._by_token.values()):
            if not self._wanted(v.stream):  # its camera was removed or disabled
                await self.end(v, "stream no longer configured")
                ended += 1
                continue
            stream = current.get(v.name)
            watched = bool(stream is not None and stream.consumers)
            if v.sockets or watched:
                v.idle_since = None
                continue
            if stream is None:  # go2rtc restarted (or someone removed it): nothing to keep
                await self.end(v, "gone from go2rtc")
                ended += 1
            elif v.idle_since is None:
                v.idle_since = now
            elif now - v.idle_since >= self.grace:
                await self.end(v, "no consumers")
                ended += 1
        return ended

    async def _streams(self) -> dict[str, Any] | None:
        """go2rtc's streams: the health monitor's last answer when it is recent and newer
        than every viewer stream (else one might look missing), otherwise asked now."""
        snap = self._snapshot()
        if snap is not None:
            at, streams = snap
            newest = max((v.added_at for v in self._by_token.values()), default=0.0)
            if at > newest and time.monotonic() - at <= self.interval:
                return streams
        try:
            return dict(await self._client.streams())
        except Go2rtcError:
            return None

    async def run(self) -> None:
        while True:
            if not self._by_token:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(self.interval)
            try:
                await self.reap_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("viewer stream reaper failed")

    # -- relay -----------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One RTSP connection of a viewer stream's producer: checked by its first request
        line's token, then copied both ways to go2rtc's RTSP server."""
        up_writer: asyncio.StreamWriter | None = None
        v: Viewer | None = None
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), _FIRST_LINE_TIMEOUT)
            path, token = _target_of(line)
            v = self._by_token.get(token)
            if v is None or v.ended or path != "/" + v.source:
                return
            host, port = self._upstream()
            up_reader, up_writer = await asyncio.open_connection(host, port)
            v.conns.update((writer, up_writer))
            up_writer.write(line)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
                    if v is not None:
                        v.conns.discard(w)


def _target_of(line: bytes) -> tuple[str, str]:
    """(path, viewer token) of an RTSP request line ``METHOD rtsp://…/path?viewer=T RTSP/1.0``."""
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3:
        return "", ""
    url = urlsplit(parts[1])
    values = parse_qs(url.query).get(TOKEN_KEY) or [""]
    return url.path, values[0]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
