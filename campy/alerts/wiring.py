"""campy.yaml's ``alerts`` section → a running dispatcher (and MQTT publisher).

The detection manager calls ``submit_event(view, kind=…)`` with an event as the API shows
it; this turns it into an ``AlertEvent`` whose ``snapshot_url`` and ``clip_url`` are
absolute, signed links a receiver opens without a login (``campy.alerts.links``), valid
``alerts.link_ttl_s`` seconds. The base is ``server.public_url``, else ``CAMPY_PUBLIC_URL``,
else ``http://<server.host>:<server.port>``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from campy.alerts.dispatch import AlertDispatcher
from campy.alerts.ha import HaDiscovery
from campy.alerts.links import LinkSigner, clip_path, snapshot_path
from campy.alerts.mqtt import MqttConfig, MqttPublisher
from campy.alerts.rules import AlertEvent, AlertRule
from campy.alerts.webhook import WebhookTarget
from campy.clock import Clock
from campy.config.model import CampyConfig

log = logging.getLogger(__name__)
_ENV_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _resolve(value: str | None) -> str | None:
    """``${VAR}`` → the variable's value (alerts secrets live in the environment)."""
    if value is None:
        return None
    m = _ENV_RE.match(value)
    return os.environ.get(m.group(1), "") if m else value


def base_url(cfg: CampyConfig) -> str:
    """Where receivers reach CamPy: ``server.public_url``, else ``CAMPY_PUBLIC_URL``, else
    the listen address (fine on one host; set ``public_url`` for anything else)."""
    url = cfg.server.public_url or os.environ.get("CAMPY_PUBLIC_URL")
    scheme = "https" if cfg.server.tls is not None else "http"
    return (url or f"{scheme}://{cfg.server.host}:{cfg.server.port}").rstrip("/")


class AlertsBridge:
    def __init__(self, cfg: CampyConfig, *, key: bytes, clock: Clock, scrub: Callable[[str], str],
                 links: LinkSigner) -> None:
        self.key = key
        self.links = links
        self.link_ttl_s = cfg.alerts.link_ttl_s
        a = cfg.alerts
        self.mqtt: MqttPublisher | None = None
        if a.mqtt is not None:
            self.mqtt = MqttPublisher(MqttConfig(
                host=a.mqtt.host, port=a.mqtt.port, username=a.mqtt.username, password=_resolve(a.mqtt.password),
                topic_prefix=a.mqtt.topic_prefix, client_id=a.mqtt.client_id, tls=a.mqtt.tls))
        webhooks = {n: WebhookTarget(name=n, url=w.url, headers={k: _resolve(v) or "" for k, v in w.headers.items()},
                                     timeout_seconds=w.timeout_seconds, retries=w.retries)
                    for n, w in a.webhooks.items()}
        rules = [AlertRule(name=n, cameras=list(r.cameras), labels=list(r.labels), zones=list(r.zones),
                           cooldown_seconds=r.cooldown_seconds, webhooks=list(r.webhooks), mqtt=r.mqtt)
                 for n, r in a.rules.items()]
        self.dispatcher = AlertDispatcher(rules=rules, webhooks=webhooks, mqtt=self.mqtt, clock=clock)
        self.base_url = base_url(cfg)
        self.ha: HaDiscovery | None = None
        if self.mqtt is not None and a.mqtt is not None:
            self.ha = HaDiscovery(self.mqtt, enabled=a.mqtt.ha_discovery, discovery_prefix=a.mqtt.discovery_prefix,
                                  url=self.base_url,
                                  snapshot_dir=lambda name: cfg.server.data_dir / "snapshots" / name)

    async def start(self) -> None:
        if self.ha is not None:
            self.ha.start()
        if self.mqtt is not None:
            await self.mqtt.start()
            if self.mqtt.error:
                log.warning("MQTT: %s", self.mqtt.error)
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
        if self.ha is not None:
            await self.ha.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()

    def submit_event(self, view: dict[str, Any], *, kind: str) -> None:
        event_id = int(view["id"])
        snapshot = ""
        if view.get("snapshot_url"):
            snapshot = self.base_url + self.links.sign(snapshot_path(event_id), ttl_s=self.link_ttl_s)[0]
        clip, expires_ms = self.links.sign(clip_path(event_id), ttl_s=self.link_ttl_s)
        self.dispatcher.submit(AlertEvent(
            id=event_id, camera=view["camera"], label=view["label"], score=float(view["score"]),
            start_ms=int(view["start_ms"]), end_ms=view.get("end_ms"), zones=list(view.get("zones") or []),
            snapshot_url=snapshot, clip_url=self.base_url + clip,
            kind=kind if kind in ("start", "update", "end") else "update",  # type: ignore[arg-type]
            links_expire_ms=expires_ms))

    def publish_state(self, camera: str, name: str, value: object) -> None:
        if self.mqtt is not None:
            self.mqtt.publish_state(camera, name, value)

    # -- Home Assistant (campy/alerts/ha.py) ---------------------------------------------------

    def sync_ha(self, cfg: CampyConfig, *, motion: set[str], states: dict[str, str]) -> None:
        """Discovery configs for ``cfg``'s cameras (stale ones removed) and their current states."""
        if self.ha is not None:
            self.ha.sync(cfg, motion=motion)
            self.ha.camera_states(states)

    def ha_event(self, view: dict[str, Any], *, kind: str, snapshot: Path | None) -> None:
        if self.ha is not None:
            self.ha.event(view["camera"], view["label"], int(view["id"]), kind, snapshot=snapshot)

    def ha_worker_gone(self, camera: str) -> None:
        if self.ha is not None:
            self.ha.worker_gone(camera)

    def camera_state(self, camera: str, state: str) -> None:
        if self.ha is not None:
            self.ha.camera_states({camera: state})

    def status(self) -> dict[str, Any]:
        return {"mqtt": (self.mqtt.state if self.mqtt else None), "mqtt_error": (self.mqtt.error if self.mqtt else None),
                **self.dispatcher.stats}
