"""The notification list: health alert episodes (campy/alerts/healthrun.py), for admins.

Operators and viewers do not see it: a problem's message can name storage paths, go2rtc
errors and config issues that are an admin's business (operators see camera states on the
camera pages already).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from campy.errors import BadRequest
from campy.web.auth import current_user, require_admin

PAGE = 100


def _list(request: Request[Any, Any, Any], before: int | None, open_only: bool) -> list[dict[str, Any]]:
    return request.app.state.runtime.health_alerts.store.page(limit=PAGE, before_id=before, open_only=open_only)


def _ack(request: Request[Any, Any, Any], nid: int) -> dict[str, Any]:
    store = request.app.state.runtime.health_alerts.store
    if store.get(nid) is None:
        # 400, not 404: the id is input to check (404 here would read as "no such route")
        raise BadRequest(f"no notification {nid}; it may have been purged (see /notifications)")
    store.ack(nid, current_user(request).actor)
    row = store.get(nid)
    assert row is not None
    return row


class NotificationPages(Controller):
    guards = [require_admin]

    @get("/api/notifications")
    async def api_list(self, request: Request[Any, Any, Any], before: FromQuery[int | None] = None,
                       open: FromQuery[bool] = False) -> dict[str, Any]:
        """Health alert episodes, newest first (100 a page), and the engine's status."""
        rows = await anyio.to_thread.run_sync(_list, request, before, open)
        return {"items": rows, "health": request.app.state.runtime.health_alerts.status()}

    @post("/api/notifications/{nid:int}/ack", status_code=200)
    async def api_ack(self, request: Request[Any, Any, Any], nid: FromPath[int]) -> dict[str, Any]:
        """Acknowledge an episode (it stays open until the problem resolves)."""
        return await anyio.to_thread.run_sync(_ack, request, nid)

    @get("/notifications")
    async def page(self, request: HTMXRequest, before: FromQuery[int | None] = None,
                   open: FromQuery[bool] = False) -> Template:
        rows = await anyio.to_thread.run_sync(_list, request, before, open)
        older = rows[-1]["id"] if len(rows) == PAGE else None
        return Template("notifications.html", context={"rows": rows, "older": older, "open_only": open})

    @post("/notifications/{nid:int}/ack", status_code=200)
    async def ack_form(self, request: HTMXRequest, nid: FromPath[int]) -> Template:
        row = await anyio.to_thread.run_sync(_ack, request, nid)
        return Template("_notification_ack.html", context={"n": row})

    @get("/notifications/badge")
    async def badge(self, request: HTMXRequest) -> Template:
        """The header's count of open problems (htmx, every 30 s)."""
        n = await anyio.to_thread.run_sync(request.app.state.runtime.health_alerts.store.open_count)
        return Template("_notification_badge.html", context={"open_count": n})
