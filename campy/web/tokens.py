"""API tokens over HTTP: the JSON API (``/api/tokens``) and the admin page (``/tokens``).

Admins only. A token is shown once, in the answer that creates it; listings never carry a
secret. Revoking a token also closes its open live WebSockets and event streams.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from campy.db.tokens import TOKEN_ROLES, TokenInfo
from campy.db.users import UserError
from campy.errors import BadRequest, NotFound
from campy.web.auth import current_user, require_admin

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
MAX_EXPIRES_S = 10 * 365 * 86_400


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    """``cameras`` omitted (or null) = every camera; an admin token always sees every camera."""

    name: str
    role: str
    cameras: list[str] | None = None
    expires_s: int | None = None


def _check(runtime: Any, data: TokenIn) -> None:
    """Field errors the store does not know about (it does not read the config)."""
    fields: dict[str, str] = {}
    if data.role not in TOKEN_ROLES:
        fields["role"] = f"must be one of {', '.join(TOKEN_ROLES)}"
    if data.cameras is not None:
        if data.role in ("admin", "metrics"):
            fields["cameras"] = f"an {data.role} token takes no camera grant; leave cameras out"
        elif not data.cameras:
            fields["cameras"] = "name at least one camera, or leave cameras out for every camera"
        else:
            unknown = sorted({c for c in data.cameras if c not in runtime.config.cameras})
            if unknown:
                fields["cameras"] = f"no camera named {', '.join(repr(c) for c in unknown)}"
    if data.expires_s is not None and not 0 < data.expires_s <= MAX_EXPIRES_S:
        fields["expires_s"] = f"must be 1-{MAX_EXPIRES_S} seconds (or left out: never expires)"
    if fields:
        raise BadRequest("the token was not created: " + "; ".join(f"{k}: {v}" for k, v in fields.items()),
                         fields=fields)


def _address(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


async def create_token(request: Request[Any, Any, Any], data: TokenIn) -> dict[str, Any]:
    """Validate, store (hashed), audit; returns the new token with its secret (shown once)."""
    runtime = request.app.state.runtime
    _check(runtime, data)
    actor = current_user(request).actor
    try:
        token_id, raw = await anyio.to_thread.run_sync(
            lambda: runtime.tokens.create(name=data.name, role=data.role, created_by=actor,
                                          cameras=data.cameras, expires_s=data.expires_s))
    except UserError as err:
        field, _, message = str(err).partition(": ")
        raise BadRequest(f"the token was not created: {err}", fields={field: message or str(err)}) from err
    info = _info(runtime, token_id)
    await anyio.to_thread.run_sync(lambda: runtime.audit.record(
        actor, "token.create", target=token_id, detail=f"{info.name} ({info.role})", address=_address(request)))
    return {"id": token_id, "token": raw, "name": info.name, "role": info.role, "cameras": info.cameras,
            "expires_ms": info.expires_ms}


async def revoke_token(request: Request[Any, Any, Any], token_id: str) -> TokenInfo:
    """Revoke at once and end the token's open streams; 404 when there is no such token."""
    runtime = request.app.state.runtime
    info = await anyio.to_thread.run_sync(lambda: _find(runtime, token_id))
    if info is None:
        raise NotFound(f"no token {token_id!r}")
    revoked = await anyio.to_thread.run_sync(runtime.tokens.revoke, token_id)
    runtime.revocations.revoke(f"token:{token_id}")  # on the loop thread, as it must be
    if revoked:
        await anyio.to_thread.run_sync(lambda: runtime.audit.record(
            current_user(request).actor, "token.revoke", target=token_id, detail=f"{info.name} ({info.role})",
            address=_address(request)))
    return info


def _find(runtime: Any, token_id: str) -> TokenInfo | None:
    return next((t for t in runtime.tokens.list() if t.id == token_id), None)


def _info(runtime: Any, token_id: str) -> TokenInfo:
    info = _find(runtime, token_id)
    assert info is not None
    return info


def token_view(info: TokenInfo, *, now_ms: int) -> dict[str, Any]:
    """A token as listings show it: everything but the secret, plus its state."""
    if info.revoked_ms is not None:
        state = "revoked"
    elif info.expires_ms is not None and info.expires_ms <= now_ms:
        state = "expired"
    else:
        state = "active"
    return {"id": info.id, "name": info.name, "role": info.role, "cameras": info.cameras,
            "created_ms": info.created_ms, "created_by": info.created_by, "expires_ms": info.expires_ms,
            "last_used_ms": info.last_used_ms, "revoked_ms": info.revoked_ms, "state": state}


async def _views(runtime: Any) -> list[dict[str, Any]]:
    tokens = await anyio.to_thread.run_sync(runtime.tokens.list)
    now = runtime.clock.now_ms()
    return [token_view(t, now_ms=now) for t in tokens]


class TokensApi(Controller):
    path = "/api/tokens"
    guards = [require_admin]

    @post("/", status_code=201)
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[TokenIn]) -> dict[str, Any]:
        return await create_token(request, data)

    @get("/")
    async def list_tokens(self, request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
        return await _views(request.app.state.runtime)

    @delete("/{token_id:str}", status_code=204)
    async def revoke(self, request: Request[Any, Any, Any], token_id: FromPath[str]) -> None:
        await revoke_token(request, token_id)


def _form_token(data: dict[str, Any]) -> TokenIn:
    cams = str(data.get("cameras", "")).replace(",", " ").split()
    expires = str(data.get("expires_days", "")).strip()
    try:
        expires_s = round(float(expires) * 86_400) if expires else None
    except ValueError:
        raise BadRequest("expiry must be a number of days", fields={"expires_s": "a number of days"}) from None
    return TokenIn(name=str(data.get("name", "")), role=str(data.get("role", "viewer")),
                   cameras=cams or None, expires_s=expires_s)


class TokenPages(Controller):
    path = "/tokens"
    guards = [require_admin]

    @get("/")
    async def page(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        return Template("tokens.html", context={"tokens": await _views(runtime), "roles": TOKEN_ROLES,
                                                "cameras": sorted(runtime.config.cameras), "created": None,
                                                "errors": {}, "form": {}})

    @post("/", status_code=200)
    async def create(self, request: HTMXRequest, data: Form) -> Response[Any]:
        runtime = request.app.state.runtime
        ctx: dict[str, Any] = {"roles": TOKEN_ROLES, "cameras": sorted(runtime.config.cameras), "created": None,
                               "errors": {}, "form": {k: str(v) for k, v in data.items() if k != "_csrf_token"}}
        status = 200
        try:
            ctx["created"] = await create_token(request, _form_token(data))
            ctx["form"] = {}
        except BadRequest as err:
            ctx["errors"] = dict(err.fields) or {"_": err.message}
            status = 200 if request.htmx else 400  # htmx swaps only 2xx
        ctx["tokens"] = await _views(runtime)
        return Template("_tokens.html" if request.htmx else "tokens.html", context=ctx, status_code=status)

    @post("/{token_id:str}/revoke", status_code=200)
    async def revoke(self, request: HTMXRequest, token_id: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        await revoke_token(request, token_id)
        ctx: dict[str, Any] = {"tokens": await _views(runtime), "roles": TOKEN_ROLES, "cameras": sorted(runtime.config.cameras),
               "created": None, "errors": {}, "form": {}}
        return Template("_tokens.html" if request.htmx else "tokens.html", context=ctx)
