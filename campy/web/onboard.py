"""Camera onboarding: fill stream URLs from a brand's known paths, and test them unsaved.

Both are htmx partials of the "Add camera" form (admin only, CSRF-checked like every form).
The password typed in the form goes only to the camera (the probe, GetDevInfo); it is never
logged, stored or echoed back, and every reason shown is scrubbed of it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from campy import reolink
from campy.config.urls import validate_camera_url
from campy.probe import StreamReport, probe_stream
from campy.streams import scrub

log = logging.getLogger(__name__)
BRANDS = {"reolink": "Reolink", "generic": "Other (generic RTSP)"}


@dataclass
class Onboard:
    """The brand part of the form (what the user types before the stream URLs)."""

    brand: str = "reolink"
    host: str = ""
    transport: str = "rtsp"
    paths: str = "preview"
    api_port: str = ""

    @classmethod
    def from_form(cls, form: dict[str, Any]) -> Onboard:
        def get(key: str, default: str) -> str:
            return str(form.get(key, default) or default).strip()

        ob = cls(brand=get("brand", "reolink"), host=get("host", ""), transport=get("transport", "rtsp"),
                 paths=get("paths", "preview"), api_port=get("api_port", ""))
        if ob.brand not in BRANDS:
            ob.brand = "reolink"
        if ob.transport not in reolink.TRANSPORTS:
            ob.transport = "rtsp"
        if ob.paths not in reolink.PATHS:
            ob.paths = "preview"
        return ob


def choices() -> dict[str, Any]:
    """Select options for the template."""
    return {"brands": BRANDS, "transports": reolink.TRANSPORT_LABELS, "path_choices": reolink.PATH_LABELS}


async def fill(form: dict[str, Any]) -> dict[str, Any]:
    """Context for ``_camera_urls.html``: URLs (and name/title from GetDevInfo) filled in."""
    ob = Onboard.from_form(form)
    cam = {k: str(form.get(k, "") or "").strip() for k in ("name", "title", "main", "sub")}
    errors: dict[str, str] = {}
    note = ""
    if ob.brand == "reolink":
        err = reolink.host_error(ob.host)
        if err:
            errors["host"] = err
        else:
            cam["main"], cam["sub"] = reolink.stream_urls(ob.host, transport=ob.transport, paths=ob.paths)
            note = "Stream URLs filled from Reolink's paths; edit them if your camera differs."
            info = await _device_info(ob, form)
            if info:
                model, devname = str(info.get("model", "")), str(info.get("name", ""))
                note = f"Found a Reolink {model} named {devname!r}. " + note
                cam["title"] = cam["title"] or (f"{devname} ({model})" if devname else model)
                cam["name"] = cam["name"] or reolink.suggest_name(devname or model)
    return {"cam": cam, "errors": errors, "note": note}


async def _device_info(ob: Onboard, form: dict[str, Any]) -> dict[str, Any] | None:
    if not ob.api_port:
        return None
    try:
        port = int(ob.api_port)
    except ValueError:
        return None
    if not 0 < port < 65536:
        return None
    return await reolink.device_info(ob.host, port, str(form.get("username", "")).strip(),
                                     str(form.get("password", "")))


async def test(form: dict[str, Any], *, secrets: list[str]) -> dict[str, Any]:
    """Context for ``_probe_result.html``: each stream probed at once, nothing saved."""
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    urls = {"main": str(form.get("main", "")).strip(), "sub": str(form.get("sub", "")).strip()}
    if not urls["main"]:
        return {"error": "Fill in the main stream URL (or a Reolink camera's address) first.", "reports": {}}
    reports: dict[str, StreamReport] = {}
    tasks: dict[str, asyncio.Task[StreamReport]] = {}
    for role, url in urls.items():
        if not url:
            continue
        bad = validate_camera_url(url)
        if bad:
            reports[role] = StreamReport(url=url, kind="error", message=bad)
        else:
            tasks[role] = asyncio.create_task(probe_stream(url, username, password))
    for role, task in tasks.items():
        reports[role] = await task
    hide = [password, *secrets]
    for r in reports.values():
        r.message = scrub(r.message, hide)
        log.info("camera test %s: %s %s", scrub(r.url, hide), r.kind, r.message)
    return {"error": "", "reports": {role: reports[role] for role in ("main", "sub") if role in reports}}
