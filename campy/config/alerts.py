"""campy.yaml's ``alerts`` section: cross-checks against cameras and the model, and the
MQTT password from the secrets file (``password: !secret alerts_mqtt_password``, as the
settings page writes it)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from campy.config.detector import label_hint, unknown_labels
from campy.config.model import AlertsRaw, CameraConfig


def mqtt_secret(alerts: AlertsRaw, ref: str | None,
                load: Callable[[], tuple[dict[str, str] | None, str | None]], issue: Any) -> AlertsRaw:
    """``alerts`` with a ``!secret`` MQTT password (``ref``: its name) replaced by its value."""
    if ref is None or alerts.mqtt is None:
        return alerts
    secrets, error = load()
    at = ["alerts", "mqtt", "password"]
    if error:
        issue(at, error)
        return alerts
    if str(ref) not in (secrets or {}):
        issue(at, f"secret '{ref}' is not in the secrets file")
        return alerts
    mqtt = msgspec.structs.replace(alerts.mqtt, password=(secrets or {})[str(ref)])
    return msgspec.structs.replace(alerts, mqtt=mqtt)


def check_alerts(alerts: AlertsRaw, cameras: dict[str, CameraConfig], issue: Any,
                 names: tuple[str, ...] | None = None) -> None:
    if not 60 <= alerts.link_ttl_s <= 30 * 86_400:
        issue(["alerts", "link_ttl_s"], "must be 60-2592000 seconds (1 minute to 30 days)")
    for name, hook in alerts.webhooks.items():
        if not re.match(r"^https?://[^\s/]+", hook.url):
            issue(["alerts", "webhooks", name, "url"], "must be an http(s) URL")
        if not 0 < hook.timeout_seconds <= 60:
            issue(["alerts", "webhooks", name, "timeout_seconds"], "must be more than 0 and at most 60 seconds")
        if not 0 <= hook.retries <= 10:
            issue(["alerts", "webhooks", name, "retries"], "must be between 0 and 10")
    if alerts.mqtt is not None and not 1 <= alerts.mqtt.port <= 65535:
        issue(["alerts", "mqtt", "port"], f"port {alerts.mqtt.port} is out of range 1-65535")
    if alerts.mqtt is not None and not re.match(r"^[^/+#\s][^+#\s]*$", alerts.mqtt.discovery_prefix.rstrip("/")):
        issue(["alerts", "mqtt", "discovery_prefix"],
              "must be a topic prefix without '+', '#' or spaces, e.g. homeassistant")
    for name, rule in alerts.rules.items():
        if bad := unknown_labels(rule.labels, names):
            assert names is not None
            issue(["alerts", "rules", name, "labels"], label_hint(bad, names) + ": this rule would never fire")
        for cam in rule.cameras:
            if cam not in cameras:
                issue(["alerts", "rules", name, "cameras"], f"no camera named '{cam}'")
        for hook_name in rule.webhooks:
            if hook_name not in alerts.webhooks:
                issue(["alerts", "rules", name, "webhooks"], f"no webhook named '{hook_name}'")
        if rule.cooldown_seconds < 0:
            issue(["alerts", "rules", name, "cooldown_seconds"], "must not be negative")
        if rule.mqtt and alerts.mqtt is None and not rule.webhooks:
            issue(["alerts", "rules", name], "sends nowhere: no webhooks and no alerts.mqtt broker")
    check_health(alerts, issue)


def check_health(alerts: AlertsRaw, issue: Any) -> None:
    h, at = alerts.health, ["alerts", "health"]
    for hook_name in h.webhooks:
        if hook_name not in alerts.webhooks:
            issue([*at, "webhooks"], f"no webhook named '{hook_name}' (add it under alerts.webhooks)")
    for key, low, high in (("offline_after_s", 0, 86_400), ("disk_after_s", 0, 86_400),
                           ("clear_after_s", 0, 86_400), ("restart_window_s", 1, 86_400), ("tick_s", 0.2, 600)):
        if not low <= getattr(h, key) <= high:
            issue([*at, key], f"must be {low}-{high} seconds")
    if not 1 <= h.crashloop_restarts <= 100:
        issue([*at, "crashloop_restarts"], "must be 1-100 restarts")
