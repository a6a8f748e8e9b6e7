"""Tracker: matching, missed frames, expiry and the stationary flag, on synthetic boxes.

Frames are 200 ms apart (5 fps) from ``T0``; ``at(i)`` is frame ``i``'s time.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from campy.detection.tracker import TrackedObject, Tracker, TrackerConfig
from campy.detection.types import Box, Detection, iou

T0 = 1_700_000_000_000
FRAME_MS = 200


def at(i: int) -> int:
    return T0 + i * FRAME_MS


def det(box: Box, label: str = "person", score: float = 0.8) -> Detection:
    return Detection(label=label, score=score, box=box)


def shift(box: Box, dx: int = 0, dy: int = 0) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def by_id(tracks: Sequence[TrackedObject]) -> dict[int, TrackedObject]:
    return {t.id: t for t in tracks}


PERSON: Box = (100, 100, 140, 200)  # 40 x 100


# -- matching -----------------------------------------------------------------------------


def test_a_moving_object_keeps_one_track() -> None:
    tracker = Tracker()
    for i in range(10):
        tracks = tracker.update([det(shift(PERSON, 10 * i))], at(i))
        assert [t.id for t in tracks] == [1]
    (track,) = tracks
    assert track.box == shift(PERSON, 90)
    assert (track.hits, track.first_ms, track.last_ms) == (10, at(0), at(9))
    assert track.missed_since_ms is None
    assert tracker.ended == []


def test_best_score_box_and_time_follow_the_highest_score() -> None:
    tracker = Tracker()
    for i, score in enumerate([0.6, 0.9, 0.7, 0.9]):
        tracker.update([det(shift(PERSON, 5 * i), score=score)], at(i))
    (track,) = tracker.tracks
    assert track.score == 0.9  # the latest sighting
    # a later equal score does not replace the best: the first sighting of it stays
    assert (track.best_score, track.best_box, track.best_ms) == (0.9, shift(PERSON, 5), at(1))


def test_two_objects_crossing_keep_their_ids() -> None:
    # A walks right, B (nearer the camera: lower and bigger) walks left; they overlap
    # in the image for several frames around frame 12.
    a0: Box = (50, 100, 90, 200)
    b0: Box = (400, 130, 450, 250)
    tracker = Tracker()
    tracker.update([det(b0), det(a0)], at(0))
    ids = {t.box: t.id for t in tracker.tracks}
    a_id, b_id = ids[a0], ids[b0]
    for i in range(1, 24):
        a, b = shift(a0, 15 * i), shift(b0, -15 * i)
        # detection order alternates, so it cannot be what keeps the ids apart
        dets = [det(a), det(b)] if i % 2 else [det(b), det(a)]
        tracks = by_id(tracker.update(dets, at(i)))
        assert sorted(tracks) == [1, 2], f"frame {i}"
        assert tracks[a_id].box == a, f"frame {i}: A's track has B's box"
        assert tracks[b_id].box == b, f"frame {i}: B's track has A's box"
    # they really do overlap on the way (else this would test nothing)
    assert max(iou(shift(a0, 15 * i), shift(b0, -15 * i)) for i in range(24)) > 0.3
    assert tracks[a_id].hits == tracks[b_id].hits == 24


def test_labels_never_match_each_other() -> None:
    tracker = Tracker()
    for i in range(3):
        tracks = tracker.update([det(PERSON, "person"), det(PERSON, "car")], at(i))
    assert {(t.id, t.label, t.hits) for t in tracks} == {(1, "person", 3), (2, "car", 3)}

    # a car where a person just was is a new object, not the person's track
    tracker = Tracker()
    tracker.update([det(PERSON, "person")], at(0))
    tracks = tracker.update([det(PERSON, "car")], at(1))
    assert [(t.id, t.label, t.hits, t.missed_since_ms) for t in tracks] == [
        (1, "person", 1, at(1)),
        (2, "car", 1, None),
    ]


def test_greedy_takes_the_highest_iou_first() -> None:
    tracker = Tracker()
    t1: Box = (0, 0, 100, 100)
    t2: Box = (60, 0, 160, 100)
    tracker.update([det(t1), det(t2)], at(0))
    d1: Box = (50, 0, 150, 100)  # IoU 0.33 with track 1, 0.82 with track 2
    assert iou(t1, d1) >= 0.3
    tracks = by_id(tracker.update([det(d1)], at(1)))
    assert tracks[2].box == d1 and tracks[2].hits == 2
    assert tracks[1].box == t1 and tracks[1].missed_since_ms == at(1)

    # Two detections. Track 1's best is e1 (0.50), but track 2 overlaps e1 more (0.90) and
    # nothing else: highest-first gives e1 to track 2 and track 1 its second choice e2
    # (0.40). Tracks taking their best detection in id order would lose track 2.
    tracker = Tracker()
    t1, t2 = (100, 0, 200, 100), (138, 0, 238, 100)
    tracker.update([det(t1), det(t2)], at(0))
    e1: Box = (133, 0, 233, 100)
    e2: Box = (57, 0, 157, 100)
    assert iou(t1, e1) > iou(t1, e2) >= 0.3 and iou(t2, e1) > 0.9 and iou(t2, e2) < 0.3
    tracks = by_id(tracker.update([det(e1), det(e2)], at(1)))
    assert sorted(tracks) == [1, 2]
    assert (tracks[1].box, tracks[2].box) == (e2, e1)


@pytest.mark.parametrize(
    ("dx", "same_track"),
    [(53, True), (54, False)],  # IoU 47/153 = 0.307 and 46/154 = 0.299 against 0.3
    ids=["IoU just above iou_match continues the track", "just below starts a new one"],
)
def test_iou_match_threshold(dx: int, same_track: bool) -> None:
    box: Box = (0, 0, 100, 100)
    tracker = Tracker(TrackerConfig(iou_match=0.3, max_jump=0))  # IoU alone, no nearness fallback
    tracker.update([det(box)], at(0))
    tracks = tracker.update([det(shift(box, dx))], at(1))
    if same_track:
        assert [(t.id, t.hits) for t in tracks] == [(1, 2)]
    else:
        assert [(t.id, t.hits, t.missed_since_ms) for t in tracks] == [(1, 1, at(1)), (2, 1, None)]


# -- missed frames and expiry ---------------------------------------------------------------


def test_missed_frames_are_tolerated_and_flagged() -> None:
    tracker = Tracker()
    tracker.update([det(PERSON)], at(0))
    for i in range(1, 25):  # 4.8 s of frames without it
        (track,) = tracker.update([], at(i))
        assert track.missed_since_ms == at(1)  # the first update that missed it
    (track,) = tracker.update([det(shift(PERSON, 5))], at(25))  # 5.0 s: not > max_missed_ms
    assert (track.id, track.hits, track.missed_since_ms) == (1, 2, None)
    assert tracker.ended == []


@pytest.mark.parametrize(
    ("gap_ms", "max_missed_ms", "ended"),
    [
        (5_000, 5_000, False),
        (5_001, 5_000, True),
        (1_000, 999, True),
        (60_000, 60_000, False),
    ],
    ids=["gap == max_missed keeps", "1 ms over ends", "short config ends", "long config keeps"],
)
def test_track_ends_after_max_missed_ms(gap_ms: int, max_missed_ms: int, ended: bool) -> None:
    tracker = Tracker(TrackerConfig(max_missed_ms=max_missed_ms))
    tracker.update([det(PERSON, score=0.7)], T0)
    tracks = tracker.update([det(PERSON)], T0 + gap_ms)
    if ended:
        assert [(t.id, t.last_ms, t.hits) for t in tracker.ended] == [(1, T0, 1)]
        # the ended track is not revived: the detection starts a new one
        assert [(t.id, t.first_ms, t.hits) for t in tracks] == [(2, T0 + gap_ms, 1)]
    else:
        assert tracker.ended == []
        assert [(t.id, t.hits) for t in tracks] == [(1, 2)]
    tracker.update([det(PERSON)], T0 + gap_ms + 1)
    assert tracker.ended == []  # `ended` holds only the latest update's drops


def test_ended_lists_every_expired_track_by_id() -> None:
    tracker = Tracker()
    tracker.update([det((0, 0, 10, 10)), det((100, 0, 110, 10)), det((0, 0, 10, 10), "car")], T0)
    assert tracker.update([], T0 + 5_000) != []
    assert tracker.update([], T0 + 5_001) == []
    assert [(t.id, t.label) for t in tracker.ended] == [(1, "person"), (2, "person"), (3, "car")]


# -- stationary -------------------------------------------------------------------------------


def jitter(i: int) -> Box:
    """PERSON wobbling by up to 1 px, as a detector's boxes do for a still object."""
    d = (i % 3) - 1
    return (PERSON[0] + d, PERSON[1] - d, PERSON[2] + d, PERSON[3])


def test_stationary_after_stationary_ms_still_and_reset_by_a_move() -> None:
    tracker = Tracker()
    flags = []
    for i in range(61):  # 12 s still
        (track,) = tracker.update([det(jitter(i))], at(i))
        flags.append(track.stationary)
    assert flags.index(True) == 50  # exactly 10_000 ms after the first sighting
    assert all(flags[50:]) and not any(flags[:50])
    assert (track.anchor_box, track.anchor_ms, track.moved) == (jitter(0), at(0), False)

    # missed frames keep the flag
    for i in range(61, 71):
        (track,) = tracker.update([], at(i))
    assert track.stationary

    # a 20 px step (IoU 0.33) is a move: new anchor, flag reset, moved for good
    moved_box = shift(PERSON, 20)
    (track,) = tracker.update([det(moved_box)], at(71))
    assert (track.stationary, track.moved) == (False, True)
    assert (track.anchor_box, track.anchor_ms) == (moved_box, at(71))

    # still again: stationary again 10 s after the move, not 10 s after the first sighting
    became_stationary = []
    for i in range(72, 72 + 51):
        (track,) = tracker.update([det(moved_box)], at(i))
        if track.stationary:
            became_stationary.append(i)
    assert became_stationary[0] == 71 + 50
    assert track.moved


def test_slow_drift_adds_up_to_a_move() -> None:
    # 1 px per frame on a 40 px wide box: IoU with the anchor is 37/43 = 0.86 after 3 px,
    # 36/44 = 0.82 after 4 px, so the anchor moves on the 4th frame, not never.
    tracker = Tracker()
    moved = []
    for i in range(6):
        (track,) = tracker.update([det(shift(PERSON, i))], at(i))
        moved.append(track.moved)
    assert moved == [False, False, False, False, True, True]
    assert (track.anchor_box, track.anchor_ms) == (shift(PERSON, 4), at(4))


def test_stationary_thresholds_come_from_the_config() -> None:
    tracker = Tracker(TrackerConfig(stationary_iou=0.95, stationary_ms=1_000))
    states = []
    # 1 px off the anchor: IoU 39/41 = 0.951 keeps it; 2 px (38/42 = 0.905) does not
    for i, dx in enumerate([0, 1, 1, 1, 1, 1, 2, 2]):
        (track,) = tracker.update([det(shift(PERSON, dx))], at(i))
        states.append((track.stationary, track.moved))
    assert states == [
        (False, False),
        (False, False),
        (False, False),
        (False, False),
        (False, False),
        (True, False),  # 1_000 ms at IoU >= 0.95
        (False, True),  # 2 px from the anchor: a move under the stricter threshold
        (False, True),
    ]


def test_a_fast_object_without_overlap_between_frames_keeps_its_track():
    from campy.detection.tracker import Tracker
    from campy.detection.types import Detection

    t = Tracker()
    ids = set()
    for i in range(10):  # 64 px wide, moving 70 px a frame: IoU 0 between frames
        x = 10 + 70 * i
        for obj in t.update([Detection("person", 0.9, (x, 100, x + 64, 228))], 1_000 + i * 200):
            ids.add(obj.id)
    assert len(ids) == 1
    # ...but a detection far away (3 box sizes) or of a very different size starts its own track.
    t2 = Tracker()
    t2.update([Detection("person", 0.9, (0, 0, 64, 128))], 0)
    live = t2.update([Detection("person", 0.9, (400, 0, 464, 128))], 200)
    assert len({o.id for o in live}) == 2
    t3 = Tracker()
    t3.update([Detection("person", 0.9, (0, 0, 64, 128))], 0)
    live = t3.update([Detection("person", 0.9, (70, 0, 270, 400))], 200)
    assert len({o.id for o in live}) == 2
