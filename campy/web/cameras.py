"""Camera create/update/delete shared by the HTML forms and the JSON API.

Both paths validate through ``ConfigStore`` (the same checks as loading campy.yaml), write
campy.yaml back atomically, then apply the change at once (reconcile, no go2rtc restart).
"""

from __future__ import annotations

from typing import Any

import msgspec

from campy.config import ConfigError
from campy.errors import BadRequest, Conflict, NotFound
from campy.web.auditing import audit, changed

FIELDS = ("name", "title", "main", "sub", "username", "password", "enabled", "h265_fallback")


class CameraIn(msgspec.Struct, forbid_unknown_fields=True):
    """A camera as a form or API client sends it. Empty strings mean 'not set'."""

    name: str = ""
    title: str = ""
    main: str = ""
    sub: str = ""
    username: str = ""
    password: str = ""
    enabled: bool = True
    h265_fallback: str = "sub"
    # New cameras only: start object detection (the shipped model, on the sub stream) at once.
    detect: bool = False


def form_to_camera(form: dict[str, Any]) -> CameraIn:
    return CameraIn(
        name=str(form.get("name", "")).strip(),
        title=str(form.get("title", "")).strip(),
        main=str(form.get("main", "")).strip(),
        sub=str(form.get("sub", "")).strip(),
        username=str(form.get("username", "")).strip(),
        password=str(form.get("password", "")),
        enabled=str(form.get("enabled", "")).lower() in ("on", "true", "1", "yes"),
        h265_fallback=str(form.get("h265_fallback", "sub")),
        detect=str(form.get("detect", "")).lower() in ("on", "true", "1", "yes"),
    )


def _fields_from(err: ConfigError, name: str) -> dict[str, str]:
    """Map config issues (``cameras.<name>.main``) to form fields (``main``)."""
    fields: dict[str, str] = {}
    prefix = f"cameras.{name}"
    for issue in err.issues:
        path = issue.path or ""
        if path == prefix or path == "cameras":
            key = "name"
        elif path.startswith(prefix + "."):
            key = path[len(prefix) + 1:].split(".")[0]
        else:
            key = "_"
        fields.setdefault(key if key in FIELDS else "_", issue.message)
    return fields


def _kwargs(cam: CameraIn) -> dict[str, Any]:
    """Store keyword arguments; an empty password means "keep the current one"."""
    return {
        "title": cam.title or None,
        "main": cam.main,
        "sub": cam.sub or None,
        "username": cam.username or None,
        "password": cam.password or None,
        "enabled": cam.enabled,
        "h265_fallback": cam.h265_fallback,
    }


def _changed_fields(old: Any, cam: CameraIn) -> list[str]:
    """Names (never values) of the fields an update changes; a password counts when given."""
    new = _kwargs(cam)
    out = [k for k in ("title", "main", "sub", "username", "enabled", "h265_fallback") if getattr(old, k) != new[k]]
    return out + (["password"] if cam.password else [])


async def create_camera(runtime: Any, cam: CameraIn, *, request: Any = None) -> None:
    if not cam.name:
        raise BadRequest("the camera needs a name", fields={"name": "required"})
    if cam.name in runtime.config.cameras:
        raise Conflict(f"a camera named {cam.name!r} exists", fields={"name": "already exists"})
    try:
        runtime.store.add_camera(cam.name, **_kwargs(cam), detect=cam.detect)
    except ConfigError as err:
        raise BadRequest("the camera was not saved", fields=_fields_from(err, cam.name)) from err
    if request is not None:
        await audit(request, "config.camera.add", target=cam.name,
                    detail=changed([k for k, v in _kwargs(cam).items() if v not in (None, "")]
                                   + (["detect"] if cam.detect else [])))
    await runtime.reload_now()


async def update_camera(runtime: Any, name: str, cam: CameraIn, *, request: Any = None) -> None:
    if name not in runtime.config.cameras:
        raise NotFound(f"no camera {name!r}")
    fields = _changed_fields(runtime.config.cameras[name], cam)
    try:
        runtime.store.update_camera(name, **_kwargs(cam))
    except ConfigError as err:
        raise BadRequest("the camera was not saved", fields=_fields_from(err, name)) from err
    if request is not None:
        await audit(request, "config.camera.update", target=name, detail=changed(fields))
    await runtime.reload_now()


async def delete_camera(runtime: Any, name: str, *, request: Any = None) -> None:
    if name not in runtime.config.cameras:
        raise NotFound(f"no camera {name!r}")
    try:
        runtime.store.delete_camera(name)
    except ConfigError as err:
        raise BadRequest(str(err)) from err
    if request is not None:
        await audit(request, "config.camera.delete", target=name)
    await runtime.reload_now()


def camera_view(runtime: Any, name: str, *, admin: bool) -> dict[str, Any]:
    """What pages and the API show about a camera: never a password or a secret."""
    cam = runtime.config.cameras[name]
    health = runtime.health.get(name).as_dict()
    out: dict[str, Any] = {
        "name": name,
        "title": cam.title or name,
        "enabled": cam.enabled,
        "state": health["state"],
        "message": health["message"],
        "bitrate_kbps": health["bitrate_kbps"],
        "viewers": health["viewers"],
        "main_codec": health["main_codec"],
        "h265_fallback": cam.h265_fallback,
        "streams": {
            spec.role: spec.name for spec in runtime.specs.values() if spec.camera == name
        },
    }
    if admin:
        out["main"] = cam.main
        out["sub"] = cam.sub
        out["username"] = cam.username
        out["password_set"] = cam.password is not None
        out["password_ref"] = cam.password_ref if cam.password_ref != "(plain)" else "(plain text)"
    return out
