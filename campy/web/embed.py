"""Embeds: a camera's live stream on a page of another origin (a dashboard, an intranet).

* ``POST/GET /api/cameras/{name}/embeds``, ``DELETE …/{id}`` (admins): make, list, revoke.
  Revoking closes the embed's open streams at once (``embed:<id>`` in ``runtime.revocations``).
* ``GET /embed/{id}?token=``: a full-window page with go2rtc's player, for an ``<iframe>``;
  ``Content-Security-Policy: frame-ancestors`` lists exactly the embed's origins.
* ``WS /live/embed/ws?token=``: go2rtc's ``/api/ws`` for the embed's one stream, proxied like
  the session live view. The ``Origin`` must be one of the embed's origins, or CamPy's own
  origin: that is the iframe page above, which only the listed origins may frame.
* The ``/cameras/{name}/embeds`` HTML routes back the camera page's "Embed" dialog.

An embed plays over MSE only: every byte then passes through this proxy, so a revoked or
expired embed stops at once. (With WebRTC, go2rtc's player closes the WebSocket once the
peer connection carries the media, and the media would outlive a revocation.)

None of these routes uses a session or sets a cookie; the token is the only credential.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, WebSocket, delete, get, post, websocket
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Template
from litestar.types import WebSocketResponseBodyEvent, WebSocketResponseStartEvent

from campy.db.embeds import STREAMS, EmbedError, EmbedInfo, normalize_origin
from campy.errors import BadRequest, NotFound
from campy.web.auth import current_user, require_admin
from campy.web.headers import PLAYER_STYLE_HASH
from campy.web.live import PUBLIC_OPT, proxy
from campy.web.pages import Form

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
ASSETS = {"embed.js": "text/javascript", "embed.css": "text/css"}
EXPIRY_CHOICES = {"never": None, "1d": 86_400, "30d": 30 * 86_400}
_TOKEN_REFUSED = ("this embed's token is unknown, expired or revoked; "
                  "ask a CamPy admin for a new embed snippet")


class EmbedIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /api/cameras/{name}/embeds``: origins (a list, or one per line), optional expiry
    in seconds, and the stream (``sub`` when left out and the camera has one)."""

    origins: list[str] | str
    expires_s: int | None = None
    stream: str | None = None


# -- helpers ---------------------------------------------------------------------------
def stream_name(runtime: Any, camera: str, role: str) -> str | None:
    """The go2rtc stream CamPy made for ``camera``'s ``role`` (main/sub), if any."""
    for spec in runtime.specs.values():
        if spec.camera == camera and spec.role == role:
            return str(spec.name)
    return None


def base_url(request: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> str:
    """CamPy's URL as pages on other origins must use it: ``server.public_url`` when the
    config has one, else the URL this request came in on."""
    public = getattr(request.app.state.runtime.config.server, "public_url", None)
    if public:
        return str(public).rstrip("/")
    return str(request.base_url).rstrip("/")


def snippets(base: str, info: EmbedInfo, token: str, title: str) -> dict[str, str]:
    """Ready-to-paste HTML: an ``<iframe>``, and go2rtc's player element with its module."""
    ws_base = ("wss" if base.startswith("https") else "ws") + base[base.index(":"):]
    page = html.escape(f"{base}/embed/{info.id}?token={token}")
    label = html.escape(f"{title} (CamPy live)")
    iframe = (f'<iframe src="{page}" title="{label}" width="640" height="360" style="border:0" '
              f'allow="autoplay; fullscreen" allowfullscreen></iframe>')
    ws = json.dumps(f"{ws_base}/live/embed/ws?token={token}")
    script = (
        f'<script type="module" src="{html.escape(base)}/live/player/video-stream.js"></script>\n'
        f'<video-stream id="campy-{info.id}" title="{label}" '
        f'style="display:block;max-width:640px;aspect-ratio:16/9;background:#000"></video-stream>\n'
        '<script type="module">\n'
        'customElements.whenDefined("video-stream").then(() => {\n'
        f'  const player = document.getElementById("campy-{info.id}");\n'
        '  player.mode = "mse";  // CamPy embeds play over MSE (revocable at once)\n'
        f'  player.src = {ws};\n'
        '});\n'
        '</script>')
    return {"iframe": iframe, "script": script}


def _csp(frame_ancestors: list[str], ws_base: str) -> str:
    ancestors = " ".join(frame_ancestors) or "'none'"
    # The player's own <style> by its hash, as on CamPy's pages (campy/web/headers.py).
    return (f"default-src 'none'; script-src 'self'; style-src 'self' {PLAYER_STYLE_HASH}; img-src 'self' data:; "
            f"media-src 'self' blob:; connect-src 'self' {ws_base}; base-uri 'none'; form-action 'none'; "
            f"frame-ancestors {ancestors}")


def _page_headers(frame_ancestors: list[str], request: Request[Any, Any, Any]) -> dict[str, str]:
    host = request.headers.get("host", "")
    ws_base = ("wss://" if request.url.scheme == "https" else "ws://") + host
    return {"Content-Security-Policy": _csp(frame_ancestors, ws_base), "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def origin_allowed(origin: str | None, host: str, allowed: list[str]) -> bool:
    """A browser's ``Origin`` is one of the embed's origins, or CamPy's own (the iframe page)."""
    if not origin:
        return False  # browsers always send it on a WebSocket; a page cannot suppress it
    try:
        norm = normalize_origin(origin)
    except EmbedError:
        return False
    return norm in allowed or urlsplit(origin).netloc.lower() == host.lower()


def _mse_only(data: str | bytes) -> str | None:
    """Only MSE requests reach go2rtc from an embed (no WebRTC, no backchannel audio)."""
    kind = None
    if isinstance(data, str):
        try:
            msg = json.loads(data)
        except ValueError:
            msg = None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "mse":
            return None
    if kind == "webrtc/candidate":
        return ""  # answered only by silence (one per ICE candidate)
    return json.dumps({"type": "error", "value": f"{kind or 'data'}: a CamPy embed plays over MSE only "
                                                 "(set the player's mode to \"mse\")"})


def _address(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _camera_or_404(runtime: Any, name: str) -> None:
    if name not in runtime.config.cameras:
        raise NotFound(f"no camera {name!r}")


async def create_embed(request: Request[Any, Any, Any], name: str, origins: list[str] | str,
                       stream: str | None, expires_s: int | None) -> dict[str, Any]:
    runtime = request.app.state.runtime
    _camera_or_404(runtime, name)
    user = current_user(request)
    if stream is None:
        stream = "sub" if stream_name(runtime, name, "sub") else "main"
    if stream in STREAMS and stream_name(runtime, name, stream) is None:
        raise BadRequest(f"camera {name!r} has no {stream} stream; choose "
                         f"{'main' if stream == 'sub' else 'sub'}", fields={"stream": "not configured"})
    try:
        embed_id, token = await anyio.to_thread.run_sync(functools.partial(
            runtime.embeds.create, camera=name, origins=origins, created_by=user.actor, stream=stream,
            expires_s=expires_s))
    except EmbedError as err:
        field = str(err).split(" ", 1)[0].rstrip(":")
        raise BadRequest(str(err), fields={field if field in ("stream", "expires_s") else "origins": str(err)}
                         ) from err
    info = await anyio.to_thread.run_sync(runtime.embeds.get, embed_id)
    assert info is not None
    await anyio.to_thread.run_sync(functools.partial(
        runtime.audit.record, user.actor, "embed.create", target=name, address=_address(request),
        detail=f"embed {embed_id}: {stream} stream for {', '.join(info.origins)}"
               + (f", expires in {expires_s} s" if expires_s else "")))
    title = runtime.config.cameras[name].title or name
    return {**info.as_dict(runtime.embeds.now_ms()), "token": token,
            **snippets(base_url(request), info, token, title)}


async def revoke_embed(request: Request[Any, Any, Any], name: str, embed_id: str) -> int:
    """Revoke and close the open streams; returns how many were open. 404 when not live."""
    runtime = request.app.state.runtime
    _camera_or_404(runtime, name)
    if not await anyio.to_thread.run_sync(functools.partial(runtime.embeds.revoke, embed_id, camera=name)):
        raise NotFound(f"camera {name!r} has no active embed {embed_id!r}")
    closed = runtime.revocations.revoke(f"embed:{embed_id}")
    await anyio.to_thread.run_sync(functools.partial(
        runtime.audit.record, current_user(request).actor, "embed.revoke", target=name,
        address=_address(request), detail=f"embed {embed_id}; {closed} open stream(s) closed"))
    return int(closed)


def _listing(runtime: Any, name: str) -> list[dict[str, Any]]:
    now = runtime.embeds.now_ms()
    return [e.as_dict(now) for e in runtime.embeds.list(name)]


# -- JSON API --------------------------------------------------------------------------
class EmbedApi(Controller):
    path = "/api/cameras/{name:str}/embeds"
    guards = [require_admin]

    @post("/", status_code=201)
    async def create(self, request: Request[Any, Any, Any], name: FromPath[str],
                     data: JSONBody[EmbedIn]) -> dict[str, Any]:
        return await create_embed(request, name, data.origins, data.stream, data.expires_s)

    @get("/")
    async def list_embeds(self, request: Request[Any, Any, Any], name: FromPath[str]) -> list[dict[str, Any]]:
        runtime = request.app.state.runtime
        _camera_or_404(runtime, name)
        return await anyio.to_thread.run_sync(_listing, runtime, name)

    @delete("/{embed_id:str}", status_code=204)
    async def revoke(self, request: Request[Any, Any, Any], name: FromPath[str], embed_id: FromPath[str]) -> None:
        await revoke_embed(request, name, embed_id)


# -- the camera page's dialog (HTMX partials) -------------------------------------------
def _expiry_from_form(data: dict[str, Any]) -> int | None:
    choice = str(data.get("expiry", "never"))
    if choice in EXPIRY_CHOICES:
        return EXPIRY_CHOICES[choice]
    try:
        days = float(str(data.get("expiry_days", "")).strip())
    except ValueError:
        days = 0
    if choice != "custom" or not 0 < days <= 3650:
        raise BadRequest("expiry: give a number of days between 0 and 3650", fields={"expiry": "1-3650 days"})
    return max(60, int(days * 86_400))


class EmbedPages(Controller):
    path = "/cameras/{name:str}/embeds"
    guards = [require_admin]

    async def _panel(self, request: Request[Any, Any, Any], name: str, **extra: Any) -> Template:
        runtime = request.app.state.runtime
        _camera_or_404(runtime, name)
        embeds = await anyio.to_thread.run_sync(_listing, runtime, name)
        form = {"origins": "", "stream": "sub" if stream_name(runtime, name, "sub") else "main",
                "expiry": "never", "expiry_days": ""}
        ctx = {"name": name, "embeds": embeds, "created": None, "errors": {}, "form": form,
               "main_codec": runtime.health.get(name).as_dict().get("main_codec"), **extra}
        return Template("_embeds.html", context=ctx)

    @get("/")
    async def panel(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Template:
        return await self._panel(request, name)

    @post("/", status_code=200)
    async def create_from_form(self, request: Request[Any, Any, Any], name: FromPath[str],
                               data: Form) -> Template:
        form = {k: str(data.get(k, "")) for k in ("origins", "stream", "expiry", "expiry_days")}
        try:
            created = await create_embed(request, name, form["origins"], form["stream"] or None,
                                         _expiry_from_form(data))
        except BadRequest as err:  # htmx swaps 2xx only: the form comes back with the message
            return await self._panel(request, name, errors=err.fields or {"_": err.message}, form=form)
        return await self._panel(request, name, created=created)

    @post("/{embed_id:str}/revoke", status_code=200)
    async def revoke_from_form(self, request: Request[Any, Any, Any], name: FromPath[str],
                               embed_id: FromPath[str]) -> Template:
        closed = await revoke_embed(request, name, embed_id)
        return await self._panel(request, name, revoked=embed_id, closed=closed)


# -- what the embedding page uses (public; the embed token is checked) -----------------
@get("/embed/assets/{file:str}", opt=PUBLIC_OPT, include_in_schema=False)
async def embed_asset(file: FromPath[str]) -> Response[bytes]:
    if file not in ASSETS:
        raise NotFound(f"no embed asset {file!r}")
    body = await anyio.to_thread.run_sync((STATIC / file).read_bytes)
    return Response(body, media_type=ASSETS[file],
                    headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})


@get("/embed/{embed_id:str}", opt=PUBLIC_OPT, include_in_schema=False)
async def embed_page(request: Request[Any, Any, Any], embed_id: FromPath[str],
                     token: FromQuery[str | None] = None) -> Response[Any]:
    """The iframe page: only the embed's origins may frame it; nothing else is served here."""
    runtime = request.app.state.runtime
    info = await anyio.to_thread.run_sync(runtime.embeds.verify, token)
    if info is None or info.id != embed_id:
        row = await anyio.to_thread.run_sync(runtime.embeds.get, embed_id)
        return _embed_error(request, 401, _TOKEN_REFUSED, row.origins if row else [])
    stream = stream_name(runtime, info.camera, info.stream)
    if stream is None:
        return _embed_error(request, 404, f"camera {info.camera!r} or its {info.stream} stream is no longer "
                                          "configured in CamPy", info.origins)
    title = runtime.config.cameras[info.camera].title or info.camera
    context = {"title": title, "stream": info.stream, "ws": f"/live/embed/ws?token={token}"}
    return Template("embed.html", context=context, headers=_page_headers(info.origins, request))


def _embed_error(request: Request[Any, Any, Any], status: int, message: str, origins: list[str]) -> Template:
    return Template("embed_error.html", context={"status": status, "message": message}, status_code=status,
                    headers=_page_headers(origins, request))


async def _refuse(socket: WebSocket[Any, Any, Any], status: int, message: str) -> None:
    """Refuse the upgrade with an HTTP status (401, 403, 404) when the server can send one,
    else close with 1008 (policy) and the message."""
    if "websocket.http.response" in (socket.scope.get("extensions") or {}):
        await socket.receive()  # the connect event
        body = json.dumps({"error": {"status": status, "message": message, "fields": {}}}).encode()
        start: WebSocketResponseStartEvent = {
            "type": "websocket.http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
        end: WebSocketResponseBodyEvent = {"type": "websocket.http.response.body", "body": body, "more_body": False}
        await socket.send(start)
        await socket.send(end)
        return
    await socket.close(code=1008, reason=message[:120])


@websocket("/live/embed/ws", opt=PUBLIC_OPT)
async def embed_ws(socket: WebSocket[Any, Any, Any], token: FromQuery[str | None] = None) -> None:
    runtime = socket.app.state.runtime
    info = await anyio.to_thread.run_sync(runtime.embeds.verify, token)
    if info is None:
        await _refuse(socket, 401, _TOKEN_REFUSED)
        return
    if not origin_allowed(socket.headers.get("origin"), socket.headers.get("host", ""), info.origins):
        await _refuse(socket, 403, "this page's origin is not one this embed allows; "
                                   "add it to the embed's origins (a new embed) in CamPy")
        return
    stream = stream_name(runtime, info.camera, info.stream)
    if stream is None:
        await _refuse(socket, 404, f"camera {info.camera!r} or its {info.stream} stream is no longer configured")
        return
    key = f"embed:{info.id}"
    expiry = None
    if info.expires_ms is not None:  # an embed that expires while playing stops then, as if revoked
        delay = max(0.0, (info.expires_ms - runtime.embeds.now_ms()) / 1000)
        expiry = asyncio.get_running_loop().call_later(delay, runtime.revocations.revoke, key)
    try:
        await proxy(socket, runtime, stream, [key], up_filter=_mse_only)
    finally:
        if expiry is not None:
            expiry.cancel()


ROUTES: list[Any] = [EmbedApi, EmbedPages, embed_asset, embed_page, embed_ws]
