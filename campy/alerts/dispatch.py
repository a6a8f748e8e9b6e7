"""The alert dispatcher: takes events from the detector and fans them out to MQTT and webhooks.

What goes where:

1. MQTT gets every event, every kind (start, update, end), on the event topics.
2. A ``start`` is checked against the rules; each matching rule whose cooldown (per rule
   and camera) has passed *fires*: its webhooks get the event, and so does
   ``<prefix>/alerts`` if the rule has ``mqtt: true``. A matching rule still in its cooldown
   is counted in ``stats["suppressed"]``.
3. The ``end`` of an event is sent to the same places as its start, by the rules that
   fired for it, and to nowhere else. ``update``\\s go to MQTT only.

``submit`` only queues (call it from the event loop's thread); one background task reads
the queue and starts one delivery task per webhook. Deliveries to one target run one at a
time, in order, so an ``end`` never overtakes its ``start``; targets do not wait for each
other, so a slow or failing target holds up only itself. Nothing raises into the caller.

The MQTT publisher is shared (detection publishes its state through it too), so its owner
starts and stops it, not the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from campy.alerts.mqtt import MqttPublisher
from campy.alerts.rules import AlertEvent, AlertRule, Cooldowns, event_payload, matching_rules
from campy.alerts.webhook import WebhookTarget, post_event
from campy.clock import Clock
from campy.errors import BadRequest

log = logging.getLogger(__name__)

# Events whose start was sent, remembered until their end; a detector that never sends an
# end must not make this grow without bound.
_MAX_OPEN_EVENTS = 1000


class AlertDispatcher:
    """Queues events and delivers them; ``stats`` counts what happened.

    ``stats``: ``sent`` / ``failed`` webhook deliveries, ``suppressed`` rule firings held
    back by a cooldown, ``dropped`` events not queued (queue full or dispatcher stopped),
    ``mqtt`` / ``mqtt_failed`` events handed to (or refused by) the MQTT publisher.
    """

    def __init__(self, *, rules: Sequence[AlertRule], webhooks: Mapping[str, WebhookTarget],
                 mqtt: MqttPublisher | None, clock: Clock, backoff: Sequence[float] = (1, 2, 4),
                 queue_size: int = 1000, http: httpx.AsyncClient | None = None) -> None:
        unknown = sorted({name for rule in rules for name in rule.webhooks if name not in webhooks})
        if unknown:
            raise BadRequest(f"alert rules name unknown webhooks: {', '.join(unknown)}",
                             fields={"webhooks": ", ".join(unknown)})
        self.rules = list(rules)
        self.webhooks = dict(webhooks)
        self.mqtt = mqtt
        self.clock = clock
        self.backoff = tuple(backoff)
        self.stats: dict[str, int] = {"sent": 0, "failed": 0, "suppressed": 0, "dropped": 0,
                                      "mqtt": 0, "mqtt_failed": 0}
        self._queue: asyncio.Queue[AlertEvent] = asyncio.Queue(maxsize=queue_size)
        self._cooldowns = Cooldowns()
        self._fired: OrderedDict[tuple[str, int], list[AlertRule]] = OrderedDict()
        self._locks = {name: asyncio.Lock() for name in self.webhooks}
        self._http = http
        self._own_http = http is None
        self._worker: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._closed = False
        self._warned_full = False

    async def start(self) -> None:
        if self._worker is not None:
            return
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        self._closed = False
        self._worker = asyncio.create_task(self._run(), name="alert-dispatcher")

    def submit(self, event: AlertEvent) -> None:
        """Queue ``event`` for delivery; never blocks, never raises."""
        try:
            if self._closed:
                self.stats["dropped"] += 1
                return
            self._queue.put_nowait(event)
            self._warned_full = False
        except asyncio.QueueFull:
            self.stats["dropped"] += 1
            if not self._warned_full:
                self._warned_full = True
                log.warning("alert queue full (%d events); dropping events", self._queue.maxsize)
        except Exception:  # the caller is the detector: it must go on whatever happens here
            self.stats["dropped"] += 1
            log.exception("could not queue alert event %s", getattr(event, "id", "?"))

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event is handled and every delivery finished (or gave up)."""
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
                while self._deliveries:
                    await asyncio.gather(*list(self._deliveries), return_exceptions=True)
        except TimeoutError:
            return False
        return True

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop taking events, give queued ones ``grace`` seconds, then cancel what is left."""
        self._closed = True
        if self._worker is not None:
            await self.flush(grace)
        tasks = [t for t in (self._worker, *self._deliveries) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._worker = None
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- the background task --------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                self._handle(event)
            except Exception:  # one bad event must not stop the dispatcher
                log.exception("alert dispatch failed for event %s", event.id)
            finally:
                self._queue.task_done()

    def _handle(self, event: AlertEvent) -> None:
        if self.mqtt is not None:
            self._mqtt("event", self.mqtt.publish_event, event)
        key = (event.camera, event.id)
        if event.kind == "start":
            fired = self._fire(event)
            if fired:
                self._fired[key] = fired
                while len(self._fired) > _MAX_OPEN_EVENTS:
                    self._fired.popitem(last=False)
        elif event.kind == "end":
            fired = self._fired.pop(key, [])
        else:
            return
        for rule in fired:
            self._send(rule, event)

    def _fire(self, event: AlertEvent) -> list[AlertRule]:
        """The rules that match ``event`` and are out of their cooldown."""
        now_ms = int(self.clock.monotonic() * 1000)
        fired = []
        for rule in matching_rules(event, self.rules):
            if self._cooldowns.allow(rule, event.camera, now_ms):
                fired.append(rule)
            else:
                self.stats["suppressed"] += 1
                log.debug("rule %s: event %s of %s within cooldown", rule.name, event.id, event.camera)
        return fired

    def _send(self, rule: AlertRule, event: AlertEvent) -> None:
        if rule.mqtt and self.mqtt is not None:
            self._mqtt("alert", self.mqtt.publish_alert, rule.name, event)
        payload = {"rule": rule.name, **event_payload(event)}
        for name in rule.webhooks:
            task = asyncio.create_task(self._post(self.webhooks[name], payload),
                                       name=f"webhook-{name}-{event.id}")
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    def _mqtt(self, what: str, publish: Callable[..., bool], *args: Any) -> None:
        """Hand a message to the MQTT publisher; whatever it does, the webhooks still go out."""
        try:
            ok = publish(*args)
        except Exception:
            log.exception("MQTT %s publish failed", what)
            ok = False
        self.stats["mqtt" if ok else "mqtt_failed"] += 1

    async def _post(self, target: WebhookTarget, payload: dict[str, Any]) -> None:
        ok = False
        try:
            async with self._locks[target.name]:
                assert self._http is not None
                ok = await post_event(self._http, target, payload, backoff=self.backoff)
        except Exception:  # reported in stats and the log, never raised into the loop
            log.exception("webhook %s: delivery crashed", target.name)
        self.stats["sent" if ok else "failed"] += 1
