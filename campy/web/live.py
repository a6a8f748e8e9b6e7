"""Live view through CamPy's origin.

* ``GET /live/player/{file}``: go2rtc's own player modules (``video-stream.js`` and the
  ``video-rtc.js`` it imports), fetched from go2rtc on loopback and served here, so the
  browser never talks to go2rtc's API and the files are not copied into CamPy's tree.
  Public and cacheable: static code without secrets, loaded by embedding pages too.
* ``WS /live/ws?src=<stream>``: go2rtc's ``/api/ws`` signalling, proxied after checking the
  session, the camera permission and the Origin. Only stream names CamPy made are accepted,
  so a browser can never make go2rtc dial an arbitrary URL. WebRTC media then flows between
  the browser and go2rtc's WebRTC port directly (DTLS-SRTP); MSE bytes come through here.
  So that revoking access stops WebRTC media too, each session live view plays its own
  go2rtc stream (campy/web/viewers.py); MSE-only callers (embeds) play the camera stream.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import websockets
from litestar import Controller, Response, WebSocket, get, websocket
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest

from campy.errors import NotFound, Unavailable
from campy.go2rtc.client import Go2rtcError
from campy.web.auth import can_view_camera, current_user, require_user
from campy.web.revoke import keys_for

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


# Public, cookie-free routes: no session lookup, no CSRF cookie, no auth (see auth.PUBLIC_PATHS).
PUBLIC_OPT = {"exclude_from_auth": True, "skip_session": True, "exclude_from_csrf": True}


@get("/live/player/{file:str}", media_type="text/javascript", opt=PUBLIC_OPT, include_in_schema=False)
async def player(request: HTMXRequest, file: FromPath[str]) -> Response[bytes]:
    """go2rtc's player code: public (it holds no secret; embedding pages on other origins load
    it as a module, hence CORS) and cacheable (it changes only with go2rtc's version)."""
    if file not in PLAYER_FILES:  # (not {name}: that would make camera_guard ask for a session)
        raise NotFound(f"no player file {file!r}; the player is video-stream.js")
    body = await _fetch_player(request.app.state.runtime, file)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "public, max-age=3600", "ETag": etag,
               "Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin",
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(body, media_type="text/javascript", headers=headers)


class LiveController(Controller):
    path = "/live"
    guards = [require_user]

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
        await proxy(socket, runtime, src, keys_for(user))


async def proxy(socket: WebSocket[Any, Any, Any], runtime: Any, src: str, keys: list[str], *,
                up_filter: Callable[[str | bytes], str | None] | None = None) -> None:
    """Accept ``socket`` and relay it to go2rtc's ``/api/ws`` for stream ``src`` until either
    side closes or one of ``keys`` is revoked (then close with 1008). Used by the session
    live view and by embeds; the caller has checked who may watch ``src``."""
    await socket.accept()
    headers = {}
    auth = runtime.go2rtc_auth()
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    # go2rtc knows the stream by its secret per-start name (campy.streams.StreamNames).
    name = runtime.go2rtc_name(src)
    viewer = None
    viewers = getattr(runtime, "viewers", None)
    if up_filter is None and viewers is not None and viewers.running:
        # A player that may switch to WebRTC watches its own go2rtc stream, so that
        # revoking its access can stop the media too (campy/web/viewers.py).
        try:
            viewer = await viewers.open(src, name, keys)
        except Go2rtcError as err:
            log.info("live %s: no viewer stream: %s", src, runtime.scrub(str(err)))
            await socket.close(code=_CLOSE_UNAVAILABLE, reason="media server unavailable")
            return
        name = viewer.name
    url = runtime.go2rtc_api.replace("http", "ws", 1) + f"/api/ws?src={quote(name)}"
    try:
        with runtime.revocations.watch(keys) as revoked:
            async with websockets.connect(url, additional_headers=headers, max_size=None,
                                          open_timeout=5, ping_interval=None) as upstream:
                await relay(socket, upstream, revoked, up_filter=up_filter)
            if revoked.is_set():
                await socket.close(code=_CLOSE_POLICY, reason="access revoked")
                return
    except (TimeoutError, OSError, websockets.WebSocketException) as err:
        log.info("live %s: go2rtc websocket failed: %s", src, runtime.scrub(str(err)))
    finally:
        if viewer is not None and viewers is not None:
            viewers.socket_closed(viewer)
        try:
            await socket.close(code=_CLOSE_UNAVAILABLE)
        except Exception:
            pass


async def relay(socket: WebSocket[Any, Any, Any], upstream: Any, revoked: asyncio.Event, *,
                up_filter: Callable[[str | bytes], str | None] | None = None) -> None:
    """Copy messages both ways until either side closes or access is revoked. ``up_filter``
    vets each browser message: None passes it to go2rtc, "" drops it, any other string is
    sent back to the browser instead."""
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
            if data is None:
                data = msg.get("bytes")
            if data is None:
                continue
            refusal = up_filter(data) if up_filter is not None else None
            if refusal is None:
                await upstream.send(data)
            elif refusal:
                await socket.send_text(refusal)

    tasks = [asyncio.create_task(down()), asyncio.create_task(up()), asyncio.create_task(revoked.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
