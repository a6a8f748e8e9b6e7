"""The Litestar application: routes, auth, CSRF, templates, static files, errors."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from campy import __version__
from campy.localtime import of_runtime
from campy.web.alert_settings import AlertSettingsPages
from campy.web.api import ApiController
from campy.web.auditing import AuditController
from campy.web.auth import TokenAwareCSRFMiddleware, camera_guard, csrf_config, make_session_auth
from campy.web.apidocs import render_plugins
from campy.web.errors import HANDLERS
from campy.web.events import EventsApi, EventsPages, ZonePages
from campy.web.embed import ROUTES as EMBED_ROUTES
from campy.web.headers import SecurityHeadersMiddleware
from campy.web.live import LiveController, player
from campy.metrics import HttpMetrics
from campy.web.metrics import metrics
from campy.web.notifications import NotificationPages
from campy.web.pages import AuthController, PageController
from campy.web.system import SystemApi, SystemPages
from campy.web.recordings import RecordingsApi, RecordingsPages
from campy.web.settings import CameraSettingsPages
from campy.web.users import AccountPages, UsersApi, UsersPages
from campy.web.signed import SignedLinks
from campy.web.syslogs import SystemLogs
from campy.web.tokens import TokenPages, TokensApi

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"


@get("/healthz", sync_to_thread=False, include_in_schema=False)
def healthz() -> str:
    """Liveness: says only that the web server answers."""
    return "ok"


def _csrf_secret(data_dir: Path) -> str:
    path = data_dir / "csrf.secret"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def _engine_callback(runtime: Any) -> Callable[[JinjaTemplateEngine], None]:
    def local(ms: int | None, short: bool = False) -> str:
        """Epoch ms as the zone's local time (``server.timezone``), with its abbreviation."""
        return of_runtime(runtime).format(ms, "%H:%M:%S" if short else "%Y-%m-%d %H:%M:%S %Z")

    def setup(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["campy_version"] = __version__
        engine.engine.filters["local"] = local
        engine.engine.filters["utc"] = local  # the old name, for templates not yet renamed
    return setup


def create_app(runtime: Any, *, manage_runtime: bool = True, secure_cookies: bool = False,
               tls_fingerprint: str | None = None) -> Litestar:
    """Build the app around a ``Runtime``; with ``manage_runtime`` the app starts/stops it.

    ``secure_cookies``: the listener itself speaks TLS. Behind a TLS-terminating proxy the
    cookies get ``Secure`` per request instead (campy.web.headers). ``tls_fingerprint`` is
    shown on the system page.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if manage_runtime:
            await runtime.start()
        try:
            yield
        finally:
            if manage_runtime:
                await runtime.stop()

    auth = make_session_auth(secure_cookie=secure_cookies)
    http_metrics = HttpMetrics()
    app = Litestar(
        route_handlers=[
            healthz,
            metrics,
            AuthController,
            PageController,
            ApiController,
            LiveController,
            player,
            *EMBED_ROUTES,
            RecordingsApi,
            RecordingsPages,
            EventsApi,
            EventsPages,
            ZonePages,
            CameraSettingsPages,
            AlertSettingsPages,
            UsersApi,
            UsersPages,
            AccountPages,
            AuditController,
            SystemApi,
            SystemPages,
            TokensApi,
            TokenPages,
            SignedLinks,
            SystemLogs,
            NotificationPages,
            create_static_files_router(path="/static", directories=[STATIC], name="static",
                                       include_in_schema=False),
        ],
        on_app_init=[auth.on_app_init],
        stores={"sessions": runtime.sessions},
        # Litestar's CSRF check, installed here (not as csrf_config) so that requests carrying
        # an API token skip it; templates still get csrf_token() from the scope it sets.
        middleware=[DefineMiddleware(TokenAwareCSRFMiddleware,
                                     config=csrf_config(_csrf_secret(runtime.data_dir),
                                                        secure_cookie=secure_cookies))],
        guards=[camera_guard],
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine,
                                       engine_callback=_engine_callback(runtime)),
        plugins=[HTMXPlugin()],
        exception_handlers=HANDLERS,
        openapi_config=OpenAPIConfig(title="CamPy", version=__version__, path="/api/schema",
                                     render_plugins=render_plugins()),
        lifespan=[lifespan],
        logging_config=None,  # CamPy configures logging once, in campy.cli
        state=State({"runtime": runtime, "tls_fingerprint": tls_fingerprint, "http_metrics": http_metrics}),
    )
    # Around the whole handler, not in `middleware=`: Litestar runs that only for matched
    # routes, and a 404 or 405 needs the security headers too.
    app.asgi_handler = SecurityHeadersMiddleware(app.asgi_handler)
    app.asgi_handler = http_metrics.wrap(app.asgi_handler)  # counts every request, 404s included
    return app
