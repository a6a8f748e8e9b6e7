"""Who is asking, and may they: session login, roles, guards.

Every route needs a session except ``/healthz`` and the login form itself. Roles:
``admin`` may change things; ``viewer`` may only watch. Guards run before handlers,
so a viewer's request to an admin route never reaches the handler (403).
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.security.session_auth import SessionAuth
from litestar.types import Empty

from campy.db.users import User

# Routes reachable without a session: the liveness probe and the login form.
PUBLIC_PATHS = ["^/healthz$", "^/login$"]
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


def require_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any logged-in user (belt and braces on top of the auth middleware)."""
    current_user(connection)


def can_view_camera(user: User, camera: str) -> bool:
    """Per-camera grants come later; today every user may watch every camera."""
    return True
