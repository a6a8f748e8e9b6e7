"""Health alerts: CamPy's own problems as episodes that fire once and resolve once.

``observe`` reads the running parts (camera health, recorders, retention, detection,
go2rtc's supervisor, the config store) and returns the problems present now, each with
its hold time. ``Episodes`` turns those snapshots, tick after tick, into transitions:

* a problem *fires* once it has been present for its hold time (a camera offline for
  ``offline_after_s``); one that goes away before that never fires;
* a firing problem *resolves* once it has stayed away for ``clear_after_s``. If it comes
  back inside that time the same episode goes on (no new alert): this is the flap damping.
  So one episode sends exactly one ``firing`` and one ``resolved``, however long it lasts
  and however often the condition flickers within ``clear_after_s``.

Kinds and scopes (the MQTT contract, campy/alerts/healthrun.py): camera kinds are scoped
by the camera's name, the others by ``system``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

CAMERA_KINDS = ("camera_offline", "camera_auth_failed", "recorder_failing", "detection_crashloop")
SYSTEM_KINDS = ("disk_pressure", "protected_shortfall", "go2rtc_restarting", "config_error",
                "detection_crashloop")
SYSTEM = "system"

Key = tuple[str, str]  # (kind, scope)


@dataclass(frozen=True)
class Problem:
    message: str
    hold_s: float = 0.0


@dataclass(frozen=True)
class Transition:
    kind: str
    scope: str
    state: Literal["firing", "resolved"]
    since_ms: int
    at_ms: int
    message: str


@dataclass
class _Episode:
    seen_at: float  # monotonic seconds: when the condition was first seen this time
    since_ms: int
    message: str
    firing: bool = False
    clear_at: float | None = None  # monotonic seconds: when it went away (while firing)


class Episodes:
    """The state machine; ``step`` is pure apart from its own state (no clock, no I/O)."""

    def __init__(self, *, clear_after_s: float) -> None:
        self.clear_after_s = clear_after_s
        self._eps: dict[Key, _Episode] = {}

    def resume(self, kind: str, scope: str, *, since_ms: int, message: str, now_s: float) -> None:
        """An episode left open by an earlier run: it goes on without firing again."""
        self._eps[(kind, scope)] = _Episode(seen_at=now_s, since_ms=since_ms, message=message, firing=True)

    def firing(self) -> dict[Key, tuple[int, str]]:
        return {k: (e.since_ms, e.message) for k, e in self._eps.items() if e.firing}

    def step(self, present: dict[Key, Problem], *, now_s: float, now_ms: int) -> list[Transition]:
        out: list[Transition] = []
        for key, problem in present.items():
            ep = self._eps.get(key)
            if ep is None:
                ep = self._eps[key] = _Episode(seen_at=now_s, since_ms=now_ms, message=problem.message)
            ep.clear_at = None
            if not ep.firing:
                ep.message = problem.message
                if now_s - ep.seen_at >= problem.hold_s:
                    ep.firing = True
                    out.append(Transition(key[0], key[1], "firing", ep.since_ms, now_ms, ep.message))
        for key in [k for k in self._eps if k not in present]:
            ep = self._eps[key]
            if not ep.firing:
                del self._eps[key]  # gone before its hold time: never an alert
                continue
            if ep.clear_at is None:
                ep.clear_at = now_s
            if now_s - ep.clear_at >= self.clear_after_s:
                del self._eps[key]
                out.append(Transition(key[0], key[1], "resolved", ep.since_ms, now_ms, ep.message))
        return out


@dataclass
class RestartWindow:
    """Counts increments of a restart counter over the last ``window_s`` seconds. Counters
    start at 0 with the thing they count (a worker's status, go2rtc's supervisor), so the
    restarts before the first look count too."""

    last: int = 0
    times: deque[float] = field(default_factory=deque)

    def update(self, count: int, now_s: float, window_s: float) -> int:
        if count > self.last:
            self.times.extend([now_s] * (count - self.last))
        self.last = count
        while self.times and now_s - self.times[0] > window_s:
            self.times.popleft()
        return len(self.times)


class Observer:
    """Reads a ``campy.runtime.Runtime`` and lists the problems present now."""

    def __init__(self) -> None:
        self._restarts: dict[Key, RestartWindow] = {}
        self._first_seen_ms: dict[tuple[str, int], int] = {}

    def _window(self, key: Key, count: int, now_s: float, window_s: float) -> int:
        return self._restarts.setdefault(key, RestartWindow()).update(count, now_s, window_s)

    def observe(self, rt: Any, h: Any, *, now_s: float, now_ms: int) -> dict[Key, Problem]:
        """``h``: the ``alerts.health`` config."""
        out: dict[Key, Problem] = {}
        cfg = rt.config
        if len(self._first_seen_ms) > 4 * len(cfg.cameras) + 16:  # recorders replaced by config changes
            live = {(n, id(r)) for n, r in rt.recording.recorders.items()}
            self._first_seen_ms = {k: v for k, v in self._first_seen_ms.items() if k in live}
        out.update(self._cameras(rt, cfg, h, now_s=now_s, now_ms=now_ms))
        out.update(self._system(rt, cfg, h, now_s=now_s, now_ms=now_ms))
        return out

    def _cameras(self, rt: Any, cfg: Any, h: Any, *, now_s: float, now_ms: int) -> Iterable[tuple[Key, Problem]]:
        go2rtc_up = rt.health.go2rtc_up
        for name, cam in cfg.cameras.items():
            if not cam.enabled:
                continue
            st = rt.health.get(name)
            if go2rtc_up and st.state == "offline":
                yield ("camera_offline", name), Problem(f"camera {name} is offline: {st.message}".rstrip(": "),
                                                         h.offline_after_s)
            elif go2rtc_up and st.state == "auth_failed":
                yield ("camera_auth_failed", name), Problem(
                    f"camera {name} refuses CamPy's username or password: {st.message}".rstrip(": "),
                    h.offline_after_s)
            rec = rt.recording.recorders.get(name)
            if rec is not None and go2rtc_up and st.state == "online":
                # Counted from the last closed segment, the camera coming online, or this
                # recorder's creation (a start or a recording config change), the latest.
                first = self._first_seen_ms.setdefault((name, id(rec)), now_ms)
                limit_ms = 3 * rec.segment_seconds * 1000
                base = max(rec.last_segment_end_ms or 0, st.since_ms, first)
                if now_ms - base > limit_ms:
                    why = f" ({rec.state}: {rec.error})" if rec.error else f" (recorder {rec.state})"
                    yield ("recorder_failing", name), Problem(
                        f"camera {name} is online but no recording segment closed for "
                        f"{(now_ms - base) // 1000} s{why}")
            det = rt.detection.status.get(name)
            if det is not None:
                n = self._window(("detection_crashloop", name), det.restarts, now_s, h.restart_window_s)
                if n >= h.crashloop_restarts:
                    yield ("detection_crashloop", name), Problem(
                        f"camera {name}: the detection worker restarted {n} times in "
                        f"{h.restart_window_s:g} s{': ' + det.error if det.error else ''}")

    def _system(self, rt: Any, cfg: Any, h: Any, *, now_s: float, now_ms: int) -> Iterable[tuple[Key, Problem]]:
        rec = rt.recording
        last = rec.last_retention
        pressure = rec.under_pressure()
        short = last.shortfall_bytes if last is not None else 0
        if pressure or short:
            what = ("free space is below the floor" if pressure else "")
            if short:
                what += ("; " if what else "") + f"retention could not free {short / 1e6:.0f} MB"
            yield ("disk_pressure", SYSTEM), Problem(f"disk pressure: {what}", h.disk_after_s)
        # A give-up is a moment, not a state: present while one is recent, so the passes of
        # one squeeze make one episode.
        recent = [g for g in rec.given_up if now_ms - g.at_ms < h.restart_window_s * 1000]
        if recent:
            yield ("protected_shortfall", SYSTEM), Problem(recent[-1].message)
        svc = rt.detection.service
        n = self._window(("detection_crashloop", SYSTEM), svc.restarts, now_s, h.restart_window_s)
        if n >= h.crashloop_restarts:
            yield ("detection_crashloop", SYSTEM), Problem(
                f"the inference service restarted {n} times in {h.restart_window_s:g} s")
        server = rt.server
        if server is not None:
            n = self._window(("go2rtc_restarting", SYSTEM), server.restarts, now_s, h.restart_window_s)
            if n or not server.running:
                why = f": {server.last_error}" if server.last_error else ""
                yield ("go2rtc_restarting", SYSTEM), Problem(
                    f"go2rtc restarted {n} time(s) in the last {h.restart_window_s:g} s{why}"
                    if n else f"go2rtc is not running{why}")
        err = rt.config_error
        if err is not None:
            issues = list(getattr(err, "issues", []) or [])
            detail = "; ".join(str(i) for i in issues[:3]) or str(err).splitlines()[0]
            yield ("config_error", SYSTEM), Problem(
                f"campy.yaml has errors; the last good config keeps running: {detail}")
