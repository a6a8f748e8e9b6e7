"""Who is asking, and may they: sessions, API tokens, roles, per-camera grants, guards.

Every route needs a session or a token except ``/healthz`` and the login form (HEAD
included: only OPTIONS skips the check). Roles: ``admin`` (everything), ``operator``
(watch, export, mark, acknowledge on granted cameras), ``viewer`` (watch granted cameras).
``Authorization: Bearer <token>`` authenticates an API token on ``/api``, ``/live`` and
``/metrics`` (a token of role ``metrics`` works on ``/metrics`` only);
such requests skip CSRF (a browser cannot attach that header cross-site). The app-wide
``camera_guard`` checks the grant on every route with a ``{name}`` path parameter, so a
camera route added later is covered without anyone remembering to; an ungranted camera
answers 404 exactly like a missing one (names are not disclosed).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import anyio.to_thread
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.enums import HttpMethod
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.security.session_auth import SessionAuth, SessionAuthMiddleware
from litestar.types import Empty, Receive, Scope, Send

from campy.db.users import User
from campy.errors import NotFound

# Routes reachable without a session: the liveness probe, the login form, /static (the
# stylesheet, scripts and htmx: nothing secret, and the login page needs its stylesheet
# before anyone has signed in), go2rtc's player code (static, no secret), the embed page
# and WebSocket (checked by the embed token), and signed links from alert payloads (their
# signature is the credential; campy.web.signed checks it).
PUBLIC_PATHS = ["^/healthz$", "^/login$", "^/static/", "^/live/player/", "^/embed/", "^/live/embed/ws$",
                "^/signed/events/"]
SESSION_MAX_AGE_S = 7 * 24 * 3600


NEW_SESSION_KEY = "campy.new_session_id"


class RotatingSessionBackend(ServerSideSessionBackend):
    """Server-side sessions that get a fresh id at login.

    Litestar reuses the id from the request's cookie; a planted cookie would then become an
    authenticated session (session fixation). ``start_new_session`` makes the login response
    carry a new random id instead.
    """

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        new_id = connection.scope.get(NEW_SESSION_KEY)  # type: ignore[call-overload]
        if isinstance(new_id, str):
            return new_id
        return super().get_session_id(connection)

    async def store_in_message(self, scope_session: Any, message: Any,
                               connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        # Litestar stores every non-Empty session, and an anonymous request's session is
        # ``{}``: each cookie-less request (a probe, a bot) wrote a row and set a cookie.
        # An empty session is stored nowhere; a cookie naming one is cleared.
        if not scope_session and scope_session is not Empty:
            if connection.cookies.get(self.config.key) in (None, "", "null"):
                return
            scope_session = Empty
        await super().store_in_message(scope_session, message, connection)


class CampySessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


def start_new_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any]) -> str | None:
    """Log in: store ``data`` under a new session id; returns the old id (to delete)."""
    old = connection.cookies.get("campy_session")
    connection.scope[NEW_SESSION_KEY] = secrets.token_hex(32)  # type: ignore[literal-required]
    connection.set_session(data)
    return old if old and old != "null" else None


async def retrieve_user(session: dict[str, Any], connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    user_id = session.get("user_id")
    if not isinstance(user_id, int):
        return None
    runtime = connection.app.state.runtime
    return runtime.users.get_by_id(user_id)


# Where an API token is accepted (the JSON API and the live media routes; not the HTML UI).
TOKEN_PATH_PREFIXES = ("/api/", "/live/", "/metrics")


def bearer_token(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
    return None


class CampyAuthMiddleware(SessionAuthMiddleware):
    """Session auth, or an API token when the request carries ``Authorization: Bearer``."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        raw = bearer_token(connection.scope)
        if raw is None:
            return await super().authenticate_request(connection)
        if not connection.scope["path"].startswith(TOKEN_PATH_PREFIXES):
            raise NotAuthorizedException("API tokens work on /api, /live and /metrics only; log in for pages")
        # A hash and one indexed read, plus a write at most once a minute: off the loop.
        user = await anyio.to_thread.run_sync(connection.app.state.runtime.tokens.verify, raw)
        if user is None:
            raise NotAuthorizedException("the API token is unknown, expired or revoked")
        if user.role == "metrics" and connection.scope["path"] != "/metrics":
            raise PermissionDeniedException("a metrics token may read /metrics only; use a token of another role")
        return AuthenticationResult(user=user, auth="token")


class TokenAwareCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, skipped for requests authenticated by a bearer token (only on
    the paths where tokens work; elsewhere the header changes nothing)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and bearer_token(scope) is not None
                and scope["path"].startswith(TOKEN_PATH_PREFIXES)):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def csrf_config(secret: str, *, secure_cookie: bool) -> CSRFConfig:
    return CSRFConfig(secret=secret, cookie_secure=secure_cookie, cookie_samesite="lax")


def make_session_auth(*, secure_cookie: bool) -> SessionAuth[User, ServerSideSessionBackend]:
    return SessionAuth[User, ServerSideSessionBackend](
        retrieve_user_handler=retrieve_user,
        session_backend_config=CampySessionConfig(
            key="campy_session",
            max_age=SESSION_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=secure_cookie,
            store="sessions",
        ),
        exclude=PUBLIC_PATHS,
        exclude_http_methods=[HttpMethod.OPTIONS],  # HEAD is authenticated like GET
        authentication_middleware_class=CampyAuthMiddleware,
    )


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    user = connection.scope.get("user")
    if not isinstance(user, User):
        raise NotAuthorizedException("log in first")
    return user


def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only admins may change anything."""
    if not current_user(connection).is_admin:
        raise PermissionDeniedException("only an admin may do this")


def require_metrics(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for /metrics: an admin (session or token) or a token of role ``metrics``."""
    if current_user(connection).role not in ("admin", "metrics"):
        raise PermissionDeniedException("only an admin or a metrics token may read the metrics")


def require_operator(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: admins and operators (export, mark, acknowledge)."""
    if not current_user(connection).can_operate:
        raise PermissionDeniedException("only an operator or an admin may do this")


def require_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any logged-in user (belt and braces on top of the auth middleware)."""
    current_user(connection)


def camera_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """App-wide guard: a route with a ``{name}`` path parameter is about that camera."""
    name = connection.path_params.get("name")
    if name is None:
        return
    if not current_user(connection).can_view(str(name)):
        raise NotFound(f"no camera {name!r}")


def can_view_camera(user: User, camera: str) -> bool:
    return user.can_view(camera)


def granted(user: User, cameras: Iterable[str]) -> list[str]:
    """The cameras of ``cameras`` this user may see, in order (lists show only these)."""
    return [c for c in cameras if user.can_view(c)]


def check_camera(user: User, camera: str) -> None:
    """For routes that learn the camera from a query or a row: 404 unless granted."""
    if not user.can_view(camera):
        raise NotFound(f"no camera {camera!r}")
