"""Live view through CamPy's origin.

* ``GET /live/player/{file}``: go2rtc's own player modules (``video-stream.js`` and the
  ``video-rtc.js`` it imports), fetched from go2rtc on loopback and served here, so the
  browser never talks to go2rtc's API and the files are not copied into CamPy's tree.
* ``WS /live/ws?src=<stream>``: go2rtc's ``/api/ws`` signalling, proxied after checking the
  session, the camera permission and the Origin. Only stream names CamPy made are accepted,
  so a browser can never make go2rtc dial an arbitrary URL. WebRTC media then flows between
  the browser and go2rtc's WebRTC port directly (DTLS-SRTP); MSE bytes come through here.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import websockets
from litestar import Controller, Response, WebSocket, get, websocket
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest

from campy.errors import NotFound, Unavailable
from campy.web.auth import can_view_camera, current_user, require_user

log = logging.getLogger(__name__)

PLAYER_FILES = ("video-stream.js", "video-rtc.js")
_CLOSE_POLICY = 1008
_CLOSE_UNAVAILABLE = 1013


class _PlayerCache:
    """go2rtc's player files, fetched once per go2rtc version."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.lock = asyncio.Lock()


_cache = _PlayerCache()


async def _fetch_player(runtime: Any, name: str) -> bytes:
    async with _cache.lock:
        if name in _cache.files:
            return _cache.files[name]
        auth = runtime.go2rtc_auth()
        try:
            async with httpx.AsyncClient(base_url=runtime.go2rtc_api, auth=auth, timeout=5) as c:
                r = await c.get(f"/{name}")
        except httpx.HTTPError as err:
            raise Unavailable("the media server (go2rtc) is not answering; try again shortly") from err
        if r.status_code != 200:
            raise Unavailable(f"go2rtc did not serve {name} (HTTP {r.status_code})")
        _cache.files[name] = r.content
        return r.content


def _origin_ok(socket: WebSocket[Any, Any, Any]) -> bool:
    """Refuse cross-site WebSocket hijacking: the page must come from this origin."""
    origin = socket.headers.get("origin")
    if not origin:
        return True  # non-browser clients; they still need the session cookie
    host = socket.headers.get("host", "")
    return urlsplit(origin).netloc == host


class LiveController(Controller):
    path = "/live"
    guards = [require_user]

    @get("/player/{name:str}", media_type="text/javascript")
    async def player(self, request: HTMXRequest, name: FromPath[str]) -> Response[bytes]:
        if name not in PLAYER_FILES:
            raise NotFound(f"no player file {name!r}")
        body = await _fetch_player(request.app.state.runtime, name)
        return Response(body, media_type="text/javascript",
                        headers={"Cache-Control": "private, max-age=300"})

    @websocket("/ws")
    async def ws(self, socket: WebSocket[Any, Any, Any], src: FromQuery[str]) -> None:
        runtime = socket.app.state.runtime
        try:
            user = current_user(socket)
        except NotAuthorizedException:
            await socket.close(code=_CLOSE_POLICY, reason="log in first")
            return
        camera = runtime.stream_owner(src)
        if camera is None or not can_view_camera(user, camera) or not _origin_ok(socket):
            await socket.close(code=_CLOSE_POLICY, reason="not allowed")
            return
        await socket.accept()
        headers = {}
        auth = runtime.go2rtc_auth()
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        url = runtime.go2rtc_api.replace("http", "ws", 1) + f"/api/ws?src={quote(runtime.go2rtc_name(src))}"
        try:
            async with websockets.connect(url, additional_headers=headers, max_size=None,
                                          open_timeout=5, ping_interval=None) as upstream:
                await _relay(socket, upstream)
        except (TimeoutError, OSError, websockets.WebSocketException) as err:
            log.info("live %s: go2rtc websocket failed: %s", src, runtime.scrub(str(err)))
        finally:
            try:
                await socket.close(code=_CLOSE_UNAVAILABLE)
            except Exception:
                pass


async def _relay(socket: WebSocket[Any, Any, Any], upstream: Any) -> None:
    async def down() -> None:  # go2rtc → browser
        async for msg in upstream:
            if isinstance(msg, bytes):
                await socket.send_bytes(msg)
            else:
                await socket.send_text(msg)

    async def up() -> None:  # browser → go2rtc
        while True:
            msg: dict[str, Any] = dict(await socket.receive())
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("text")
            if data is not None:
                await upstream.send(data)
            elif msg.get("bytes") is not None:
                await upstream.send(msg["bytes"])

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
