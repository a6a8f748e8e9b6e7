"""``GET /metrics``: Prometheus metrics for an admin (session or token) or a metrics token."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from campy.metrics import CONTENT_TYPE, scrape
from campy.web.auth import require_metrics


@get("/metrics", guards=[require_metrics], include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Read at scrape time (campy/metrics.py); docs/metrics.md lists every metric."""
    body = await scrape(request.app.state.runtime, request.app.state.get("http_metrics"))
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
