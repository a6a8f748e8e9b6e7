"""Alerts: detection events out to MQTT and webhooks.

``rules`` decides (pure: matching and cooldowns), ``webhook`` and ``mqtt`` deliver, and
``dispatch`` ties them together behind a non-blocking ``submit``.
"""

from __future__ import annotations

from campy.alerts.dispatch import AlertDispatcher
from campy.alerts.mqtt import MqttConfig, MqttPublisher
from campy.alerts.rules import AlertEvent, AlertRule, Cooldowns, matching_rules
from campy.alerts.webhook import WebhookTarget, post_event

__all__ = [
    "AlertDispatcher",
    "AlertEvent",
    "AlertRule",
    "Cooldowns",
    "MqttConfig",
    "MqttPublisher",
    "WebhookTarget",
    "matching_rules",
    "post_event",
]
