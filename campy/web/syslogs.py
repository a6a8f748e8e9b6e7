"""The recent warnings and errors (``Runtime.recent_log``, campy/logs.py) for admins:
``/system/logs`` (the system page's list, an HTMX partial) and ``/api/system/logs`` (JSON)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from campy.errors import BadRequest
from campy.web.auth import require_admin

MAX_FILTER_CHARS = 200
LEVELS = ("", "warning", "error", "critical")


def filters(level: str | None, logger: str | None, camera: str | None, q: str | None) -> dict[str, str]:
    """The filter values, checked: a known level, each text at most 200 characters."""
    f = {"level": (level or "").strip().lower(), "logger": (logger or "").strip(),
         "camera": (camera or "").strip(), "q": (q or "").strip()}
    if f["level"] not in LEVELS:
        raise BadRequest("level must be one of warning, error, critical (or empty for all)",
                         fields={"level": "one of warning, error, critical"})
    for key in ("logger", "camera", "q"):
        if len(f[key]) > MAX_FILTER_CHARS:
            raise BadRequest(f"{key} is too long: use at most {MAX_FILTER_CHARS} characters",
                             fields={key: f"at most {MAX_FILTER_CHARS} characters"})
    return f


class SystemLogs(Controller):
    guards = [require_admin]

    @get("/api/system/logs", sync_to_thread=False)
    def api_logs(self, request: Request[Any, Any, Any], level: FromQuery[str | None] = None,
                 logger: FromQuery[str | None] = None, camera: FromQuery[str | None] = None,
                 q: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        """Recent warnings and errors, newest first (at most 200; repeats collapsed, with
        ``count`` and ``last_ms``); filters: least ``level``, ``logger`` (name or prefix),
        ``camera``, ``q`` (text anywhere)."""
        f = filters(level, logger, camera, q)
        return [e.as_dict() for e in request.app.state.runtime.recent_log.entries(**f)]

    @get("/system/logs", sync_to_thread=False)
    def logs_partial(self, request: HTMXRequest, level: FromQuery[str | None] = None,
                     logger: FromQuery[str | None] = None, camera: FromQuery[str | None] = None,
                     q: FromQuery[str | None] = None) -> Template:
        f = filters(level, logger, camera, q)
        recent = request.app.state.runtime.recent_log
        context = {"log_filter": f, "log_entries": recent.entries(**f)}
        return Template("_system_logs.html" if request.htmx else "system_logs.html", context=context)
