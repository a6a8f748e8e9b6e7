"""HTML pages: login, camera grid, camera page, camera forms. HTMX gets partials."""

from __future__ import annotations

import json
import os

import anyio
import anyio.to_thread
import msgspec
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Template

from campy.localtime import of_runtime
from campy.errors import CampyError, NotFound
from campy.web import onboard
from campy.web.auditing import audit
from campy.web.auth import current_user, granted, require_admin, require_user, start_new_session
from campy.web.throttle import (
    DEVICE_COOKIE,
    DEVICE_COOKIE_MAX_AGE_S,
    MAX_LOGIN_BODY_BYTES,
    MAX_PASSWORD_BYTES,
    MAX_USERNAME_CHARS,
)
from campy.web.cameras import (
    CameraIn,
    camera_view,
    create_camera,
    delete_camera,
    form_to_camera,
    update_camera,
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


_argon2: anyio.CapacityLimiter | None = None


def argon2_limiter() -> anyio.CapacityLimiter:
    """The threads that may hash passwords at once (one per core), made in the loop."""
    global _argon2
    if _argon2 is None:
        _argon2 = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))
    return _argon2


def _safe_next(value: str | None) -> str:
    """Only same-site paths: never redirect a user to another host after login."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def _login_error(nxt: str, status: int, message: str) -> Template:
    return Template("login.html", status_code=status, context={"next": nxt, "error": message})


def _login_too_large(request: Request[Any, Any, Any], exc: RequestEntityTooLarge) -> Template:
    return _login_error("/", 413, f"the login form is too large (at most {MAX_LOGIN_BODY_BYTES // 1024} KiB); "
                        "enter a shorter username and password")


class AuthController(Controller):
    @get("/login", sync_to_thread=False)
    def login_page(self, next: FromQuery[str | None] = None) -> Template:
        return Template("login.html", context={"next": _safe_next(next), "error": None})

    @post("/login", status_code=303, request_max_body_size=MAX_LOGIN_BODY_BYTES,
          exception_handlers={RequestEntityTooLarge: _login_too_large})
    async def login(self, request: Request[Any, Any, Any]) -> Any:
        runtime = request.app.state.runtime
        data = await request.form()
        username = str(data.get("username", ""))
        password = str(data.get("password", ""))
        nxt = _safe_next(str(data.get("next", "/")))
        # Sizes first: nothing oversized reaches the throttle's memory or argon2.
        if len(username) > MAX_USERNAME_CHARS:
            return _login_error(nxt, 400, f"the username is too long (at most {MAX_USERNAME_CHARS} characters)")
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            return _login_error(nxt, 400, f"the password is too long (at most {MAX_PASSWORD_BYTES} bytes)")
        client = request.client.host if request.client else "?"
        device = runtime.device_cookies.device_for(request.cookies.get(DEVICE_COOKIE), username)
        # Reserved before hashing: parallel guesses count while argon2 runs.
        attempt = await runtime.login_limiter.acquire(client, username, device)
        if isinstance(attempt, int):
            await audit(request, "login_throttled", actor=username[:64] or "-", ok=False)
            return _login_error(nxt, 429, f"too many failed logins; try again in {attempt} s")
        user = None
        try:
            # argon2 takes tens of ms of CPU: keep it off the event loop.
            # One hash per core at a time: argon2id takes 64 MiB per hash, so 64 parallel
            # logins on the default 40-thread pool peaked at 2.3 GB RSS (bench/auth_bench.py).
            user = await anyio.to_thread.run_sync(runtime.users.authenticate, username, password,
                                                  limiter=argon2_limiter())
        finally:
            await runtime.login_limiter.settle(attempt, ok=user is not None)
        if user is None:
            await audit(request, "login_failed", actor=username[:64] or "-", ok=False)
            return _login_error(nxt, 401, "wrong username or password")
        old = start_new_session(request, {"user_id": user.id})
        if old:
            await runtime.sessions.delete(old)
        await audit(request, "login", actor=user.username)
        response = Redirect(nxt, status_code=303)
        response.set_cookie(DEVICE_COOKIE, runtime.device_cookies.issue(user.username),
                            max_age=DEVICE_COOKIE_MAX_AGE_S, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/login")
        return response

    @post("/logout", status_code=303, guards=[require_user])
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        await audit(request, "logout")
        request.clear_session()
        return Redirect("/login", status_code=303)


def _since_text(lt: Any, ms: int, now_ms: int) -> str:
    """When a state began, in CamPy's time zone (server.timezone): "14:02" today, else "3 Mar 14:02"."""
    if lt.day_of(ms) == lt.day_of(now_ms):
        return str(lt.format(ms, "%H:%M"))
    at = lt.dt(ms)
    return f"{at.day} {lt.format(ms, '%b %H:%M')}"


def _tile_view(runtime: Any, name: str, *, admin: bool) -> dict[str, Any]:
    """camera_view plus when the camera entered its current state (for "offline since 14:02")."""
    view = camera_view(runtime, name, admin=admin)
    since_ms = runtime.health.get(name).since_ms
    view["since_ms"] = since_ms
    view["since"] = _since_text(of_runtime(runtime), since_ms, runtime.clock.now_ms()) if since_ms else ""
    view["simulated"] = name in runtime.store.readonly  # not in campy.yaml: shown, never changed
    return view


def _player_config(runtime: Any) -> str:
    # Goes into a <script>: escape "<" so no value can close the script element.
    return json.dumps({"iceServers": runtime.webrtc_ice_servers()}).replace("<", "\\u003c")


class PageController(Controller):
    guards = [require_user]

    @get("/", sync_to_thread=False)
    def grid(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        user = current_user(request)
        cams = [_tile_view(runtime, n, admin=user.is_admin) for n in granted(user, runtime.config.cameras)]
        return Template("grid.html", context={"cameras": cams, "player_config": _player_config(runtime)})

    @get("/cameras/new", guards=[require_admin], sync_to_thread=False)
    def new_camera(self) -> Template:
        return Template("camera_form.html", context={"mode": "add", "cam": CameraIn(detect=True), "errors": {},
                                                     "onboard": onboard.Onboard(), **onboard.choices()})

    @post("/cameras", guards=[require_admin], status_code=200)
    async def add_camera(self, request: HTMXRequest, data: Form) -> Any:
        runtime = request.app.state.runtime
        cam = form_to_camera(data)
        try:
            await create_camera(runtime, cam, request=request)
        except CampyError as err:
            return _form_error(request, "add", cam, err, onboard.Onboard.from_form(data))
        return _go(request, f"/cameras/{cam.name}")

    @post("/cameras/new/fill", guards=[require_admin], status_code=200)
    async def fill_camera(self, data: Form) -> Template:
        """htmx: the stream fields, filled from the brand's known paths (and GetDevInfo)."""
        context = await onboard.fill(data)
        return Template("_camera_urls.html", context={"mode": "add", **context})

    @post("/cameras/new/test", guards=[require_admin], status_code=200)
    async def test_camera(self, request: HTMXRequest, data: Form) -> Template:
        """htmx: probe the typed stream URLs with the typed credentials; nothing is saved."""
        runtime = request.app.state.runtime
        context = await onboard.test(data, secrets=runtime.secret_values())
        return Template("_probe_result.html", context=context)

    @get("/cameras/{name:str}")
    async def camera(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        if name not in runtime.config.cameras:
            raise NotFound(f"no camera {name!r}")
        user = current_user(request)
        view = _tile_view(runtime, name, admin=user.is_admin)
        codec = await runtime.health.main_codec(name) if view["enabled"] else None
        view["main_codec"] = codec
        return Template("camera.html", context={"cam": view, "player_config": _player_config(runtime)})

    @get("/cameras/{name:str}/badge", sync_to_thread=False)
    def badge(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        if name not in runtime.config.cameras:
            raise NotFound(f"no camera {name!r}")
        return Template("_badge.html", context={"cam": _tile_view(runtime, name, admin=False)})

    @get("/cameras/{name:str}/edit", guards=[require_admin], sync_to_thread=False)
    def edit_camera(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        if name not in runtime.config.cameras:
            raise NotFound(f"no camera {name!r}")
        v = camera_view(runtime, name, admin=True)
        cam = CameraIn(name=name, title=v["title"] if v["title"] != name else "", main=v["main"] or "",
                       sub=v["sub"] or "", username=v["username"] or "", enabled=v["enabled"],
                       h265_fallback=v["h265_fallback"])
        return Template("camera_form.html", context={"mode": "edit", "cam": cam, "errors": {},
                                                     "password_set": v["password_set"],
                                                     "readonly": name in runtime.store.readonly})

    @post("/cameras/{name:str}/edit", guards=[require_admin], status_code=200)
    async def save_camera(self, request: HTMXRequest, name: FromPath[str], data: Form) -> Any:
        runtime = request.app.state.runtime
        cam = form_to_camera({**data, "name": name})
        try:
            await update_camera(runtime, name, cam, request=request)
        except CampyError as err:
            return _form_error(request, "edit", cam, err)
        return _go(request, f"/cameras/{name}")

    @post("/cameras/{name:str}/delete", guards=[require_admin], status_code=200)
    async def remove_camera(self, request: HTMXRequest, name: FromPath[str]) -> Any:
        await delete_camera(request.app.state.runtime, name, request=request)
        return _go(request, "/")

    @get("/system", guards=[require_admin])
    async def system(self, request: HTMXRequest) -> Template:
        from campy.web.system import system_context

        runtime = request.app.state.runtime
        server = runtime.server
        return Template("system.html", context={
            **await system_context(request),
            "go2rtc_up": runtime.health.go2rtc_up,
            "external": runtime.config.go2rtc.url,
            "pid": getattr(server, "pid", None),
            "restarts": getattr(server, "restarts", 0),
            "lag": runtime.looplag.summary(),
            "log": [runtime.scrub(line) for line in (server.recent_log() if server else [])][-200:],
            "web": runtime.config.server,
            "tls_fingerprint": request.app.state.get("tls_fingerprint"),
            "https": request.url.scheme == "https",
            "now_ms": runtime.clock.now_ms(),
        })


def _go(request: HTMXRequest, url: str) -> Any:
    if request.htmx:
        return ClientRedirect(url)
    return Redirect(url, status_code=303)


def _form_error(request: HTMXRequest, mode: str, cam: CameraIn, err: CampyError,
                ob: onboard.Onboard | None = None) -> Template:
    errors = dict(err.fields)
    if not errors:
        errors["_"] = err.message
    safe = msgspec.structs.replace(cam, password="")  # never echo a password back
    template = "_camera_form.html" if request.htmx else "camera_form.html"
    # htmx 2 swaps only 2xx responses, so inline errors come back as 200 to htmx and
    # as 400 to a plain form post.
    return Template(template, context={"mode": mode, "cam": safe, "errors": errors, "message": err.message,
                                       "onboard": ob or onboard.Onboard(), **onboard.choices()},
                    status_code=200 if request.htmx else err.status)
