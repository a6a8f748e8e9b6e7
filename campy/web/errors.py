"""One mapping from errors to responses.

API paths (``/api/…``) get JSON ``{"error": {"status", "message", "fields"}}``; HTMX
requests get the ``_error.html`` partial; page loads get ``error.html``. A request
without a session to a page is sent to the login form instead of a bare 401.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect, Template

from campy.errors import CampyError
from campy.web.auth import bearer_token

log = logging.getLogger(__name__)


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    # /metrics is for scrapers: a refusal there is JSON too, never a redirect to the login form.
    return path.startswith("/api/") or path in ("/api", "/metrics") or "application/json" in (
        request.headers.get("accept") or ""
    ) and "text/html" not in (request.headers.get("accept") or "")


def _render(request: Request[Any, Any, Any], status: int, message: str,
            fields: dict[str, str] | None = None) -> Response[Any]:
    if _wants_json(request):
        return Response(
            {"error": {"status": status, "message": message, "fields": fields or {}}},
            status_code=status,
            media_type=MediaType.JSON,
        )
    is_htmx = bool(request.headers.get("hx-request"))
    return Template(
        "_error.html" if is_htmx else "error.html",
        context={"status": status, "message": message, "fields": fields or {}},
        status_code=status,
    )


def campy_error_handler(request: Request[Any, Any, Any], exc: CampyError) -> Response[Any]:
    return _render(request, exc.status, exc.message, exc.fields)


def not_authorized_handler(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if bearer_token(request.scope) is not None:
        # A script with a token: say what is wrong with it (never a redirect to the login form).
        response = _render(request, 401, exc.detail or "the API token was refused")
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    if _wants_json(request):
        return _render(request, 401, "authentication required")
    if request.headers.get("hx-request"):
        return Response("", status_code=401, headers={"HX-Redirect": "/login"})
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
    return _render(request, 401, "authentication required")


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    message = exc.detail or "error"
    if isinstance(exc, PermissionDeniedException):
        message = exc.detail or "you may not do this"
    fields: dict[str, str] = {}
    if isinstance(exc, ValidationException):
        message = "invalid request"
        for item in exc.extra or []:
            if isinstance(item, dict) and item.get("key"):
                fields[str(item["key"])] = str(item.get("message", "invalid"))
    return _render(request, status, message, fields)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _render(request, 500, "internal error; see CamPy's log")


HANDLERS: dict[Any, Any] = {
    CampyError: campy_error_handler,
    NotAuthorizedException: not_authorized_handler,
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}
