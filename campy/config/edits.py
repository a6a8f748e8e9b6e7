"""Settings pages' edits of campy.yaml: a camera's recording and detection settings, its
motion masks, and the alerts section (webhooks, MQTT, rules).

Every edit goes through ``ConfigStore._edit``: the round-trip document keeps comments and
key order, the result is validated exactly as a load, and only then written atomically.
A key is written only when its value differs from the default or the file already has it,
so a save never dumps every default into the user's file. ``None`` as a value means "back
to the default": the key is removed.
"""

from __future__ import annotations

from typing import Any

import msgspec
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar

from campy.config.errors import ConfigError, ConfigIssue
from campy.config.loader import _plain
from campy.config.model import NAME_RE, CameraDetectRaw, CameraRecordRaw, RuleRaw, WebhookRaw

MQTT_SECRET = "alerts_mqtt_password"  # the secrets file's key for the broker's password


def _defaults(struct: Any) -> dict[str, Any]:
    out = {}
    for f in msgspec.structs.fields(struct):
        if f.default is not msgspec.NODEFAULT:
            out[f.name] = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            out[f.name] = f.default_factory()
    return out


RECORD_DEFAULTS = _defaults(CameraRecordRaw)
DETECT_DEFAULTS = _defaults(CameraDetectRaw)
WEBHOOK_DEFAULTS = _defaults(WebhookRaw)
RULE_DEFAULTS = _defaults(RuleRaw)
MQTT_DEFAULTS = {"port": 1883, "username": None, "password": None, "topic_prefix": "campy",
                 "client_id": "campy", "tls": False}


def _flow(values: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _yaml_value(value: Any) -> Any:
    return _flow(list(value)) if isinstance(value, (list, tuple)) else value


def _merge(section: CommentedMap, values: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Write ``values`` into ``section``: changed keys only, defaults only where present."""
    if not len(section):
        section.fa.set_block_style()  # `detect: {}` grows into a block, not a long flow line
    for key, value in values.items():
        if value is None:
            section.pop(key, None)
        elif key in section:
            if _plain(section[key]) != (list(value) if isinstance(value, tuple) else value):
                section[key] = _yaml_value(value)
        elif key not in defaults or value != defaults[key]:
            section[key] = _yaml_value(value)


def _block(parent: CommentedMap, key: str) -> CommentedMap:
    node = parent.get(key)
    if not isinstance(node, CommentedMap):
        node = CommentedMap()
        parent[key] = node
    node.fa.set_block_style()
    return node


def _camera(store: Any, doc: Any, name: str) -> CommentedMap:
    cams = store._cameras(doc)
    if name not in cams:
        raise ConfigError([ConfigIssue(f"cameras.{name}", None, f"no camera '{name}'")])
    return cams[name]


def set_record(store: Any, camera: str, values: dict[str, Any]) -> None:
    """``cameras.<camera>.record``: enabled, mode, days, event_days, pre/post roll."""
    store._refuse_readonly(camera)

    def mutate(doc: Any) -> None:
        entry = _camera(store, doc, camera)
        section = entry.get("record")
        fresh = not isinstance(section, CommentedMap)
        if fresh:
            section = CommentedMap()
        _merge(section, values, RECORD_DEFAULTS)
        if fresh and len(section):
            entry["record"] = section

    store._edit(mutate)


def set_detect(store: Any, camera: str, values: dict[str, Any]) -> None:
    """``cameras.<camera>.detect``: enabled, fps, labels, min_score, min_area. A camera with
    no ``detect`` section has detection off: turning it on adds the section."""
    store._refuse_readonly(camera)

    def mutate(doc: Any) -> None:
        entry = _camera(store, doc, camera)
        section = entry.get("detect")
        if isinstance(section, CommentedMap):
            _merge(section, values, DETECT_DEFAULTS)
            return
        section = CommentedMap()
        on = values.get("enabled", True)
        rest = {k: v for k, v in values.items() if k != "enabled"}
        _merge(section, rest, DETECT_DEFAULTS)
        if on or len(section):
            if not on:
                section.insert(0, "enabled", False)
            entry["detect"] = section

    store._edit(mutate)


def _coord(v: float) -> float | int:
    v = round(float(v), 1)
    return int(v) if v.is_integer() else v


def set_mask(store: Any, camera: str, index: int | None, points: list[tuple[float, float]] | None) -> None:
    """Add (``index`` None), replace or (``points`` None) remove a motion mask of ``camera``;
    points are in the detect frame's pixels, like zones."""
    store._refuse_readonly(camera)
    at = f"cameras.{camera}.detect.motion_masks"

    def mutate(doc: Any) -> None:
        entry = _camera(store, doc, camera)
        if not isinstance(entry.get("detect"), CommentedMap):
            if points is None:
                raise ConfigError([ConfigIssue(at, None, "this camera has no motion masks")])
            entry["detect"] = CommentedMap()
        detect = entry["detect"]
        masks = detect.get("motion_masks")
        if not isinstance(masks, CommentedSeq):
            masks = CommentedSeq()
            detect["motion_masks"] = masks
        if index is not None and not 0 <= index < len(masks):
            raise ConfigError([ConfigIssue(at, None, f"no mask {index + 1} (the camera has {len(masks)})")])
        if points is None:
            assert index is not None
            del masks[index]
            if not masks:
                del detect["motion_masks"]
            return
        poly = _flow([_flow([_coord(x), _coord(y)]) for x, y in points])
        if index is None:
            masks.append(poly)
        else:
            masks[index] = poly

    store._edit(mutate)


# -- alerts ------------------------------------------------------------------------------

def _name_problem(kind: str, name: str) -> ConfigIssue | None:
    if not NAME_RE.match(name):
        return ConfigIssue(f"alerts.{kind}", None, f"'{name}' is not a valid name: use lower-case "
                           "letters, digits and '_'")
    return None


def _alerts(doc: Any) -> CommentedMap:
    return _block(doc, "alerts")


def set_webhook(store: Any, name: str, *, url: str, headers: dict[str, str] | None,
                timeout_seconds: Any, retries: Any) -> None:
    """Add or change ``alerts.webhooks.<name>``; ``headers`` None keeps the current ones."""
    if (problem := _name_problem("webhooks", name)) is not None:
        raise ConfigError([problem])

    def mutate(doc: Any) -> None:
        hooks = _block(_alerts(doc), "webhooks")
        entry = hooks.get(name)
        if not isinstance(entry, CommentedMap):
            entry = CommentedMap()
            hooks[name] = entry
        _merge(entry, {"url": url, "timeout_seconds": timeout_seconds, "retries": retries}, WEBHOOK_DEFAULTS)
        if headers is not None:
            if headers:
                block = CommentedMap(headers)
                entry["headers"] = block
            else:
                entry.pop("headers", None)

    store._edit(mutate)


def _delete(store: Any, kind: str, name: str) -> None:
    def mutate(doc: Any) -> None:
        section = (doc.get("alerts") or {}).get(kind)
        if not isinstance(section, CommentedMap) or name not in section:
            raise ConfigError([ConfigIssue(f"alerts.{kind}.{name}", None, f"no {kind[:-1]} named '{name}'")])
        del section[name]
        if not section:
            del doc["alerts"][kind]

    store._edit(mutate)


def delete_webhook(store: Any, name: str) -> None:
    _delete(store, "webhooks", name)


def set_rule(store: Any, name: str, values: dict[str, Any]) -> None:
    """Add or change ``alerts.rules.<name>`` (cameras, labels, zones, cooldown_seconds,
    webhooks, mqtt)."""
    if (problem := _name_problem("rules", name)) is not None:
        raise ConfigError([problem])

    def mutate(doc: Any) -> None:
        rules = _block(_alerts(doc), "rules")
        entry = rules.get(name)
        if not isinstance(entry, CommentedMap):
            entry = CommentedMap()
            rules[name] = entry
        _merge(entry, values, RULE_DEFAULTS)

    store._edit(mutate)


def delete_rule(store: Any, name: str) -> None:
    _delete(store, "rules", name)


def set_mqtt(store: Any, values: dict[str, Any], *, password: str | None, clear_password: bool) -> None:
    """``alerts.mqtt``: host, port, username, topic_prefix, tls. A typed ``password`` goes
    to the secrets file (``!secret alerts_mqtt_password``); None keeps the current one."""

    def mutate(doc: Any) -> None:
        mqtt = _block(_alerts(doc), "mqtt")
        _merge(mqtt, values, MQTT_DEFAULTS)
        if password:
            mqtt["password"] = TaggedScalar(value=MQTT_SECRET, tag="!secret")
        elif clear_password:
            mqtt.pop("password", None)

    store._edit(mutate, secret=(MQTT_SECRET, password) if password else None)


def delete_mqtt(store: Any) -> None:
    def mutate(doc: Any) -> None:
        alerts = doc.get("alerts")
        if not isinstance(alerts, CommentedMap) or "mqtt" not in alerts:
            raise ConfigError([ConfigIssue("alerts.mqtt", None, "no MQTT broker is set up")])
        del alerts["mqtt"]

    store._edit(mutate)
