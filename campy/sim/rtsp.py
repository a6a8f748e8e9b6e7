"""The simulated camera's RTSP server (and, behind TLS, its RTSPS variant).

Paths, auth and SDP follow the RLC-810A: ``/Preview_01_main``, ``/Preview_01_sub``,
``/h264Preview_01_sub`` and ``/h26XPreview_01_main`` matching the main codec (the other
codec's path answers 404); Digest auth with realm "BC Streaming Media" and no qop; RTP over
interleaved TCP only (461 for UDP). Faults let tests break it on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from campy.sim import digest
from campy.sim.sdp import reolink_sdp
from campy.sim.source import MediaSource

log = logging.getLogger(__name__)

SERVER = "Rtsp Server/3.0"
PUBLIC = "OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER"
_MAX_BUFFER = 4 * 1024 * 1024  # a session this far behind drops packets, not the others


@dataclass
class Faults:
    stall: bool = False
    refuse: bool = False
    reject_credentials: bool = False


@dataclass
class _Session:
    id: str
    writer: asyncio.StreamWriter
    channels: dict[int, int] = field(default_factory=dict)  # track index → RTP channel
    source: MediaSource | None = None
    dropped: int = 0

    def sink(self, track: int, rtcp: bool, data: bytes) -> None:
        if track not in self.channels or self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > _MAX_BUFFER:
            self.dropped += 1
            return
        ch = self.channels[track] + (1 if rtcp else 0)
        self.writer.write(b"$" + bytes([ch]) + len(data).to_bytes(2, "big") + data)


class RtspServer:
    def __init__(self, *, username: str, password: str, sources: Callable[[str], MediaSource | None],
                 host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> None:
        self.username, self.password = username, password
        self.sources = sources  # path → MediaSource or None (404)
        self.host = host
        self.ssl_context = ssl_context
        self.port = 0
        self.faults = Faults()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._nonces: set[str] = set()
        self._session_seq = 0
        self.connections_total = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, port or self.port,
                                                  ssl=self.ssl_context, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def drop_all(self) -> None:
        """Fault "drop": close every connection now (clients see the socket close)."""
        for w in list(self._writers):
            # abort, not close: close() waits to flush what is buffered, and a camera that
            # drops off the network does not flush anything.
            w.transport.abort()
        self._writers.clear()

    async def set_refuse(self, refuse: bool) -> None:
        """Fault "refuse": stop listening, so new connections are refused; and back."""
        self.faults.refuse = refuse
        if refuse and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            self.drop_all()
        elif not refuse and self._server is None:
            await self.start(self.port)

    # -- protocol --------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        if self.faults.refuse:
            # Accepted just before the listener closed, but this task started only after
            # drop_all() ran: without this it would be the one connection that survives the
            # fault and keeps streaming (a "refusing" camera that still sends video).
            writer.transport.abort()
            return
        self._writers.add(writer)
        session: _Session | None = None
        try:
            while True:
                first = await reader.readexactly(1)
                if first == b"$":  # interleaved RTCP from the client: read and ignore
                    hdr = await reader.readexactly(3)
                    await reader.readexactly(int.from_bytes(hdr[1:3], "big"))
                    continue
                head = first + await reader.readuntil(b"\r\n\r\n")
                lines = head.decode(errors="replace").split("\r\n")
                method, url, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                if int(headers.get("content-length", "0") or 0):
                    await reader.readexactly(int(headers["content-length"]))
                session = await self._respond(method.upper(), url, headers, writer, session)
                await writer.drain()
                if method.upper() == "TEARDOWN":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            if session and session.source:
                session.source.sinks.discard(session.sink)
            self._writers.discard(writer)
            writer.close()

    def _reply(self, writer: asyncio.StreamWriter, code: int, reason: str, cseq: str,
               extra: dict[str, str] | None = None, body: str = "") -> None:
        lines = [f"RTSP/1.0 {code} {reason}", f"CSeq: {cseq}", f"Server: {SERVER}"]
        for k, v in (extra or {}).items():
            lines.append(f"{k}: {v}")
        data = body.encode()
        if data:
            lines.append(f"Content-Length: {len(data)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)

    def _authorised(self, method: str, headers: dict[str, str]) -> bool:
        if self.faults.reject_credentials:
            return False
        return digest.verify(headers.get("authorization"), method=method, username=self.username,
                             password=self.password, nonces=self._nonces)

    async def _respond(self, method: str, url: str, headers: dict[str, str],
                       writer: asyncio.StreamWriter, session: _Session | None) -> _Session | None:
        cseq = headers.get("cseq", "0")
        if method == "OPTIONS":
            self._reply(writer, 200, "OK", cseq, {"Public": PUBLIC})
            return session
        if not self._authorised(method, headers):
            nonce = digest.new_nonce()
            self._nonces.add(nonce)
            self._reply(writer, 401, "Unauthorized", cseq, {"WWW-Authenticate": digest.challenge(nonce)})
            return session
        path = urlsplit(url).path
        base_path, _, control = path.rstrip("/").rpartition("/")
        if control.startswith("track"):
            path = base_path
        source = self.sources(path.rstrip("/"))
        if method in ("DESCRIBE", "SETUP", "PLAY") and source is None:
            self._reply(writer, 404, "Stream Not Found", cseq)
            return session
        if method == "DESCRIBE":
            assert source is not None
            sdp = reolink_sdp(await source.ensure_started(), host=self.host)
            base = url if url.endswith("/") else url + "/"
            self._reply(writer, 200, "OK", cseq, {"Content-Type": "application/sdp",
                                                  "Content-Base": base}, sdp)
        elif method == "SETUP":
            transport = headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport.upper() or "interleaved=" not in transport:
                self._reply(writer, 461, "Unsupported Transport", cseq)
                return session
            track = int(control[5:]) - 1 if control.startswith("track") and control[5:].isdigit() else 0
            channel = int(transport.split("interleaved=")[1].split("-")[0].split(";")[0])
            if session is None:
                self._session_seq += 1
                session = _Session(id=f"{0x1000 + self._session_seq:08X}", writer=writer)
            session.channels[track] = channel
            session.source = source
            self._reply(writer, 200, "OK", cseq, {
                "Transport": f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}",
                "Session": f"{session.id};timeout=60"})
        elif method == "PLAY":
            if session is None or session.source is None:
                self._reply(writer, 455, "Method Not Valid in This State", cseq)
                return session
            self._reply(writer, 200, "OK", cseq, {"Session": session.id, "Range": "npt=0.000-"})
            await writer.drain()
            session.source.sinks.add(session.sink)
        elif method in ("GET_PARAMETER", "SET_PARAMETER", "PAUSE"):
            self._reply(writer, 200, "OK", cseq, {"Session": session.id} if session else None)
        elif method == "TEARDOWN":
            self._reply(writer, 200, "OK", cseq)
        else:
            self._reply(writer, 405, "Method Not Allowed", cseq, {"Allow": PUBLIC})
        return session

