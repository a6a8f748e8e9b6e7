"""Per-camera health, derived from go2rtc's stream statistics.

go2rtc has no events, fps or bitrate (reference sheet §3.5), so CamPy polls
``GET /api/streams`` and diffs each producer's ``bytes_recv``:

* bytes rising since the last poll              → ``online`` (with the bitrate)
* bytes frozen, and a probe shows only that same stale producer → ``offline`` after 6 s
  (go2rtc keeps a dead producer with its counters while it retries)
* no bytes flowing (idle, frozen or no producer) → an *active probe* of that stream,
  retried with backoff while it fails; its error text tells ``auth_failed`` from ``offline``
* go2rtc itself unreachable                      → ``unknown`` for every camera

The probe stream of a camera is its sub stream (preloaded, cheap) or else its main stream.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from campy.clock import Clock
from campy.streams import StreamSpec

log = logging.getLogger(__name__)

ONLINE, OFFLINE, AUTH_FAILED, CONNECTING, DISABLED, UNKNOWN = (
    "online", "offline", "auth_failed", "connecting", "disabled", "unknown",
)
# Status codes as whole words: a port such as 127.0.0.1:40147 is not a 401.
_AUTH_RE = re.compile(r"\b40[13]\b|unauthori[sz]ed|wrong user|user/pass|authenticat|forbidden", re.IGNORECASE)
_PROBE_BACKOFF = (2.0, 4.0, 8.0, 15.0, 30.0)
_STALL_S = 6.0  # frozen byte counters with a consumer attached for this long → offline
# Consumers that are CamPy's own or go2rtc's bookkeeping, not people watching.
_NOT_VIEWERS = {"probe", "preload"}


@dataclass
class CameraHealth:
    """What the UI and API show about one camera."""

    name: str
    state: str = CONNECTING
    message: str = ""
    bitrate_kbps: float = 0.0
    viewers: int = 0
    main_codec: str | None = None
    since_ms: int = 0
    reconnects: int = 0  # times it came back online after being down (for /metrics)
    bitrate_out_kbps: float = 0.0  # what go2rtc sends from its streams (viewers, recorders, detection)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "message": self.message,
            "bitrate_kbps": round(self.bitrate_kbps, 1),
            "viewers": self.viewers,
            "main_codec": self.main_codec,
            "since_ms": self.since_ms,
        }


@dataclass
class _Track:
    bytes_by_producer: dict[str, int] = field(default_factory=dict)
    at: float = 0.0
    probe_failures: int = 0
    next_probe_at: float = 0.0
    stalled_since: float = 0.0
    sent_by_consumer: dict[str, int] = field(default_factory=dict)


def classify_error(text: str) -> str:
    """``auth_failed`` when go2rtc's error says the camera refused the credentials."""
    return AUTH_FAILED if _AUTH_RE.search(text or "") else OFFLINE


def _codec_of(stream: Any) -> str | None:
    for prod in getattr(stream, "producers", None) or []:
        for rec in getattr(prod, "receivers", None) or []:
            codec = getattr(rec, "codec", None)
            if codec is not None and getattr(codec, "codec_type", "") != "audio":
                name = getattr(codec, "codec_name", None)
                if name:
                    return str(name).upper()
    return None


def _producer_bytes(stream: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, prod in enumerate(getattr(stream, "producers", None) or []):
        key = str(getattr(prod, "id", None) or f"#{i}")
        recv = getattr(prod, "bytes_recv", None)
        if recv:
            out[key] = int(recv)
    return out


def _producer_state(stream: Any) -> dict[str, int]:
    """Every producer's id → bytes received, zeros included (a new connection has a new id)."""
    return {str(getattr(p, "id", None) or f"#{i}"): int(getattr(p, "bytes_recv", None) or 0)
            for i, p in enumerate(getattr(stream, "producers", None) or [])}


def _consumer_bytes(stream: Any, prefix: str) -> dict[str, int]:
    return {f"{prefix}/{getattr(c, 'id', None) or i}": int(getattr(c, "bytes_send", None) or 0)
            for i, c in enumerate(getattr(stream, "consumers", None) or [])}


def _viewers(stream: Any) -> int:
    n = 0
    for cons in getattr(stream, "consumers", None) or []:
        if (getattr(cons, "format_name", "") or "") not in _NOT_VIEWERS:
            n += 1
    return n


class HealthMonitor:
    """Polls go2rtc and keeps a ``CameraHealth`` per configured camera."""

    def __init__(
        self,
        client: Any,
        *,
        cameras: Callable[[], Mapping[str, Any]],
        specs: Callable[[], Mapping[str, StreamSpec]],
        scrub: Callable[[str], str],
        clock: Clock | None = None,
        interval: float = 2.0,
        go2rtc_name: Callable[[str], str] = lambda name: name,
    ) -> None:
        self._client = client
        self._g2r = go2rtc_name  # public stream name -> the (secret) name go2rtc serves it under
        self._cameras = cameras
        self._specs = specs
        self._scrub = scrub
        self._clock = clock or Clock()
        self.snapshot: tuple[float, dict[str, Any]] | None = None  # (time.monotonic(), streams)
        self.interval = interval
        self._health: dict[str, CameraHealth] = {}
        self._tracks: dict[str, _Track] = {}
        self.go2rtc_up = False
        self.changed = asyncio.Event()
        self.listeners: list[Callable[[str, str], None]] = []  # (camera, new state) on each change

    # -- reading -------------------------------------------------------------------
    def get(self, name: str) -> CameraHealth:
        cam = self._cameras().get(name)
        h = self._health.get(name) or CameraHealth(name=name, since_ms=self._clock.now_ms())
        if cam is not None and not getattr(cam, "enabled", True):
            return CameraHealth(name=name, state=DISABLED, since_ms=h.since_ms)
        return h

    def all(self) -> dict[str, CameraHealth]:
        return {name: self.get(name) for name in self._cameras()}

    def forget(self, names: set[str]) -> None:
        """Drop what is known about cameras whose config changed."""
        for n in names:
            self._health.pop(n, None)
            self._tracks.pop(n, None)

    # -- polling -------------------------------------------------------------------
    def _set(self, name: str, state: str, message: str = "", **extra: Any) -> None:
        h = self._health.setdefault(name, CameraHealth(name=name, since_ms=self._clock.now_ms()))
        if h.state != state:
            # Losing a camera is a warning (kept for the system page's log list).
            level = logging.WARNING if state in ("auth_failed", "offline") else logging.INFO
            log.log(level, "camera %s: %s -> %s %s", name, h.state, state, message,
                    extra={"camera": name})
            if state == ONLINE and h.state in (OFFLINE, AUTH_FAILED, UNKNOWN):
                h.reconnects += 1
            h.since_ms = self._clock.now_ms()
            self.changed.set()
            for listener in self.listeners:
                try:
                    listener(name, state)
                except Exception:
                    log.exception("camera %s: a health listener failed", name)
        h.state = state
        h.message = message
        for k, v in extra.items():
            setattr(h, k, v)

    def _probe_stream_of(self, name: str, specs: Mapping[str, StreamSpec]) -> str | None:
        if f"{name}_sub" in specs:
            return f"{name}_sub"
        return name if name in specs else None

    async def poll_once(self) -> None:
        specs = self._specs()
        cams = self._cameras()
        try:
            raw = await self._client.streams()
        except Exception as err:  # go2rtc down or restarting
            if self.go2rtc_up:
                log.warning("go2rtc unreachable: %s", self._scrub(str(err)))
            self.go2rtc_up = False
            for name, cam in cams.items():
                if getattr(cam, "enabled", True):
                    self._set(name, UNKNOWN, "the media server (go2rtc) is not answering")
            return
        self.go2rtc_up = True
        # go2rtc's whole answer, for the live view's reaper (campy/web/viewers.py), which
        # reads it instead of polling again. Viewer streams are not read here: only the
        # configured streams, by their go2rtc names.
        self.snapshot = (time.monotonic(), raw)
        streams = {s: raw[self._g2r(s)] for s in specs if self._g2r(s) in raw}
        now = self._clock.monotonic()
        for name, cam in cams.items():
            if not getattr(cam, "enabled", True):
                continue
            stream_name = self._probe_stream_of(name, specs)
            if stream_name is None:
                continue
            track = self._tracks.setdefault(name, _Track())
            stream = streams.get(stream_name)
            main = streams.get(name)
            viewers = sum(_viewers(streams.get(s)) for s in specs if specs[s].camera == name and streams.get(s))
            codec = _codec_of(main) if main is not None else None
            if codec:
                self._health.setdefault(name, CameraHealth(name=name)).main_codec = codec
            current = _producer_bytes(stream) if stream is not None else {}
            dt = now - track.at if track.at else 0.0
            grown = sum(
                v - track.bytes_by_producer.get(k, 0)
                for k, v in current.items()
                if v > track.bytes_by_producer.get(k, 0)
            )
            flowing = bool(track.at) and grown > 0 and any(
                k in track.bytes_by_producer for k in current
            )
            sent: dict[str, int] = {}
            for s in specs:
                if specs[s].camera == name and streams.get(s) is not None:
                    sent.update(_consumer_bytes(streams[s], s))
            if dt > 0:
                out = sum(v - track.sent_by_consumer.get(k, 0) for k, v in sent.items()
                          if v > track.sent_by_consumer.get(k, 0))
                self._health.setdefault(name, CameraHealth(name=name)).bitrate_out_kbps = out * 8 / 1000 / dt
            track.sent_by_consumer = sent
            track.bytes_by_producer, track.at = current, now
            log.debug("health %s: stream=%s current=%s grown=%s flowing=%s stalled_since=%s next_probe=%.1f now=%.1f state=%s", name, stream_name, current, grown, flowing, track.stalled_since, track.next_probe_at, now, self.get(name).state)
            if flowing:
                track.probe_failures, track.next_probe_at, track.stalled_since = 0, 0.0, 0.0
                self._set(name, ONLINE, "", bitrate_kbps=grown * 8 / 1000 / max(dt, 1e-3), viewers=viewers)
                continue
            if current and dt > 0:
                # The producer's bytes are frozen: the camera went away (go2rtc keeps the dead
                # producer, with its counters, while it retries) or nobody is watching. A probe
                # tells: it fails with go2rtc's reason, or reports a fresh connection (online),
                # or only that same stale producer, which proves nothing; after _STALL_S a stall
                # that no probe explains means offline.
                track.stalled_since = track.stalled_since or now
                result = None
                if now >= track.next_probe_at:
                    result = await self._probe(name, stream_name, track, viewers, stale=_producer_state(stream))
                stalled = now - track.stalled_since
                if result in (None, "stale") and stalled >= _STALL_S \
                        and self.get(name).state not in (OFFLINE, AUTH_FAILED):
                    self._set(name, OFFLINE, f"no data from the camera for {stalled:.0f} s; go2rtc keeps retrying",
                              bitrate_kbps=0.0, viewers=viewers)
                continue
            track.stalled_since = 0.0
            if now < track.next_probe_at:
                h = self._health.get(name)
                if h is not None:
                    h.viewers = viewers
                continue
            await self._probe(name, stream_name, track, viewers)

    async def _probe(self, name: str, stream_name: str, track: _Track, viewers: int, *,
                     stale: dict[str, int] | None = None) -> str:
        """Probe the camera: "failed" (state set from go2rtc's error), "stale" (go2rtc only
        showed the frozen producer ``stale`` again) or "online"."""
        try:
            probed = await self._client.probe(self._g2r(stream_name), timeout=6.0)
        except Exception as err:
            text = self._scrub(str(err))
            track.probe_failures += 1
            delay = _PROBE_BACKOFF[min(track.probe_failures - 1, len(_PROBE_BACKOFF) - 1)]
            track.next_probe_at = self._clock.monotonic() + delay
            self._set(name, classify_error(text), text, bitrate_kbps=0.0, viewers=viewers)
            return "failed"
        log.debug("health %s: probe %s -> %s (stale %s)", name, stream_name, _producer_state(probed), stale)
        if stale is not None and _producer_state(probed) == stale:
            track.next_probe_at = self._clock.monotonic() + _PROBE_BACKOFF[0]
            return "stale"
        track.probe_failures, track.next_probe_at = 0, 0.0
        if stream_name == name:
            codec = _codec_of(probed)
            if codec:
                self._health.setdefault(name, CameraHealth(name=name)).main_codec = codec
        # The probe reached the camera; byte counters will confirm on the next poll.
        self._set(name, ONLINE, "", viewers=viewers)
        return "online"

    async def main_codec(self, name: str) -> str | None:
        """The main stream's video codec, probing once when it is not known yet."""
        h = self._health.get(name)
        if h is not None and h.main_codec:
            return h.main_codec
        try:
            probed = await self._client.probe(self._g2r(name), timeout=6.0)
        except Exception as err:
            log.info("probe of %s failed: %s", name, self._scrub(str(err)))
            return None
        codec = _codec_of(probed)
        if codec:
            self._health.setdefault(name, CameraHealth(name=name)).main_codec = codec
        return codec

    async def run(self) -> None:
        """Poll forever (cancel to stop); one failing poll never ends the loop."""
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("health poll failed")
            await asyncio.sleep(self.interval)
