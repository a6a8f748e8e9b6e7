"""A camera's settings page (recording and detection) and its motion masks (admins).

Each save goes through ``campy.config.edits`` (validated as a load, comments kept, written
atomically), then CamPy reloads at once: a recording change reaches retention and the
recorder, a detection change restarts the camera's detection worker. A refused value is
shown beside its field with the YAML key and the message a file load would give.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from campy.config import ConfigError
from campy.config import edits
from campy.config.edits import DETECT_DEFAULTS, RECORD_DEFAULTS
from campy.errors import BadRequest, NotFound
from campy.web.auditing import audit, changed
from campy.web.auth import require_admin
from campy.web.events import _zones_context, issue_lines

RECORD_KEYS = ("enabled", "mode", "days", "event_days", "pre_roll_seconds", "post_roll_seconds")
DETECT_KEYS = ("enabled", "fps", "labels", "min_score", "min_area")
MODES = {"continuous": "Continuous: keep everything for the days below",
         "motion": "Motion: keep footage around motion and objects",
         "events": "Events: keep footage around detected objects only"}


def number(text: Any) -> Any:
    """A form field as YAML would read it: "" → None (the default), "7" → 7, "0.5" → 0.5;
    anything else stays text, so validation reports it with the file's own message."""
    value = str(text if text is not None else "").strip()
    if value == "":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _checked(form: Any, key: str) -> bool:
    return str(form.get(key, "")).lower() in ("on", "true", "1", "yes")


def _labels(form: Any) -> list[str]:
    picked = [str(v) for v in form.getall("labels", [])] if hasattr(form, "getall") else []
    typed = str(form.get("labels_text", ""))
    return picked + [t.strip() for t in typed.split(",") if t.strip()]


def record_values(form: Any) -> dict[str, Any]:
    mode = str(form.get("mode", "")).strip()
    return {"enabled": _checked(form, "enabled"), "mode": mode or None,
            **{k: number(form.get(k)) for k in ("days", "event_days", "pre_roll_seconds", "post_roll_seconds")}}


def detect_values(form: Any) -> dict[str, Any]:
    return {"enabled": _checked(form, "enabled"), "fps": number(form.get("fps")), "labels": _labels(form),
            "min_score": number(form.get("min_score")), "min_area": number(form.get("min_area"))}


def field_errors(err: ConfigError, prefix: str) -> dict[str, str]:
    """Issues under ``prefix`` (``cameras.front.record``) by key; others under "_". Each
    message starts with the YAML key path, as ``campy check-config`` prints it."""
    out: dict[str, str] = {}
    own = [i for i in err.issues if i.path == prefix or i.path.startswith(prefix + ".")]
    # A refused camera also fails what refers to it (a rule naming it): show the cause only.
    for issue in own or err.issues:
        text = f"{issue.path}: {issue.message}" if issue.path else issue.message
        key = issue.path[len(prefix) + 1:].split(".")[0] if issue.path.startswith(prefix + ".") else "_"
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out


def _tidy(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _shown(current: Any, defaults: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: _tidy(getattr(current, k) if current is not None else defaults[k]) for k in keys}


def settings_context(runtime: Any, name: str, *, section: str | None = None,
                     typed: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                     saved: str | None = None) -> dict[str, Any]:
    cam = runtime.config.cameras.get(name)
    if cam is None:
        raise NotFound(f"no camera {name!r}")
    rec = _shown(cam.record, RECORD_DEFAULTS, RECORD_KEYS)
    det = _shown(cam.detect, DETECT_DEFAULTS, DETECT_KEYS)
    det["labels"] = list(det["labels"])
    if cam.detect is None:
        det["enabled"] = False
    shown = {"record": rec, "detect": det}
    if section in shown and typed is not None:
        shown[section].update({k: v for k, v in typed.items() if v is not None or k in ("mode",)})
        if section == "record" and not shown["record"].get("mode"):
            shown["record"]["mode"] = RECORD_DEFAULTS["mode"]
    detector = runtime.config.detection.detector
    names = list(detector.label_names) if detector.label_names else None
    extra = [lbl for lbl in det["labels"] if names is not None and lbl not in names]
    return {"name": name, "title": cam.title or name, "rec": rec, "det": det, "modes": MODES,
            "label_names": names, "extra_labels": extra, "object_model": detector.model is not None,
            "readonly": name in runtime.store.readonly, "section": section,
            "errors": errors or {}, "saved": saved}


class CameraSettingsPages(Controller):
    guards = [require_admin]

    @get("/cameras/{name:str}/settings", sync_to_thread=False)
    def settings_page(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        return Template("camera_settings.html", context=settings_context(request.app.state.runtime, name))

    @post("/cameras/{name:str}/settings", status_code=200)
    async def save_settings(self, request: HTMXRequest, name: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        settings_context(runtime, name)  # 404 for a camera that is not there
        form = await request.form()
        section = str(form.get("section", ""))
        if section == "record":
            values, apply = record_values(form), edits.set_record
        elif section == "detect":
            values, apply = detect_values(form), edits.set_detect
        else:
            raise BadRequest("section must be record or detect", fields={"section": "record or detect"})
        before = settings_context(runtime, name)["rec" if section == "record" else "det"]
        try:
            apply(runtime.store, name, values)
        except ConfigError as err:
            ctx = settings_context(runtime, name, section=section, typed=values,
                                   errors=field_errors(err, f"cameras.{name}.{section}"))
            return Template("camera_settings.html", context=ctx, status_code=200 if request.htmx else 400)
        touched = [k for k, v in values.items() if v is not None and before.get(k) != v]
        await audit(request, f"config.camera.{section}", target=name, detail=changed(touched))
        await runtime.reload_now()
        return Template("camera_settings.html", context=settings_context(runtime, name, saved=section))

    @post("/cameras/{name:str}/masks", status_code=200)
    async def save_mask(self, request: HTMXRequest, name: FromPath[str],
                        index: FromQuery[int | None] = None) -> Template:
        """Add a motion mask (or, with ``index``, replace that one: a dragged vertex)."""
        runtime = request.app.state.runtime
        _zones_context(runtime, name)
        form = await request.form()
        errors: list[str] = []
        raw_index = number(form.get("index", index if index is not None else ""))
        try:
            points = [(float(x), float(y)) for x, y in json.loads(str(form.get("points", "[]")))]
        except (ValueError, TypeError):
            points, errors = [], ["the points are not a list of [x, y] pairs"]
        if raw_index is not None and not isinstance(raw_index, int):
            errors.append("index must be a whole number")
        if not errors:
            try:
                edits.set_mask(runtime.store, name, raw_index - 1 if isinstance(raw_index, int) else None, points)
                await audit(request, "config.mask.set", target=name, detail="points")
                await runtime.reload_now()
            except ConfigError as err:
                errors = issue_lines(err, f"cameras.{name}")
        ctx = _zones_context(runtime, name, errors=errors,
                             saved=None if errors else "mask")
        return Template("zones.html", context=ctx, status_code=200 if request.htmx or not errors else 400)

    @post("/cameras/{name:str}/masks/{index:int}/delete", status_code=200)
    async def delete_mask(self, request: HTMXRequest, name: FromPath[str], index: FromPath[int]) -> Template:
        runtime = request.app.state.runtime
        _zones_context(runtime, name)
        errors: list[str] = []
        try:
            edits.set_mask(runtime.store, name, index - 1, None)
            await audit(request, "config.mask.delete", target=name, detail=str(index))
            await runtime.reload_now()
        except ConfigError as err:
            errors = issue_lines(err, f"cameras.{name}")
        return Template("zones.html", context=_zones_context(runtime, name, errors=errors),
                        status_code=200 if request.htmx or not errors else 400)
