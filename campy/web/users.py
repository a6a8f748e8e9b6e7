"""Managing users (admins): pages, the JSON API, and every user's own Account page.

A password change, disable, role or grant change ends that user's sessions and closes
their open live WebSockets and SSE streams at once (``end_user_access``): those were
authorised under the old rights. When admins change their own account, the request's
session is re-issued under a new id so they stay signed in here.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Template

from campy.db.users import ROLES, UNSET, LastAdmin, NoSuchUser, UserError, check_grant
from campy.errors import BadRequest, CampyError, Conflict, NotFound
from campy.web.auditing import audit, changed
from campy.web.pages import argon2_limiter
from campy.web.throttle import MAX_PASSWORD_BYTES
from campy.web.auth import current_user, require_admin, require_user, start_new_session
from campy.web.revoke import end_user_access


def _mapped(err: UserError) -> CampyError:
    """A store refusal as an HTTP error; ``field: message`` becomes a field error."""
    msg = str(err)
    if isinstance(err, NoSuchUser):
        return NotFound(msg)
    if isinstance(err, LastAdmin):
        return Conflict(msg, fields={"_": msg})
    field, sep, text = msg.partition(": ")
    if sep and field in ("username", "password", "role", "cameras"):
        return BadRequest(msg, fields={field: text})
    return BadRequest(msg)


def _why(err: UserError) -> str:
    """The audit detail of a refusal: the field at fault (never the value sent)."""
    if isinstance(err, LastAdmin):
        return "last_admin"
    field = str(err).partition(": ")[0]
    return field if field in ("username", "password", "role", "cameras") else "refused"


def _grant(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise BadRequest("cameras must be null (every camera) or a list of camera names",
                         fields={"cameras": "null or a list of names"})
    return value


def _last_logins(runtime: Any) -> dict[str, int]:
    rows = runtime.db.query("SELECT actor, max(at_ms) AS at FROM audit WHERE action = 'login' AND ok = 1 "
                            "GROUP BY actor")
    return {r["actor"]: r["at"] for r in rows}


def _list(runtime: Any) -> list[dict[str, Any]]:
    last = _last_logins(runtime)
    out = []
    for row in runtime.users.list_users():
        row["sessions"] = runtime.sessions.count_for_user(row["id"])
        row["last_login_ms"] = last.get(row["username"])
        out.append(row)
    return out


async def _reissue_if_self(request: Request[Any, Any, Any], user_id: int) -> None:
    """After ending a user's sessions: keep the acting user signed in on this request."""
    me = current_user(request)
    if me.via == "session" and me.id == user_id and request.app.state.runtime.users.get_by_id(user_id):
        start_new_session(request, {"user_id": user_id})


async def add_user(request: Request[Any, Any, Any], *, username: str, password: str, role: str,
                   cameras: list[str] | None) -> dict[str, Any]:
    runtime = request.app.state.runtime
    try:
        if cameras is not None:
            check_grant(cameras, set(runtime.config.cameras))
        await anyio.to_thread.run_sync(lambda: runtime.users.create(
            username=username, password=password, role=role, cameras=cameras))
    except UserError as err:
        await audit(request, "user.add", target=username[:64], detail=_why(err), ok=False)
        raise _mapped(err) from err
    await audit(request, "user.add", target=username, detail=f"role={role}")
    row = runtime.users.row(username)
    return {**row, "sessions": 0, "last_login_ms": None}


async def change_user(request: Request[Any, Any, Any], username: str, *, role: str | None = None,
                      cameras: Any = UNSET, disabled: bool | None = None,
                      password: str | None = None) -> list[str]:
    """Apply a change; returns the names of the fields that changed."""
    runtime = request.app.state.runtime
    try:
        user_id, fields = await anyio.to_thread.run_sync(lambda: runtime.users.update(
            username, role=role, cameras=cameras, disabled=disabled, password=password,
            known_cameras=set(runtime.config.cameras)))
    except UserError as err:
        if not isinstance(err, NoSuchUser):
            await audit(request, "user.update", target=username, detail=_why(err), ok=False)
        raise _mapped(err) from err
    if "password" in fields:
        await audit(request, "user.password", target=username)
    if "disabled" in fields:
        await audit(request, "user.disable" if disabled else "user.enable", target=username)
    if {"role", "cameras"} & set(fields):
        await audit(request, "user.update", target=username, detail=changed({"role", "cameras"} & set(fields)))
    if fields and (set(fields) - {"disabled"} or disabled):
        await end_user_access(runtime, user_id)
        await _reissue_if_self(request, user_id)
    return fields


async def remove_user(request: Request[Any, Any, Any], username: str) -> None:
    runtime = request.app.state.runtime
    try:
        user_id = await anyio.to_thread.run_sync(runtime.users.delete, username)
    except UserError as err:
        if not isinstance(err, NoSuchUser):
            await audit(request, "user.delete", target=username, detail=_why(err), ok=False)
        raise _mapped(err) from err
    await end_user_access(runtime, user_id)
    await audit(request, "user.delete", target=username)


async def end_sessions(request: Request[Any, Any, Any], username: str) -> dict[str, int]:
    runtime = request.app.state.runtime
    row = runtime.users.row(username)
    if row is None:
        raise NotFound(f"no user {username!r}")
    sessions, streams = await end_user_access(runtime, row["id"])
    await _reissue_if_self(request, row["id"])
    await audit(request, "user.end_sessions", target=username, detail=f"sessions={sessions},streams={streams}")
    return {"sessions": sessions, "streams": streams}


class UsersApi(Controller):
    """``/api/users``: the same operations as the pages. The path parameter is
    ``username`` (``name`` would make the app-wide camera guard treat it as a camera)."""

    path = "/api/users"
    guards = [require_admin]

    @get("/")
    async def list_users(self, request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
        """Every user: role, camera grant (null = all), disabled, sessions, last login."""
        return await anyio.to_thread.run_sync(_list, request.app.state.runtime)

    @post("/", status_code=201)
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        """``{username, password, role, cameras?}``; ``cameras`` null or absent = every camera."""
        unknown = set(data) - {"username", "password", "role", "cameras"}
        if unknown:
            raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}")
        return await add_user(request, username=str(data.get("username", "")),
                              password=str(data.get("password", "")), role=str(data.get("role", "viewer")),
                              cameras=_grant(data.get("cameras")))

    @patch("/{username:str}")
    async def update(self, request: Request[Any, Any, Any], username: FromPath[str],
                     data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        """``{role?, cameras?, disabled?, password?}``; ends the user's sessions and streams."""
        unknown = set(data) - {"role", "cameras", "disabled", "password"}
        if unknown:
            raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}; use role, cameras, disabled, password")
        disabled = data.get("disabled")
        if disabled is not None and not isinstance(disabled, bool):
            raise BadRequest("disabled must be true or false", fields={"disabled": "true or false"})
        role, password = data.get("role"), data.get("password")
        if (role is not None and not isinstance(role, str)) or (password is not None and not isinstance(password, str)):
            raise BadRequest("role and password must be strings")
        fields = await change_user(request, username, role=role, disabled=disabled, password=password,
                                   cameras=_grant(data["cameras"]) if "cameras" in data else UNSET)
        row = request.app.state.runtime.users.row(username)
        return {**row, "changed": fields}

    @delete("/{username:str}", status_code=204)
    async def remove(self, request: Request[Any, Any, Any], username: FromPath[str]) -> None:
        await remove_user(request, username)

    @post("/{username:str}/end-sessions", status_code=200)
    async def end(self, request: Request[Any, Any, Any], username: FromPath[str]) -> dict[str, int]:
        """End every session of the user and close their open streams."""
        return await end_sessions(request, username)


def _form_ctx(runtime: Any, *, mode: str, u: dict[str, Any], errors: dict[str, str] | None = None,
              message: str | None = None) -> dict[str, Any]:
    configured = sorted(runtime.config.cameras)
    held = [c for c in (u.get("cameras") or []) if c not in runtime.config.cameras]
    return {"mode": mode, "u": u, "errors": errors or {}, "message": message, "roles": ROLES,
            "all_cameras": configured, "gone_cameras": held}


def _form_grant(form: Any) -> list[str] | None:
    return None if form.get("grant", "all") == "all" else [str(c) for c in form.getall("cameras", [])]


def _render(request: HTMXRequest, ctx: dict[str, Any], status: int = 200) -> Template:
    # htmx 2 swaps only 2xx responses: inline errors go to htmx as 200, to a plain post as 4xx.
    if request.htmx:
        return Template("_user_form.html", context=ctx)
    return Template("user_form.html", context=ctx, status_code=status)


def _go(request: HTMXRequest, url: str) -> Any:
    return ClientRedirect(url) if request.htmx else Redirect(url, status_code=303)


def _errors(err: CampyError) -> dict[str, str]:
    return dict(err.fields) or {"_": err.message}


class UsersPages(Controller):
    guards = [require_admin]

    @get("/users")
    async def users_page(self, request: HTMXRequest) -> Template:
        rows = await anyio.to_thread.run_sync(_list, request.app.state.runtime)
        return Template("users.html", context={"users": rows, "me": current_user(request).username})

    @get("/users/new", sync_to_thread=False)
    def new_user(self, request: HTMXRequest) -> Template:
        u = {"username": "", "role": "viewer", "cameras": None}
        return Template("user_form.html", context=_form_ctx(request.app.state.runtime, mode="add", u=u))

    @post("/users", status_code=200)
    async def add(self, request: HTMXRequest) -> Any:
        form = await request.form()
        username, role, cams = str(form.get("username", "")).strip(), str(form.get("role", "viewer")), _form_grant(form)
        u = {"username": username, "role": role, "cameras": cams}
        try:
            await add_user(request, username=username, password=str(form.get("password", "")), role=role,
                           cameras=cams)
        except CampyError as err:
            ctx = _form_ctx(request.app.state.runtime, mode="add", u=u, errors=_errors(err), message=err.message)
            return _render(request, ctx, err.status)
        return _go(request, "/users")

    @get("/users/{username:str}/edit", sync_to_thread=False)
    def edit(self, request: HTMXRequest, username: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        row = runtime.users.row(username)
        if row is None:
            raise NotFound(f"no user {username!r}")
        row["sessions"] = runtime.sessions.count_for_user(row["id"])
        return Template("user_form.html", context=_form_ctx(runtime, mode="edit", u=row))

    async def _act(self, request: HTMXRequest, username: str, what: str, form: Any) -> Any:
        runtime = request.app.state.runtime
        message = None
        try:
            if what == "edit":
                fields = await change_user(request, username, role=str(form.get("role", "")),
                                           cameras=_form_grant(form))
                message = ("saved; their sessions were ended" if fields else "nothing changed")
            elif what == "password":
                if str(form.get("password", "")) != str(form.get("password2", "")):
                    raise BadRequest("the passwords differ", fields={"password2": "type the same password twice"})
                await change_user(request, username, password=str(form.get("password", "")))
                message = "password set; their sessions were ended"
            elif what in ("disable", "enable"):
                await change_user(request, username, disabled=what == "disable")
                message = "disabled; their sessions were ended" if what == "disable" else "enabled"
            elif what == "end-sessions":
                n = await end_sessions(request, username)
                message = f"ended {n['sessions']} session(s) and {n['streams']} open stream(s)"
            elif what == "delete":
                await remove_user(request, username)
                return _go(request, "/users")
            errors: dict[str, str] = {}
            status = 200
        except CampyError as err:
            if isinstance(err, NotFound):
                raise
            errors, status = _errors(err), err.status
        row = runtime.users.row(username)
        if row is None:
            raise NotFound(f"no user {username!r}")
        row["sessions"] = runtime.sessions.count_for_user(row["id"])
        if errors and what == "edit":  # show what was typed, not the stored values
            row = {**row, "role": str(form.get("role", "")), "cameras": _form_grant(form)}
        return _render(request, _form_ctx(runtime, mode="edit", u=row, errors=errors, message=message), status)

    @post("/users/{username:str}/edit", status_code=200)
    async def save(self, request: HTMXRequest, username: FromPath[str]) -> Any:
        """Role and camera grant."""
        return await self._act(request, username, "edit", await request.form())

    @post("/users/{username:str}/password", status_code=200)
    async def password(self, request: HTMXRequest, username: FromPath[str]) -> Any:
        return await self._act(request, username, "password", await request.form())

    @post("/users/{username:str}/disable", status_code=200)
    async def disable(self, request: HTMXRequest, username: FromPath[str]) -> Any:
        return await self._act(request, username, "disable", {})

    @post("/users/{username:str}/enable", status_code=200)
    async def enable(self, request: HTMXRequest, username: FromPath[str]) -> Any:
        return await self._act(request, username, "enable", {})

    @post("/users/{username:str}/end-sessions", status_code=200)
    async def end_sessions_form(self, request: HTMXRequest, username: FromPath[str]) -> Any:
        return await self._act(request, username, "end-sessions", {})

    @post("/users/{username:str}/delete", status_code=200)
    async def delete_form(self, request: HTMXRequest, username: FromPath[str]) -> Any:
        return await self._act(request, username, "delete", {})


class AccountPages(Controller):
    """Every signed-in user's own page: change the password (ends their other sessions)."""

    guards = [require_user]

    @get("/account", sync_to_thread=False)
    def account(self, request: HTMXRequest) -> Template:
        return Template("account.html", context={"errors": {}, "message": None})

    @post("/account", status_code=200)
    async def change_password(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        me = current_user(request)
        form = await request.form()
        current, new, again = (str(form.get(k, "")) for k in ("current", "password", "password2"))
        errors: dict[str, str] = {}
        if len(current.encode()) > MAX_PASSWORD_BYTES:
            current = ""  # never hash an oversized value; it cannot be the password anyway
        # Guessing the current password here is throttled like the login form (per address
        # and user), so a stolen session cannot brute-force the password behind it.
        client = request.client.host if request.client else "?"
        attempt = await runtime.login_limiter.acquire(client, me.username)
        if isinstance(attempt, int):
            return Template("account.html", status_code=429, context={
                "errors": {"current": f"too many wrong passwords; try again in {attempt} s"}, "message": None})
        ok = None
        try:
            ok = await anyio.to_thread.run_sync(runtime.users.authenticate, me.username, current,
                                                limiter=argon2_limiter())
        finally:
            await runtime.login_limiter.settle(attempt, ok=ok is not None)
        if ok is None:
            errors["current"] = "this is not your current password"
        elif new != again:
            errors["password2"] = "type the same new password twice"
        elif new == current:
            errors["password"] = "choose a password different from the current one"
        if not errors:
            try:
                await change_user(request, me.username, password=new)
            except CampyError as err:
                errors = _errors(err)
        if errors:
            if "current" in errors:
                await audit(request, "user.password", target=me.username, detail="current", ok=False)
            status = 200 if request.htmx else 400
            return Template("account.html", context={"errors": errors, "message": None}, status_code=status)
        return Template("account.html", context={
            "errors": {}, "message": "password changed; your other sessions were ended"})
