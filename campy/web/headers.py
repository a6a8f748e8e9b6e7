"""Security headers on every HTTP response: pages, API, static files, errors, redirects.

An ASGI middleware around the whole Litestar handler (so 404s of unknown paths and 405s get
them too). A header the handler set itself is kept: a page meant to be framed sends its own
``Content-Security-Policy`` with ``frame-ancestors`` and then gets no ``X-Frame-Options``.

Over HTTPS (uvicorn's TLS, or ``X-Forwarded-Proto: https`` from a trusted proxy, which
uvicorn's proxy-header support turns into ``scope["scheme"]``) responses also get HSTS and
every cookie is marked ``Secure``. Over plain HTTP neither happens.
"""

from __future__ import annotations

from typing import Any

# go2rtc 1.9.14's player (video-stream.js) puts one <style> element into each player; its
# hash lets exactly that stylesheet in without 'unsafe-inline'. campy.css carries the same
# rules, so a go2rtc of another version (another hash) looks the same, only its inline style
# is refused. tests/web/test_headers.py checks the hash against the player CamPy serves.
PLAYER_STYLE_HASH = "'sha256-uldmZibwUatiQkAiAM/ca0pbHTDr8yFmF32B4fczSSc='"

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    f"style-src 'self' {PLAYER_STYLE_HASH}",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
])

HSTS = b"max-age=31536000"

DEFAULTS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def _secure_cookie(value: bytes) -> bytes:
    attrs = [a.strip().lower() for a in value.split(b";")[1:]]
    return value if b"secure" in attrs else value + b"; Secure"


def with_security_headers(headers: list[tuple[bytes, bytes]], *, https: bool) -> list[tuple[bytes, bytes]]:
    """The response headers plus the missing security headers (the handler's own win)."""
    present = {name.lower() for name, _ in headers}
    out = list(headers)
    for name, value in DEFAULTS:
        if name in present:
            continue
        if name == b"x-frame-options" and b"content-security-policy" in present and any(
                n.lower() == b"content-security-policy" and b"frame-ancestors" in v for n, v in headers):
            continue  # the handler chose who may frame it; DENY would override that
        out.append((name, value))
    if https:
        if b"strict-transport-security" not in present:
            out.append((b"strict-transport-security", HSTS))
        out = [(n, _secure_cookie(v)) if n.lower() == b"set-cookie" else (n, v) for n, v in out]
    return out


class SecurityHeadersMiddleware:
    """ASGI middleware: adds the headers above to every ``http.response.start``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_security_headers(
                    [(bytes(n), bytes(v)) for n, v in message.get("headers", [])], https=https)}
            await send(message)

        await self.app(scope, receive, send_with_headers)
