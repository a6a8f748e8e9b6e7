"""An IoU tracker: links one frame's detections to the objects seen in earlier frames.

Pure: no I/O, no clock. The caller passes each processed frame's detections with that
frame's time ``now_ms`` (non-decreasing; if it steps back, durations just read as "not yet").

Rules
-----

1. **Expiry first.** At the start of an update, every track with
   ``now_ms - last_ms > max_missed_ms`` is dropped and listed in :attr:`Tracker.ended` (that
   list is replaced on every update). Expiry is judged before matching, so a track unseen
   for longer than ``max_missed_ms`` cannot be revived however rarely frames arrive.

2. **Matching.** Only a track and a detection of the same label can match, and only with
   ``IoU > 0`` and ``IoU >= iou_match``. Pairs are taken greedily, highest IoU first (ties
   by track id, then detection order); each track and each detection is used at most once.
   Tracks that are currently missed take part: that is the missed-frames tolerance.
   After every IoU pair, a track and a detection that do not overlap enough still match when
   their sizes are within 2× and their centres are at most ``max_jump`` times the track's
   larger side apart, nearest first: a fast object, or frames dropped under load, can move
   past any overlap between two frames.

3. **Seen.** A matched track takes the detection's box and score, ``last_ms = now_ms``,
   ``hits += 1``, ``missed_since_ms = None``; a strictly higher score replaces
   ``best_score``/``best_box``/``best_ms``. A track not matched keeps everything and gets
   ``missed_since_ms`` (the first update that missed it) if it had none.

4. **New tracks.** Every unmatched detection starts a track with the next id (1, 2, …),
   ``hits = 1``, its box as ``best_box`` and ``anchor_box``.

5. **Stationary.** ``anchor_box`` is where the object last came to rest. On each sighting,
   if ``IoU(box, anchor_box) >= stationary_iou`` the object is still there and
   ``stationary = now_ms - anchor_ms >= stationary_ms``; otherwise it has moved: the anchor
   becomes the new box at ``now_ms``, ``stationary = False`` and ``moved = True`` (for good:
   ``moved`` says the object has moved at least once since it was first seen). A missed
   frame changes neither. The anchor does not follow the box, so a slow drift adds up
   until it counts as a move.

An update costs ``O(T * D)`` IoUs for T tracks and D detections, plus a sort of the pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from campy.detection.types import Box, Detection, iou


class TrackerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How detections are linked into tracks, and what counts as stationary."""

    iou_match: float = 0.3  # a detection continues a track from this IoU up
    max_missed_ms: int = 5_000  # a track unseen for longer than this has ended
    stationary_iou: float = 0.85  # still at its anchor from this IoU up
    stationary_ms: int = 10_000  # still this long makes it stationary
    # A fast object (or dropped frames) can move past any IoU overlap between two frames: then
    # a detection of similar size whose centre is within this many box sizes of the track's
    # continues it, after every IoU match has been made.
    max_jump: float = 1.0


class TrackedObject(msgspec.Struct):
    """One object followed across frames. The tracker updates it in place."""

    id: int
    label: str
    box: Box  # at the last sighting
    score: float  # at the last sighting
    best_score: float
    best_box: Box
    first_ms: int
    last_ms: int  # the last sighting
    hits: int  # sightings, the first included
    missed_since_ms: int | None  # None while seen in the latest update
    stationary: bool
    anchor_box: Box  # where it last came to rest (its first box until it moves)
    best_ms: int  # when best_score was seen
    anchor_ms: int  # when it came to rest at anchor_box
    moved: bool  # has left its anchor at least once since first seen


class Tracker:
    """Follows objects across the frames of one camera; see the module docstring."""

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self.ended: list[TrackedObject] = []  # tracks the latest update dropped, by id
        self._tracks: dict[int, TrackedObject] = {}
        self._next_id = 1

    @property
    def tracks(self) -> list[TrackedObject]:
        """The live tracks, by id."""
        return sorted(self._tracks.values(), key=_by_id)

    def update(self, detections: Sequence[Detection], now_ms: int) -> list[TrackedObject]:
        """Take one frame's detections; return the live tracks (seen or missed), by id."""
        cfg = self.config
        self.ended = sorted(
            (t for t in self._tracks.values() if now_ms - t.last_ms > cfg.max_missed_ms),
            key=_by_id,
        )
        for track in self.ended:
            del self._tracks[track.id]

        used: set[int] = set()
        seen: set[int] = set()
        for track, i in self._match(detections):
            self._see(track, detections[i], now_ms)
            used.add(i)
            seen.add(track.id)
        for track in self._tracks.values():
            if track.id not in seen and track.missed_since_ms is None:
                track.missed_since_ms = now_ms
        for i, det in enumerate(detections):
            if i not in used:
                self._start(det, now_ms)
        return self.tracks

    def _match(self, detections: Sequence[Detection]) -> list[tuple[TrackedObject, int]]:
        """Rule 2: (track, detection index) pairs, greedily by IoU, then by nearness."""
        pairs: list[tuple[float, int, int]] = []
        for track in self._tracks.values():
            for i, det in enumerate(detections):
                if det.label != track.label:
                    continue
                overlap = iou(track.box, det.box)
                if overlap > 0 and overlap >= self.config.iou_match:
                    pairs.append((-overlap, track.id, i))
                else:
                    jump = _jump(track.box, det.box)
                    if jump is not None and jump <= self.config.max_jump:
                        pairs.append((1.0 + jump, track.id, i))  # after all IoU pairs
        pairs.sort()
        taken_tracks: set[int] = set()
        taken_dets: set[int] = set()
        matches: list[tuple[TrackedObject, int]] = []
        for _, track_id, i in pairs:
            if track_id in taken_tracks or i in taken_dets:
                continue
            taken_tracks.add(track_id)
            taken_dets.add(i)
            matches.append((self._tracks[track_id], i))
        return matches

    def _see(self, track: TrackedObject, det: Detection, now_ms: int) -> None:
        """Rules 3 and 5 for a matched track."""
        track.box = det.box
        track.score = det.score
        track.last_ms = now_ms
        track.hits += 1
        track.missed_since_ms = None
        if det.score > track.best_score:
            track.best_score = det.score
            track.best_box = det.box
            track.best_ms = now_ms
        if iou(det.box, track.anchor_box) >= self.config.stationary_iou:
            track.stationary = now_ms - track.anchor_ms >= self.config.stationary_ms
        else:
            track.anchor_box = det.box
            track.anchor_ms = now_ms
            track.stationary = False
            track.moved = True

    def _start(self, det: Detection, now_ms: int) -> None:
        """Rule 4."""
        track = TrackedObject(
            id=self._next_id,
            label=det.label,
            box=det.box,
            score=det.score,
            best_score=det.score,
            best_box=det.box,
            first_ms=now_ms,
            last_ms=now_ms,
            hits=1,
            missed_since_ms=None,
            # stationary_ms <= 0 makes anything stationary from its first sighting
            stationary=self.config.stationary_ms <= 0,
            anchor_box=det.box,
            best_ms=now_ms,
            anchor_ms=now_ms,
            moved=False,
        )
        self._tracks[track.id] = track
        self._next_id += 1


def _by_id(track: TrackedObject) -> int:
    return track.id


def _jump(a: Box, b: Box) -> float | None:
    """Centre distance of two boxes in units of ``a``'s larger side; None when their sizes
    differ by more than 2× (not the same object)."""
    aw, ah, bw, bh = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    if min(aw, ah, bw, bh) <= 0:
        return None
    if not (0.5 <= (bw * bh) / (aw * ah) <= 2.0):
        return None
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    return float((dx * dx + dy * dy) ** 0.5 / max(aw, ah))
