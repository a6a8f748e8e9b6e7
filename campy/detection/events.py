"""Events: which tracked objects are worth telling the user about, and when.

Pure: no I/O, no clock. After each :meth:`Tracker.update <campy.detection.tracker.Tracker.update>`
the caller passes the live tracks, the tracks that update ended and the same ``now_ms`` to
:meth:`EventBuilder.update`, and acts on the returned :class:`EventUpdate` values (store the
event, mark the recording, take or re-take the snapshot).

Rules
-----

1. **Labels.** Only tracks whose label is in ``labels`` are considered; others are ignored
   entirely (no event, no zones, no memory).

2. **Filters.** A track may start an event only in an update in which it is seen
   (``missed_since_ms is None``) and: ``hits >= min_frames``; the score of this sighting
   ``>= min_score``; the area of this box ``>= min_area`` px². ``label_filters[label]``
   overrides ``min_score``/``min_area`` for one label (a field left None inherits).

3. **Zones.** A track is in a zone when its box's bottom-centre is (see ``zones.py``). Its
   zones are every zone it has stood in at any sighting, before the event started too. With
   ``alert_zones`` empty the whole frame counts; otherwise an event starts only once the
   track's zones include an alert zone (so an object that crossed the zone before the
   filters passed still counts).

4. **One track, at most one event** (``event_key`` = track id). ``start`` is emitted once,
   in the first update where rules 1–3, 5 and 6 allow it. Then ``update`` is emitted in any
   later update where the track's ``best_score`` is higher than the last emitted one (the
   caller re-takes the snapshot) or its zones include one not emitted yet; one ``update``
   covers both. ``end`` is emitted when the track ends (rule 7). Every value carries the
   best score, its box and when it was seen (``best_frame_ms``), the sorted zones so far and
   ``start_ms``: the track's first sighting, or, when the track was stationary before it
   started (a parked car driving off), the moment it moved off (its new ``anchor_ms``), so
   the event does not claim the hours of footage it spent parked.

5. **Still since first seen.** A track that has not moved since its first sighting
   (``moved`` False) does not start an event; it may once it moves. ``min_frames``
   sightings come long before ``stationary_ms`` has passed, so "has this object been still
   from the very start?" can only be answered by waiting. Waiting for the first move costs
   a moving object nothing in practice (walking or driving leaves its anchor, at the
   default ``stationary_iou`` of 0.85, within a sighting or two), and it means an object
   still from its first sighting, and so stationary once ``stationary_ms`` has passed (a
   car parked when CamPy starts, a parked car re-detected after the detector lost it),
   never alerts while it stays put. **Trade-off:** a person already standing still in view
   when CamPy starts, or one first detected only once they stood still, does not alert
   until they move enough to leave their anchor.

6. **Remembered parked objects.** When a track ends while ``stationary``, its
   ``anchor_box`` is remembered with its label and ``last_ms`` (replacing any remembered
   object of that label it overlaps with IoU >= 0.7). A memory is forgotten once more than
   ``stationary_memory_ms`` has passed since that time. A track that has not started is
   *held* by a memory of its label while its box matches it: IoU >= 0.7, or at least 90 % of
   its box inside the remembered box (a part of a parked car seen while something passes
   in front of it). A held track does not start an event: it is the parked object
   re-detected, whether it is stationary yet or not (``min_frames`` comes before
   ``stationary_ms``, so requiring ``stationary`` would let every re-detection through).
   A held track that ends renews the memories holding it (``last_ms``), so a car parked
   for hours stays remembered. A held track that moves off and starts an event (the parked
   car leaving) makes the builder forget the memories that held it: that place is empty now.
   **Trade-off:** another object of the same label first detected right where a parked one
   was, within ``stationary_memory_ms``, does not alert while it stays there.

7. **End.** A track in ``ended``, or one the builder saw before that is no longer in
   ``tracked`` (e.g. the caller replaced its tracker), has ended: its event, if it has one,
   gets ``end`` with ``end_ms`` = the track's ``last_ms``; rule 6 remembers it if it was
   stationary and renews the memories that held it at its last sighting.

8. **Order.** Within one call: the ``end`` values (by track id) first, then ``start`` and
   ``update`` values by track id. Memories are updated from ended tracks before live tracks
   are judged, so a re-detection in the very update that ends the old track is held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from campy.detection.tracker import TrackedObject
from campy.detection.types import Box, Polygon, iou
from campy.detection.zones import zones_of

EventKind = Literal["start", "update", "end"]

_MEMORY_IOU = 0.7  # rule 6: same place as a remembered parked object
_MEMORY_INSIDE = 0.9  # rule 6: share of a box inside a remembered box (a partial view)


class LabelFilter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-label overrides of the global filters; None inherits."""

    min_score: float | None = None
    min_area: int | None = None


class EventRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What makes an event, for one camera (see the module docstring)."""

    labels: list[str] = msgspec.field(default_factory=lambda: ["person"])
    min_score: float = 0.5
    min_area: int = 0  # px² of the detect frame
    min_frames: int = 3
    zones: dict[str, Polygon] = {}
    alert_zones: list[str] = []  # empty: anywhere in the frame counts
    label_filters: dict[str, LabelFilter] = {}
    stationary_memory_ms: int = 600_000

    def __post_init__(self) -> None:
        # An alert zone that is not defined could never be entered: no event, ever, and
        # no hint why. Refuse it (msgspec reports this as a ValidationError when decoding).
        unknown = sorted(set(self.alert_zones) - set(self.zones))
        if unknown:
            raise ValueError(f"alert_zones not defined in zones: {', '.join(unknown)}")


class EventUpdate(msgspec.Struct, frozen=True):
    """One change to one event."""

    kind: EventKind
    event_key: int  # the tracker's track id
    label: str
    score: float  # the track's best score so far
    box: Box  # the box of that best score
    zones: list[str]  # every zone the object has stood in, sorted
    start_ms: int
    end_ms: int | None  # set on "end" only
    best_frame_ms: int  # when the best score was seen


@dataclass(frozen=True, slots=True)
class _Memory:
    """A parked object whose track ended (rule 6)."""

    label: str
    box: Box
    seen_ms: int


@dataclass(slots=True)
class _TrackState:
    """What the builder knows about one track of an alert label."""

    obj: TrackedObject  # the latest value the caller passed
    active_since_ms: int  # start_ms if it started now (rule 4)
    zones: set[str] = field(default_factory=set)
    was_stationary: bool = False
    holders: set[int] = field(default_factory=set)  # memories holding it now (rule 6)
    held_by: set[int] = field(default_factory=set)  # every memory that ever held it
    started: bool = False
    start_ms: int = 0
    sent_score: float = 0.0
    sent_zones: int = 0


class EventBuilder:
    """Turns one camera's tracks into events; see the module docstring."""

    def __init__(self, rules: EventRules) -> None:
        self.rules = rules
        self._labels = frozenset(rules.labels)
        self._alert_zones = frozenset(rules.alert_zones)
        self._states: dict[int, _TrackState] = {}
        self._memories: dict[int, _Memory] = {}
        self._next_memory = 1

    def update(
        self, tracked: Sequence[TrackedObject], ended: Sequence[TrackedObject], now_ms: int
    ) -> list[EventUpdate]:
        """Take one tracker update's live and ended tracks; return the event changes."""
        out: list[EventUpdate] = []
        self._forget_old(now_ms)

        live = {t.id for t in tracked}
        gone = {t.id: t for t in ended if t.label in self._labels and t.id not in live}
        for track_id, state in self._states.items():
            if track_id not in live and track_id not in gone:
                gone[track_id] = state.obj  # vanished without an end (rule 7)
        for track_id in sorted(gone):
            self._end(gone[track_id], out)

        for track in sorted(tracked, key=_by_id):
            if track.label in self._labels:
                self._observe(track, now_ms, out)
        return out

    # -- rules ------------------------------------------------------------------------

    def _observe(self, track: TrackedObject, now_ms: int, out: list[EventUpdate]) -> None:
        state = self._states.get(track.id)
        if state is None:
            state = self._states[track.id] = _TrackState(track, track.first_ms)
        state.obj = track
        seen = track.missed_since_ms is None
        if seen:
            state.zones.update(zones_of(track.box, self.rules.zones))
            if track.stationary:
                state.was_stationary = True
            elif state.was_stationary:  # it has just moved off (rule 4's start_ms)
                state.was_stationary = False
                state.active_since_ms = track.anchor_ms

        if state.started:
            if track.best_score > state.sent_score or len(state.zones) > state.sent_zones:
                out.append(self._emit("update", track, state))
            return
        if not seen:
            return
        state.holders = self._holders(track)
        state.held_by |= state.holders
        if self._may_start(track, state):
            for key in state.held_by:  # rule 6: the parked object has left its place
                self._memories.pop(key, None)
            state.started = True
            state.start_ms = state.active_since_ms
            out.append(self._emit("start", track, state))

    def _may_start(self, track: TrackedObject, state: _TrackState) -> bool:
        """Rules 2, 3, 5 and 6 for a track seen in this update that has not started."""
        rules = self.rules
        override = rules.label_filters.get(track.label)
        min_score = rules.min_score
        min_area = rules.min_area
        if override is not None:
            if override.min_score is not None:
                min_score = override.min_score
            if override.min_area is not None:
                min_area = override.min_area
        return (
            track.hits >= rules.min_frames
            and track.score >= min_score
            and _area(track.box) >= min_area
            and (not self._alert_zones or not self._alert_zones.isdisjoint(state.zones))
            and track.moved
            and not state.holders
        )

    def _end(self, track: TrackedObject, out: list[EventUpdate]) -> None:
        """Rule 7, and rule 6's remembering."""
        state = self._states.pop(track.id, None)
        if state is not None:
            for key in state.holders:
                memory = self._memories.get(key)
                if memory is not None and memory.seen_ms < track.last_ms:
                    self._memories[key] = _Memory(memory.label, memory.box, track.last_ms)
        if track.stationary:
            self._remember(track)
        if state is not None and state.started:
            out.append(self._emit("end", track, state, end_ms=track.last_ms))

    def _remember(self, track: TrackedObject) -> None:
        box = track.anchor_box
        for key, memory in list(self._memories.items()):
            if memory.label == track.label and iou(memory.box, box) >= _MEMORY_IOU:
                del self._memories[key]
        self._memories[self._next_memory] = _Memory(track.label, box, track.last_ms)
        self._next_memory += 1

    def _holders(self, track: TrackedObject) -> set[int]:
        """Keys of the memories holding this track (rule 6)."""
        box = track.box
        area = _area(box)
        held: set[int] = set()
        for key, memory in self._memories.items():
            if memory.label != track.label:
                continue
            if iou(memory.box, box) >= _MEMORY_IOU or (
                area > 0 and _intersection(memory.box, box) >= _MEMORY_INSIDE * area
            ):
                held.add(key)
        return held

    def _forget_old(self, now_ms: int) -> None:
        limit = self.rules.stationary_memory_ms
        for key, memory in list(self._memories.items()):
            if now_ms - memory.seen_ms > limit:
                del self._memories[key]

    def _emit(
        self,
        kind: EventKind,
        track: TrackedObject,
        state: _TrackState,
        end_ms: int | None = None,
    ) -> EventUpdate:
        state.sent_score = track.best_score
        state.sent_zones = len(state.zones)
        return EventUpdate(
            kind=kind,
            event_key=track.id,
            label=track.label,
            score=track.best_score,
            box=track.best_box,
            zones=sorted(state.zones),
            start_ms=state.start_ms,
            end_ms=end_ms,
            best_frame_ms=track.best_ms,
        )


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _intersection(a: Box, b: Box) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _by_id(track: TrackedObject) -> int:
    return track.id
