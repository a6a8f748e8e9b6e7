"""Writing and showing the audit log.

``audit(request, action, ...)`` is the one way handlers record something: it takes the
actor from the request's user (or ``actor=`` for a login, before there is one) and the
address from ``request.client`` (which honours trusted proxies), and writes off the event
loop. Details name fields only, never values of passwords or URLs.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from campy.db.users import User
from campy.web.auth import require_admin

log = logging.getLogger(__name__)

PAGE = 100


def _actor(request: Request[Any, Any, Any]) -> str:
    user = request.scope.get("user")
    return user.actor if isinstance(user, User) else "-"


async def audit(request: Request[Any, Any, Any], action: str, target: str | None = None,
                detail: str | None = None, ok: bool = True, *, actor: str | None = None) -> None:
    """Record one audit row for this request. A failed write is logged, never raised:
    the action it describes has already happened."""
    runtime = request.app.state.runtime
    address = request.client.host if request.client else None
    write = partial(runtime.audit.record, actor or _actor(request), action, target=target,
                    detail=detail, address=address, ok=ok)
    try:
        await anyio.to_thread.run_sync(write)
    except Exception as err:
        log.warning("audit row %s for %s not written: %s", action, target, err)


def changed(fields: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The ``detail`` of a change: the names of the fields it touched."""
    return ",".join(sorted(fields)) or None


def _rows(request: Request[Any, Any, Any], action: str | None, actor: str | None,
          before: int | None) -> list[dict[str, Any]]:
    return list(request.app.state.runtime.audit.list(limit=PAGE, before_id=before, action=action or None,
                                                     actor=actor or None))


class AuditController(Controller):
    """``/audit`` (page) and ``/api/audit`` (JSON), newest first, for admins."""

    guards = [require_admin]

    @get("/api/audit")
    async def api_audit(self, request: Request[Any, Any, Any], action: FromQuery[str | None] = None,
                        actor: FromQuery[str | None] = None,
                        before: FromQuery[int | None] = None) -> list[dict[str, Any]]:
        """Audit rows, newest first (100 a page); ``before`` = the last id seen, for older ones."""
        rows = await anyio.to_thread.run_sync(_rows, request, action, actor, before)
        for r in rows:
            r["ok"] = bool(r["ok"])
        return rows

    @get("/audit")
    async def audit_page(self, request: HTMXRequest, action: FromQuery[str | None] = None,
                         actor: FromQuery[str | None] = None, before: FromQuery[int | None] = None) -> Template:
        rows = await anyio.to_thread.run_sync(_rows, request, action, actor, before)
        older = rows[-1]["id"] if len(rows) == PAGE else None
        return Template("audit.html", context={
            "rows": rows, "older": older, "f": {"action": action or "", "actor": actor or ""},
            "days": request.app.state.runtime.config.server.audit_days})
