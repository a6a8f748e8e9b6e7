"""Health alerts at run time: a tick (``run``, a task of the runtime) observes, steps the episodes
and delivers each transition to the notification list, the ``alerts.health.webhooks`` and
MQTT.

Webhook payload (JSON POST)::

    {"type": "health", "kind": "camera_offline", "scope": "front", "state": "firing",
     "since": "2026-12-07T05:00:00Z", "since_ms": …, "at_ms": …, "message": "…", "id": 12}

MQTT (``alerts.mqtt``, when ``alerts.health.mqtt`` is true): the same JSON on
``<prefix>/health`` (not retained), and ``ON``/``OFF`` (retained) on
``<prefix>/health/<scope>/<kind>/state``. At the first tick every state topic of every
configured camera × camera kind and every system kind is published, so subscribers see
``OFF`` rather than nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from campy.alerts.health import CAMERA_KINDS, SYSTEM, SYSTEM_KINDS, Episodes, Observer, Transition
from campy.alerts.mqtt import topic_part
from campy.alerts.webhook import post_event
from campy.db.notifications import NotificationStore

log = logging.getLogger(__name__)


def state_topic(prefix: str, scope: str, kind: str) -> str:
    return f"{prefix.rstrip('/')}/health/{topic_part(scope)}/{topic_part(kind)}/state"


def payload(t: Transition, nid: int | None) -> dict[str, Any]:
    since = datetime.fromtimestamp(t.since_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "health", "kind": t.kind, "scope": t.scope, "state": t.state, "since": since,
            "since_ms": t.since_ms, "at_ms": t.at_ms, "message": t.message, "id": nid}


class HealthAlerts:
    """Owned by the ``Runtime``; ``tick`` runs every ``alerts.health.tick_s`` seconds."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.store = NotificationStore(runtime.db, clock=runtime.clock)
        self.observer = Observer()
        self.episodes: Episodes | None = None
        self.ticks = 0
        self.tick_ms: float | None = None  # how long the last evaluation took
        self.stats = {"fired": 0, "resolved": 0, "webhooks_sent": 0, "webhooks_failed": 0, "mqtt": 0}
        self._http: httpx.AsyncClient | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._announced: set[tuple[str, str]] = set()
        self._mqtt_seen: Any = None

    @property
    def cfg(self) -> Any:
        return self.rt.config.alerts.health

    async def run(self) -> None:
        """Tick every ``alerts.health.tick_s`` seconds (read each time: a config change applies
        at the next tick). A loop, not an APScheduler job: a job logs every run at INFO."""
        while True:
            await self.tick()
            await asyncio.sleep(max(0.2, float(self.cfg.tick_s)))

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- the tick -------------------------------------------------------------------------

    async def tick(self) -> None:
        try:
            await self._tick()
        except Exception:  # the next tick tries again
            log.exception("health alerts: evaluation failed")

    async def _tick(self) -> None:
        h = self.cfg
        if not h.enabled:
            return
        clock = self.rt.clock
        if self.episodes is None:
            self.episodes = Episodes(clear_after_s=h.clear_after_s)
            for row in await asyncio.to_thread(self.store.open_rows):
                self.episodes.resume(row["kind"], row["scope"], since_ms=row["started_ms"],
                                     message=row["message"], now_s=clock.monotonic())
        self.episodes.clear_after_s = h.clear_after_s
        t0 = clock.monotonic()
        present = self.observer.observe(self.rt, h, now_s=t0, now_ms=clock.now_ms())
        transitions = self.episodes.step(present, now_s=t0, now_ms=clock.now_ms())
        self.tick_ms = (clock.monotonic() - t0) * 1000
        self.ticks += 1
        for t in transitions:
            await self._deliver(t)
        self._announce()
        if self.ticks % 10_000 == 1:
            await asyncio.to_thread(self.store.purge)

    async def _deliver(self, t: Transition) -> None:
        message = self.rt.scrub(t.message)  # nothing secret reaches the list, a log or a receiver
        if t.state == "firing":
            self.stats["fired"] += 1
            nid: int | None = await asyncio.to_thread(self.store.open, t.kind, t.scope, t.since_ms, message)
            log.warning("health alert: %s (%s) firing: %s", t.kind, t.scope, message)
        else:
            self.stats["resolved"] += 1
            await asyncio.to_thread(self.store.resolve, t.kind, t.scope, t.at_ms)
            nid = None
            log.info("health alert: %s (%s) resolved", t.kind, t.scope)
        body = payload(t, nid)
        body["message"] = message
        mqtt = self._mqtt()
        if mqtt is not None:
            ok = mqtt.publish_raw(f"{mqtt.prefix}/health", msgspec.json.encode(body), retain=False)
            ok = mqtt.publish_raw(state_topic(mqtt.prefix, t.scope, t.kind),
                                  b"ON" if t.state == "firing" else b"OFF", retain=True) and ok
            self.stats["mqtt"] += int(ok)
        targets = self._webhooks()
        for name in self.cfg.webhooks:
            target = targets.get(name)
            if target is None:
                continue
            task = asyncio.create_task(self._post(target, body), name=f"health-webhook-{name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, target: Any, body: dict[str, Any]) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        lock = self._locks.setdefault(target.name, asyncio.Lock())
        ok = False
        try:
            async with lock:  # one target's deliveries in order: a resolve never overtakes its firing
                ok = await post_event(self._http, target, body)
        except Exception:
            log.exception("health alert webhook %s: delivery crashed", target.name)
        self.stats["webhooks_sent" if ok else "webhooks_failed"] += 1

    # -- the alert targets ----------------------------------------------------------------

    def _mqtt(self) -> Any:
        bridge = self.rt.alerts
        if not self.cfg.mqtt or bridge is None:
            return None
        return bridge.mqtt

    def _webhooks(self) -> dict[str, Any]:
        bridge = self.rt.alerts
        return dict(bridge.dispatcher.webhooks) if bridge is not None else {}

    def _announce(self) -> None:
        """Every state topic once per publisher (a new or rebuilt ``alerts`` section), and
        for cameras added since: ``ON`` for open episodes, ``OFF`` otherwise."""
        mqtt = self._mqtt()
        if mqtt is None or self.episodes is None:
            return
        if mqtt is not self._mqtt_seen:
            self._mqtt_seen, self._announced = mqtt, set()
        keys = {(k, SYSTEM) for k in SYSTEM_KINDS}
        keys |= {(k, cam) for cam in self.rt.config.cameras for k in CAMERA_KINDS}
        firing = self.episodes.firing()
        for kind, scope in sorted(keys - self._announced):
            on = (kind, scope) in firing
            mqtt.publish_raw(state_topic(mqtt.prefix, scope, kind), b"ON" if on else b"OFF", retain=True)
        self._announced |= keys

    # -- views ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        firing = self.episodes.firing() if self.episodes is not None else {}
        return {"enabled": self.cfg.enabled, "ticks": self.ticks, "tick_ms": self.tick_ms, **self.stats,
                "firing": [{"kind": k, "scope": s, "since_ms": v[0], "message": self.rt.scrub(v[1])}
                           for (k, s), v in sorted(firing.items())]}

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        return self.store.page(limit=limit)
