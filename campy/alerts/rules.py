"""Which alert rules an event matches, and whether a rule's cooldown lets it through.

Pure: no I/O and no clock reads. The dispatcher (``campy.alerts.dispatch``) passes the
time in, so tests drive cooldowns with plain numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec


class AlertRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When to alert: an empty ``cameras``/``labels``/``zones`` list means "any".

    ``cooldown_seconds`` applies per rule and per camera: after a rule sends an event of a
    camera, later events of that camera are not sent by that rule until it has passed.
    ``webhooks`` names webhook targets; ``mqtt`` also publishes the alert on MQTT.
    """

    name: str
    cameras: list[str] = []
    labels: list[str] = []
    zones: list[str] = []
    cooldown_seconds: float = 60
    webhooks: list[str] = []
    mqtt: bool = True


EventKind = Literal["start", "update", "end"]


class AlertEvent(msgspec.Struct, frozen=True):
    """One tracked object's life as the detector reports it: ``start``, ``update``\\s, ``end``.

    ``id`` stays the same for all three kinds; ``zones`` are the zones the object has been
    in so far; ``end_ms`` is None until the object is gone.
    """

    id: int
    camera: str
    label: str
    score: float
    start_ms: int
    end_ms: int | None
    zones: list[str]
    snapshot_url: str
    clip_url: str
    kind: EventKind = "start"
    links_expire_ms: int | None = None  # when the signed snapshot/clip links stop working


def event_payload(event: AlertEvent) -> dict[str, Any]:
    """The JSON-ready form of ``event`` that MQTT and webhooks send: ``kind`` becomes ``type``."""
    data = msgspec.structs.asdict(event)
    kind = data.pop("kind")
    return {"type": kind, **data}


def rule_matches(rule: AlertRule, event: AlertEvent) -> bool:
    """Whether ``event`` is one ``rule`` is about (cooldown aside)."""
    if rule.cameras and event.camera not in rule.cameras:
        return False
    if rule.labels and event.label not in rule.labels:
        return False
    if rule.zones and not set(rule.zones).intersection(event.zones):
        return False
    return True


def matching_rules(event: AlertEvent, rules: Iterable[AlertRule]) -> list[AlertRule]:
    """The rules ``event`` matches, in the order given."""
    return [rule for rule in rules if rule_matches(rule, event)]


class Cooldowns:
    """Remembers when each (rule, camera) last sent, to hold back events within its cooldown.

    Times are milliseconds on any counter that does not run backwards (the dispatcher
    uses ``Clock.monotonic``). If it does go back, the event is allowed rather than held
    for however long the jump was.
    """

    def __init__(self) -> None:
        self._last_ms: dict[tuple[str, str], int] = {}

    def allow(self, rule: AlertRule, camera: str, now_ms: int) -> bool:
        """True (and the cooldown restarts at ``now_ms``) if ``rule`` may send for ``camera``."""
        key = (rule.name, camera)
        last = self._last_ms.get(key)
        if last is not None and 0 <= now_ms - last < rule.cooldown_seconds * 1000:
            return False
        self._last_ms[key] = now_ms
        return True

    def forget(self, rule_name: str) -> None:
        """Drop a rule's cooldowns (e.g. when the rule was removed or changed)."""
        for key in [k for k in self._last_ms if k[0] == rule_name]:
            del self._last_ms[key]
