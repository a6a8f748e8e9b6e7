"""What CamPy knows about Reolink cameras: stream paths and the device-info call.

Paths (reference sheet ``reolink.md`` §2.1): ``/Preview_01_main`` and ``/Preview_01_sub``
are the current form and follow the camera's codec. The legacy ``/h264Preview_01_main``
answers 404 on 8 MP models (RLC-810A …) whose main stream is H.265: those answer on
``/h265Preview_01_main``. Sub is always H.264. RTSP port 554; Reolink documents no RTSPS,
so RTSPS is offered for cameras (and proxies) that have it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

# path choice → (main path, sub path)
PATHS: dict[str, tuple[str, str]] = {
    "preview": ("/Preview_01_main", "/Preview_01_sub"),
    "h265": ("/h265Preview_01_main", "/h264Preview_01_sub"),
    "h264": ("/h264Preview_01_main", "/h264Preview_01_sub"),
}
PATH_LABELS = {
    "preview": "Preview_01 (recommended: follows the camera's codec)",
    "h265": "h265Preview_01 (legacy; 8 MP models such as the RLC-810A at 4K)",
    "h264": "h264Preview_01 (legacy; H.264 main, e.g. ≤ 5 MP models)",
}
# transport choice → (URL scheme, default port)
TRANSPORTS: dict[str, tuple[str, int]] = {
    "rtsp": ("rtsp", 554),
    "rtspx": ("rtspx", 322),
    "rtsps": ("rtsps", 322),
}
TRANSPORT_LABELS = {
    "rtsp": "RTSP (port 554)",
    "rtspx": "RTSPS, camera's self-signed certificate (encrypted, certificate not checked)",
    "rtsps": "RTSPS, certificate checked",
}
_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+$|^\[[0-9A-Fa-f:]+\]$")


def host_error(host: str) -> str | None:
    """An error for a host field (``name``, ``1.2.3.4``, ``[::1]``, each with an optional ``:port``)."""
    if not host:
        return "the camera's address is required, e.g. 192.168.1.21"
    try:
        parts = urlsplit(f"//{host}")
        port = parts.port
    except ValueError:
        return "not an address; use e.g. 192.168.1.21 or 192.168.1.21:554"
    name = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    if not parts.hostname or not _HOST_RE.match(name) or "@" in host or "/" in host:
        return "not an address; use e.g. 192.168.1.21 or 192.168.1.21:554 (no credentials, no path)"
    return None


def stream_urls(host: str, *, transport: str = "rtsp", paths: str = "preview") -> tuple[str, str]:
    """Main and sub URLs (no credentials) for a Reolink camera at ``host`` (``host[:port]``)."""
    scheme, port = TRANSPORTS.get(transport, TRANSPORTS["rtsp"])
    main, sub = PATHS.get(paths, PATHS["preview"])
    netloc = host if urlsplit(f"//{host}").port else f"{host}:{port}"
    return f"{scheme}://{netloc}{main}", f"{scheme}://{netloc}{sub}"


def suggest_name(text: str) -> str:
    """A camera name (``[a-z0-9_]+``) from a device name or model."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


async def device_info(host: str, port: int, username: str, password: str, *,
                      timeout: float = 3.0) -> dict[str, Any] | None:
    """``GetDevInfo`` over the camera's HTTP API (``port`` 443 means HTTPS), or None.

    Cameras ship a self-signed certificate (reolink_aio does not verify it either); only
    the model and the device name are read, so nothing secret depends on it.
    """
    hostname = urlsplit(f"//{host}").hostname or host
    scheme = "https" if port == 443 else "http"
    try:
        async with httpx.AsyncClient(timeout=timeout, verify=False) as http:  # noqa: S501
            r = await http.post(f"{scheme}://{hostname}:{port}/cgi-bin/api.cgi",
                                params={"cmd": "GetDevInfo", "user": username, "password": password},
                                json=[{"cmd": "GetDevInfo", "action": 0, "param": {}}])
        items = r.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return None
    info = (items[0].get("value") or {}).get("DevInfo")
    return info if isinstance(info, dict) else None
