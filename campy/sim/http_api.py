"""A minimal Reolink HTTP API (``/cgi-bin/api.cgi``) and the simulator's side channel.

Commands: Login (token lease, session cap → -5, bad password → -7), Logout, GetDevInfo,
Snap (JPEG). JSON answers come as ``text/html``, as the camera sends them. ``/__sim__/…``
lets tests set faults (loopback only, no auth: it is test equipment).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEV_INFO = {
    "B485": 0, "IOInputNum": 0, "IOOutputNum": 0, "audioNum": 1, "buildDay": "build 23062505",
    "cfgVer": "v3.1.0.0", "channelNum": 1, "detail": "IPC_56064M8MP", "diskNum": 1,
    "exactType": "IPC", "firmVer": "v3.1.0.2368_23062505", "frameworkVer": 1,
    "hardVer": "IPC_56064M8MP", "model": "RLC-810A", "pakSuffix": "pak", "serial": "00000000000000",
    "type": "IPC", "wifi": 0,
}


def _err(cmd: str, code: int, detail: str) -> dict[str, Any]:
    return {"cmd": cmd, "code": 1, "error": {"rspCode": code, "detail": detail}}


class ReolinkApi:
    def __init__(self, *, name: str, username: str, password: str, snapshot: Callable[[], bytes],
                 control: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]],
                 lease_s: int = 3600, max_sessions: int = 8, host: str = "127.0.0.1") -> None:
        self.name, self.username, self.password = name, username, password
        self.snapshot, self.control = snapshot, control
        self.lease_s, self.max_sessions = lease_s, max_sessions
        self.host = host
        self.port = 0
        self.tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self.snap_fails = False
        self._server: asyncio.base_events.Server | None = None

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- HTTP plumbing -----------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode(errors="replace").split("\r\n")
            method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = b""
            if int(headers.get("content-length", "0") or 0):
                body = await reader.readexactly(int(headers["content-length"]))
            status, ctype, payload = await self._route(method.upper(), target, body)
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                         "Connection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, target: str, body: bytes) -> tuple[str, str, bytes]:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/__sim__/"):
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return "400 Bad Request", "application/json", b'{"error":"bad json"}'
            result = await self.control(parts.path[len("/__sim__/"):], data)
            return "200 OK", "application/json", json.dumps(result).encode()
        if parts.path not in ("/cgi-bin/api.cgi", "/api.cgi"):
            return "404 Not Found", "text/html", b"<html>404</html>"
        cmd = query.get("cmd", "")
        if cmd == "Snap":
            if not self._authorised(query):
                return self._json([_err("Snap", -6, "please login first")])
            if self.snap_fails:
                return self._json([_err("Snap", -48, "snap failed")])
            return "200 OK", "image/jpeg", self.snapshot()
        try:
            items = json.loads(body) if body else [{"cmd": cmd, "param": {}}]
            if not isinstance(items, list):
                raise ValueError
        except ValueError:
            return self._json([_err(cmd, -4, "param error")])
        if len(items) > 35:
            return self._json([_err(cmd, -16, "send failed")])
        return self._json([self._command(item, query) for item in items])

    @staticmethod
    def _json(items: list[dict[str, Any]]) -> tuple[str, str, bytes]:
        return "200 OK", "text/html", json.dumps(items).encode()

    # -- commands -----------------------------------------------------------------------
    def _expire(self) -> None:
        now = time.monotonic()
        for t in [t for t, exp in self.tokens.items() if exp <= now]:
            del self.tokens[t]

    def _authorised(self, query: dict[str, str]) -> bool:
        self._expire()
        if query.get("token") in self.tokens:
            return True
        return query.get("user") == self.username and query.get("password") == self.password

    def _command(self, item: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        cmd = str(item.get("cmd", query.get("cmd", "")))
        if cmd == "Login":
            user = ((item.get("param") or {}).get("User") or {})
            if user.get("userName") != self.username or user.get("password") != self.password:
                return _err(cmd, -7, "login failed")
            self._expire()
            if len(self.tokens) >= self.max_sessions:
                return _err(cmd, -5, "max session")
            token = secrets.token_hex(8)[:15]
            self.tokens[token] = time.monotonic() + self.lease_s
            return {"cmd": cmd, "code": 0, "value": {"Token": {"leaseTime": self.lease_s, "name": token}}}
        if not self._authorised(query):
            return _err(cmd, -6, "please login first")
        if cmd == "Logout":
            self.tokens.pop(query.get("token", ""), None)
            return {"cmd": cmd, "code": 0, "value": {"rspCode": 200}}
        if cmd == "GetDevInfo":
            return {"cmd": cmd, "code": 0, "value": {"DevInfo": {**DEV_INFO, "name": self.name}}}
        return _err(cmd, -9, "not support")
