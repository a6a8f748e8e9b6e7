"""Zones and events: geometry tables, then tracks turned into events through a real Tracker.

The zone tests live here because zones matter to CamPy only through events. Event tests
feed synthetic detections, one list per frame at 5 fps from ``T0``, through
:class:`Tracker` and :class:`EventBuilder`; a case lists what it expects as
``(frame index, kind)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import pytest

from campy.detection.events import EventBuilder, EventRules, EventUpdate, LabelFilter
from campy.detection.tracker import Tracker, TrackerConfig
from campy.detection.types import Box, Detection, Point, Polygon
from campy.detection.zones import (
    box_in_zone,
    point_in_polygon,
    validate_polygon,
    zones_of,
)

T0 = 1_700_000_000_000
FRAME_MS = 200  # 5 fps

Frames = list[list[Detection]]


def at(i: int) -> int:
    return T0 + i * FRAME_MS


def rect(x1: float, y1: float, x2: float, y2: float) -> Polygon:
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


# == zones ==================================================================================

SQUARE = rect(0, 0, 10, 10)
DIAMOND: Polygon = [(5, 0), (10, 5), (5, 10), (0, 5)]
TRIANGLE: Polygon = [(0, 0), (10, 0), (0, 10)]
# A "U" opening downwards (y grows down): the notch x 10..20, y 10..30 is outside.
U_SHAPE: Polygon = [(0, 0), (30, 0), (30, 30), (20, 30), (20, 10), (10, 10), (10, 30), (0, 30)]

POINT_CASES: list[tuple[str, Point, Polygon, bool]] = [
    ("square centre", (5, 5), SQUARE, True),
    ("square right of it", (15, 5), SQUARE, False),
    ("square just left of the left edge", (-0.001, 5), SQUARE, False),
    ("square on the left edge", (0, 5), SQUARE, True),
    ("square on the top edge", (5, 0), SQUARE, True),
    ("square on the right edge", (10, 5), SQUARE, True),
    ("square on the bottom edge", (5, 10), SQUARE, True),
    ("square on a vertex", (10, 10), SQUARE, True),
    ("square just below the bottom edge", (5, 10.001), SQUARE, False),
    ("diamond: ray through the right vertex", (2, 5), DIAMOND, True),
    ("diamond: left of it, ray through two vertices", (-1, 5), DIAMOND, False),
    ("diamond: right of it", (11, 5), DIAMOND, False),
    ("diamond: outside a corner", (1, 1), DIAMOND, False),
    ("triangle: on the hypotenuse", (5, 5), TRIANGLE, True),
    ("triangle: just past the hypotenuse", (5.01, 5), TRIANGLE, False),
    ("concave: in the notch", (15, 20), U_SHAPE, False),
    ("concave: deep in the notch", (15, 29), U_SHAPE, False),
    ("concave: left arm", (5, 20), U_SHAPE, True),
    ("concave: right arm", (25, 20), U_SHAPE, True),
    ("concave: the bar above the notch", (15, 5), U_SHAPE, True),
    ("concave: on the notch's top edge", (15, 10), U_SHAPE, True),
    ("concave: on the notch's side edge", (20, 20), U_SHAPE, True),
    ("concave: below the notch, outside", (15, 31), U_SHAPE, False),
    ("two points contain nothing", (5, 0), [(0, 0), (10, 0)], False),
]


@pytest.mark.parametrize(
    ("pt", "poly", "inside"), [c[1:] for c in POINT_CASES], ids=[c[0] for c in POINT_CASES]
)
def test_point_in_polygon(pt: Point, poly: Polygon, inside: bool) -> None:
    assert point_in_polygon(pt, poly) is inside


DRIVEWAY = rect(100, 150, 300, 250)

BOX_CASES: list[tuple[str, Box, Polygon, bool]] = [
    # bottom-centre of (x1, y1, x2, y2) is ((x1 + x2 - 1) / 2, y2 - 1)
    ("feet in, most of the body above the zone", (180, 20, 201, 220), DRIVEWAY, True),
    ("body over the zone, feet below it", (180, 200, 201, 300), DRIVEWAY, False),
    ("box centre in, feet below", (180, 100, 201, 262), DRIVEWAY, False),
    ("overlaps the side, feet outside", (290, 100, 341, 200), DRIVEWAY, False),
    ("feet exactly on the zone's bottom edge", (180, 100, 201, 251), DRIVEWAY, True),
    (
        "on the frame's bottom edge, zone drawn to the last row",
        (300, 270, 341, 360),
        rect(0, 300, 640, 359),
        True,
    ),
    (
        "on the frame's bottom edge, zone drawn to the frame edge",
        (300, 270, 341, 360),
        rect(0, 300, 640, 360),
        True,
    ),
    (
        "on the frame's bottom edge, zone stops a row short",
        (300, 270, 341, 360),
        rect(0, 300, 640, 358),
        False,
    ),
]


@pytest.mark.parametrize(
    ("box", "poly", "inside"), [c[1:] for c in BOX_CASES], ids=[c[0] for c in BOX_CASES]
)
def test_box_in_zone_uses_the_bottom_centre(box: Box, poly: Polygon, inside: bool) -> None:
    assert box_in_zone(box, poly) is inside


def test_zones_of_lists_every_zone_sorted() -> None:
    zones = {"street": rect(0, 200, 640, 360), "drive": DRIVEWAY, "gate": rect(0, 0, 50, 50)}
    assert zones_of((180, 100, 201, 231), zones) == ["drive", "street"]
    assert zones_of((180, 100, 201, 301), zones) == ["street"]
    assert zones_of((500, 0, 521, 30), zones) == []
    assert zones_of((500, 0, 521, 30), {}) == []


VALIDATE_CASES: list[tuple[str, Polygon, str | None]] = [
    ("a triangle", [(10, 10), (100, 10), (50, 80)], None),
    ("the whole frame, edges included", rect(0, 0, 640, 360), None),
    ("concave", U_SHAPE, None),
    ("two points", [(0, 0), (10, 10)], "at least 3 points, got 2"),
    ("no points", [], "at least 3 points, got 0"),
    (
        "right of the frame",
        [(10, 10), (641, 10), (50, 80)],
        "point 2 (641, 10) is outside the 640x360 frame",
    ),
    ("above the frame", [(10, 10), (100, 10), (50, -0.5)], "point 3 (50, -0.5) is outside"),
    ("below the frame", [(10, 361), (100, 10), (50, 80)], "point 1 (10, 361) is outside"),
    (
        "not a number",
        [(10, 10), (math.nan, 10), (50, 80)],
        "point 2 (nan, 10) is not a finite number",
    ),
    ("all on one line", [(0, 0), (10, 10), (20, 20)], "enclose no area"),
    ("a repeated point", [(5, 5), (5, 5), (5, 5), (5, 5)], "enclose no area"),
    ("a bow tie whose lobes cancel", [(0, 0), (10, 10), (10, 0), (0, 10)], "enclose no area"),
]


@pytest.mark.parametrize(
    ("poly", "error"), [c[1:] for c in VALIDATE_CASES], ids=[c[0] for c in VALIDATE_CASES]
)
def test_validate_polygon(poly: Polygon, error: str | None) -> None:
    got = validate_polygon(poly, 640, 360)
    if error is None:
        assert got is None
    else:
        assert got is not None and error in got


# == events: helpers ===========================================================================

PERSON: Box = (0, 200, 30, 290)  # 30 x 90 = 2700 px²; bottom-centre x = x1 + 14.5


def shift(box: Box, dx: int = 0, dy: int = 0) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def det(box: Box, label: str = "person", score: float = 0.8) -> Detection:
    return Detection(label=label, score=score, box=box)


def walk(
    n: int,
    start: Box = PERSON,
    dx: int = 10,
    label: str = "person",
    scores: Sequence[float] | float = 0.8,
) -> Frames:
    """n frames of one object moving dx px per frame."""
    seq = [scores] * n if isinstance(scores, float) else list(scores)
    return [[det(shift(start, dx * i), label, seq[i])] for i in range(n)]


@dataclass
class Run:
    events: list[tuple[int, EventUpdate]]  # (frame index, value)
    track_ids: set[int] = field(default_factory=set)

    def summary(self) -> list[tuple[int, str]]:
        return [(i, e.kind) for i, e in self.events]

    def of(self, kind: str) -> list[EventUpdate]:
        return [e for _, e in self.events if e.kind == kind]


def run(frames: Frames, rules: EventRules, *, flush: bool = True) -> Run:
    """Feed the frames through a Tracker and an EventBuilder; with ``flush``, go on with
    empty frames until every track has ended."""
    tracker = Tracker(TrackerConfig())
    builder = EventBuilder(rules)
    out = Run([])

    def step(i: int, dets: list[Detection]) -> None:
        tracked = tracker.update(dets, at(i))
        out.track_ids.update(t.id for t in tracked)
        out.events.extend((i, e) for e in builder.update(tracked, tracker.ended, at(i)))

    for i, dets in enumerate(frames):
        step(i, dets)
    i = len(frames)
    while flush and tracker.tracks:
        step(i, [])
        i += 1
    return out


# A person walking 5 frames (last sighting frame 4) ends on frame 30: the first frame
# more than max_missed_ms (5 s = 25 frames) after it.
END5 = 30


@dataclass(frozen=True)
class Case:
    id: str
    frames: Frames
    rules: EventRules
    expect: list[tuple[int, str]]


PC = ["person", "car"]

FILTER_CASES = [
    Case(
        "min_frames 3 starts on the 3rd sighting",
        walk(5),
        EventRules(min_frames=3),
        [(2, "start"), (END5, "end")],
    ),
    Case("min_frames 2", walk(5), EventRules(min_frames=2), [(1, "start"), (END5, "end")]),
    Case("min_frames 5", walk(5), EventRules(min_frames=5), [(4, "start"), (END5, "end")]),
    Case("min_frames 6, seen 5 times: none", walk(5), EventRules(min_frames=6), []),
    Case(
        "min_frames 1 still waits for the first move (rule 5)",
        walk(5),
        EventRules(min_frames=1),
        [(1, "start"), (END5, "end")],
    ),
    Case("score below min_score: none", walk(5, scores=0.49), EventRules(), []),
    Case(
        "starts on the first sighting at min_score once min_frames is met",
        walk(5, scores=[0.9, 0.45, 0.45, 0.5, 0.45]),
        EventRules(),
        [(3, "start"), (END5, "end")],
    ),
    Case("area below min_area: none", walk(5), EventRules(min_area=2701), []),
    Case(
        "area exactly min_area", walk(5), EventRules(min_area=2700), [(2, "start"), (END5, "end")]
    ),
    Case("label not in labels: none", walk(5, label="dog"), EventRules(labels=PC), []),
    Case("default labels are person only", walk(5, label="car"), EventRules(), []),
    Case(
        "car override min_score 0.7 stops a 0.6 car",
        walk(5, label="car", scores=0.6),
        EventRules(labels=PC, label_filters={"car": LabelFilter(min_score=0.7)}),
        [],
    ),
    Case(
        "car override lets a 0.75 car through",
        walk(5, label="car", scores=0.75),
        EventRules(labels=PC, label_filters={"car": LabelFilter(min_score=0.7)}),
        [(2, "start"), (END5, "end")],
    ),
    Case(
        "a person keeps the global min_score beside a car override",
        walk(5, scores=0.6),
        EventRules(labels=PC, label_filters={"car": LabelFilter(min_score=0.7)}),
        [(2, "start"), (END5, "end")],
    ),
    Case(
        "override lower than the global min_score",
        walk(5, scores=0.4),
        EventRules(label_filters={"person": LabelFilter(min_score=0.3)}),
        [(2, "start"), (END5, "end")],
    ),
    Case(
        "override min_area for person",
        walk(5),
        EventRules(min_area=100, label_filters={"person": LabelFilter(min_area=5000)}),
        [],
    ),
    Case(
        "override min_area, min_score left None inherits the global 0.5",
        walk(5, scores=0.45),
        EventRules(label_filters={"person": LabelFilter(min_area=100)}),
        [],
    ),
]


@pytest.mark.parametrize("case", FILTER_CASES, ids=[c.id for c in FILTER_CASES])
def test_filters(case: Case) -> None:
    assert run(case.frames, case.rules).summary() == case.expect


# == events: zones ===============================================================================

# Three side-by-side strips. A person from PERSON walking 10 px per frame has its
# bottom-centre at x = 10 i + 14.5: in A on frames 9..18, B 19..28, C 29..38.
STRIPS = {"A": rect(100, 0, 200, 360), "B": rect(200, 0, 300, 360), "C": rect(300, 0, 400, 360)}
END45 = 44 + 26  # walk(45): last sighting on frame 44

ZONE_CASES = [
    (
        "no alert zones: starts anywhere, an update per zone entered",
        walk(45),
        EventRules(zones=STRIPS),
        [
            (2, "start", []),
            (9, "update", ["A"]),
            (19, "update", ["A", "B"]),
            (29, "update", ["A", "B", "C"]),
            (END45, "end", ["A", "B", "C"]),
        ],
    ),
    (
        "alert zone B: starts on entering B, with the zones before it",
        walk(45),
        EventRules(zones=STRIPS, alert_zones=["B"]),
        [
            (19, "start", ["A", "B"]),
            (29, "update", ["A", "B", "C"]),
            (END45, "end", ["A", "B", "C"]),
        ],
    ),
    (
        "alert zones B or C: the first one entered starts it",
        walk(45),
        EventRules(zones=STRIPS, alert_zones=["C", "B"]),
        [
            (19, "start", ["A", "B"]),
            (29, "update", ["A", "B", "C"]),
            (END45, "end", ["A", "B", "C"]),
        ],
    ),
    (
        "alert zone C, the walk stops short of it: none",
        walk(25),
        EventRules(zones=STRIPS, alert_zones=["C"]),
        [],
    ),
    # 100 px wide, 40 px per frame: bottom-centre x = 40 i + 109.5, in "gate" (100..170)
    # on frames 0 and 1 only, before min_frames is met on frame 2
    (
        "crossed the alert zone before min_frames: starts once the filters pass",
        walk(5, start=(60, 200, 160, 290), dx=40),
        EventRules(zones={"gate": rect(100, 0, 170, 360)}, alert_zones=["gate"]),
        [(2, "start", ["gate"]), (END5, "end", ["gate"])],
    ),
    # the box's top 50 px overlap the porch all along, the feet never do
    (
        "box overlaps the alert zone, feet never in it: none",
        walk(45),
        EventRules(zones={"porch": rect(0, 0, 640, 250)}, alert_zones=["porch"]),
        [],
    ),
]


@pytest.mark.parametrize(
    ("frames", "rules", "expect"), [c[1:] for c in ZONE_CASES], ids=[c[0] for c in ZONE_CASES]
)
def test_zones(frames: Frames, rules: EventRules, expect: list[tuple[int, str, list[str]]]) -> None:
    got = run(frames, rules)
    assert [(i, e.kind, e.zones) for i, e in got.events] == expect


def test_a_person_walking_through_gives_one_event_with_the_zones_traversed() -> None:
    got = run(walk(45), EventRules(zones=STRIPS))
    assert len(got.of("start")) == 1
    (end,) = got.of("end")
    assert end.zones == ["A", "B", "C"]
    assert (end.start_ms, end.end_ms) == (at(0), at(44))
    assert {e.event_key for _, e in got.events} == {1}


def test_leaving_and_reentering_the_alert_zone_is_still_one_event() -> None:
    xs = [10 * i for i in range(25)]  # to B (frame 19 on)
    xs += [240 - 10 * i for i in range(1, 15)]  # back into A
    xs += [100 + 10 * i for i in range(1, 15)]  # into B again
    frames = [[det(shift(PERSON, x))] for x in xs]
    got = run(frames, EventRules(zones=STRIPS, alert_zones=["B"]))
    assert got.summary() == [(19, "start"), (len(xs) - 1 + 26, "end")]
    assert got.track_ids == {1}


# == events: content of start / update / end ===========================================================


def test_best_score_updates_and_end() -> None:
    scores = [0.6, 0.6, 0.6, 0.6, 0.8, 0.7, 0.9, 0.5]
    got = run(walk(8, scores=scores), EventRules())
    assert [(i, e.kind, e.score, e.best_frame_ms, e.box) for i, e in got.events] == [
        (2, "start", 0.6, at(0), PERSON),
        (4, "update", 0.8, at(4), shift(PERSON, 40)),
        (6, "update", 0.9, at(6), shift(PERSON, 60)),
        (7 + 26, "end", 0.9, at(6), shift(PERSON, 60)),
    ]
    assert {(e.event_key, e.label, e.start_ms) for _, e in got.events} == {(1, "person", T0)}
    assert [e.end_ms for _, e in got.events] == [None, None, None, at(7)]


def test_one_update_covers_a_new_zone_and_a_better_score_together() -> None:
    # frame 9 enters A with a better score: one update, carrying both
    scores = [0.6] * 9 + [0.9] + [0.6] * 2
    got = run(walk(12, scores=scores), EventRules(zones=STRIPS))
    assert [(i, e.kind, e.score, e.zones) for i, e in got.events] == [
        (2, "start", 0.6, []),
        (9, "update", 0.9, ["A"]),
        (11 + 26, "end", 0.9, ["A"]),
    ]


def test_an_object_that_stops_and_walks_on_is_still_one_event() -> None:
    frames = walk(10)
    frames += [[det(shift(PERSON, 90))] for _ in range(75)]  # 15 s still: stationary
    frames += [[det(shift(PERSON, 90 + 10 * i))] for i in range(1, 11)]
    got = run(frames, EventRules())
    assert got.summary() == [(2, "start"), (len(frames) - 1 + 26, "end")]


def test_a_track_that_vanishes_from_tracked_is_ended() -> None:
    tracker = Tracker()
    builder = EventBuilder(EventRules())
    kinds = []
    for i, dets in enumerate(walk(3)):
        kinds += [e.kind for e in builder.update(tracker.update(dets, at(i)), tracker.ended, at(i))]
    assert kinds == ["start"]
    # e.g. the caller replaced its tracker: the event must still end
    (end,) = builder.update([], [], at(3))
    assert (end.kind, end.event_key, end.end_ms) == ("end", 1, at(2))
    assert builder.update([], [], at(4)) == []


def test_rules_reject_undefined_alert_zones_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="alert_zones not defined in zones: gate"):
        EventRules(zones={"drive": DRIVEWAY}, alert_zones=["drive", "gate"])
    with pytest.raises(msgspec.ValidationError, match="gate"):
        msgspec.convert({"alert_zones": ["gate"]}, EventRules)
    with pytest.raises(msgspec.ValidationError, match="min_scroe"):
        msgspec.convert({"min_scroe": 0.3}, EventRules)
    rules = msgspec.convert(
        {
            "labels": ["car"],
            "zones": {"drive": [[0, 0], [10, 0], [10, 10]]},
            "alert_zones": ["drive"],
            "label_filters": {"car": {"min_area": 400}},
        },
        EventRules,
    )
    assert rules.zones == {"drive": [(0, 0), (10, 0), (10, 10)]}
    assert rules.label_filters["car"] == LabelFilter(min_area=400)
    assert EventRules().labels == ["person"]


# == events: parked and still objects ========================================================

SPOT: Box = (300, 200, 420, 280)  # 120 x 80: where the car parks
MINUTES_10 = 10 * 60 * 1000 // FRAME_MS  # 3000 frames


def parked(i: int) -> Box:
    """SPOT wobbling by up to 1 px each way, like a detector's boxes for a parked car
    (IoU with any other wobble >= 0.92: still, for the tracker)."""
    dx, dy = i % 3 - 1, (i // 3) % 3 - 1
    return shift(SPOT, dx, dy)


def car(box: Box) -> list[Detection]:
    return [det(box, "car")]


DRIVE_IN: Frames = [car((20 * i, 200, 20 * i + 120, 280)) for i in range(15)]  # x1 0..280


def flicker(start: int, total: int, *, visible: int, lost: int, occluded: bool) -> Frames:
    """Frames ``start..total-1`` of a parked car seen for ``visible`` frames, then lost for
    ``lost`` frames, over and over. ``occluded``: three frames of each visible period show
    only its right half (someone walks past in front), and each re-detection begins with
    a partial box (the left 70 %)."""
    frames: Frames = []
    for i in range(start, total):
        k = (i - start) % (visible + lost)
        if k >= visible:
            frames.append([])
        elif occluded and k in (100, 101, 102):
            frames.append(car((360, 200, 420, 280)))
        elif occluded and k == 0 and i > start:
            frames.append(car((300, 200, 384, 280)))
        else:
            frames.append(car(parked(i)))
    return frames


# 60 s seen, 6 s lost (more than max_missed_ms, so every cycle is a new track)
FLICKER = {"visible": 300, "lost": 30}
CYCLES = math.ceil((MINUTES_10 - len(DRIVE_IN)) / (300 + 30))  # 10 tracks of the car
CAR = EventRules(labels=["car"])
NO_MEMORY = EventRules(labels=["car"], stationary_memory_ms=0)


@pytest.mark.parametrize(
    ("occluded", "rules", "starts"),
    [
        (False, CAR, 1),
        (True, CAR, 1),
        (False, NO_MEMORY, 1),  # a re-detection that never moves is held by rule 5 alone
        (True, NO_MEMORY, CYCLES),  # what rule 6 prevents: every re-detection "moved"
    ],
    ids=[
        "flicker",
        "flicker with occlusions",
        "flicker, no memory",
        "flicker with occlusions, no memory: one event per re-detection",
    ],
)
def test_a_parked_car_that_flickers_for_10_minutes(
    occluded: bool, rules: EventRules, starts: int
) -> None:
    frames = DRIVE_IN + flicker(len(DRIVE_IN), MINUTES_10, **FLICKER, occluded=occluded)
    assert len(frames) == MINUTES_10
    got = run(frames, rules, flush=False)
    assert got.track_ids == set(range(1, CYCLES + 1))  # the tracker did lose it each time
    assert len(got.of("start")) == starts
    if starts == 1:
        # the drive-in track's event, ended when that track was lost: last seen on frame
        # 15 + 299, ended 26 frames later
        assert got.summary() == [(2, "start"), (314 + 26, "end")]
        (end,) = got.of("end")
        assert (end.event_key, end.start_ms, end.end_ms) == (1, at(0), at(314))


def test_a_car_that_drives_in_and_parks_gives_one_event() -> None:
    # bottom-centre x = 20 i + 59.5: in the driveway (250..450) from frame 10
    rules = EventRules(labels=["car"], zones={"driveway": rect(250, 150, 450, 300)})
    frames = DRIVE_IN + [car(parked(i)) for i in range(len(DRIVE_IN), 600)]  # 2 minutes
    got = run(frames, rules, flush=False)
    assert [(i, e.kind, e.zones, e.start_ms) for i, e in got.events] == [
        (2, "start", [], at(0)),
        (10, "update", ["driveway"], at(0)),
    ]


def test_a_car_parked_before_campy_starts_never_alerts() -> None:
    frames = flicker(0, MINUTES_10, **FLICKER, occluded=False)
    got = run(frames, CAR)
    assert got.events == []
    assert len(got.track_ids) == math.ceil(MINUTES_10 / 330)  # lost and found 10 times


def test_a_parked_car_that_drives_off_gives_one_event_from_when_it_moved() -> None:
    # parked from the start: seen 20 s, lost 6 s, seen 20 s (a re-detection, held by the
    # memory of the first track), then drives off left 20 px per frame from frame 230
    frames = flicker(0, 230, visible=100, lost=30, occluded=False)
    frames += [car(shift(SPOT, -20 * (j + 1))) for j in range(15)]
    got = run(frames, CAR)
    # frame 230 is 20 px off (IoU 0.71 with the remembered place: still held); frame 231
    # is 40 px off, no longer at the remembered place
    assert got.summary() == [(231, "start"), (244 + 26, "end")]
    start = got.of("start")[0]
    assert (start.event_key, start.start_ms) == (2, at(230))  # not at(130), its first sighting


def test_a_car_parking_where_a_remembered_one_left_alerts() -> None:
    # The departure forgets the remembered place. The second car is first seen already at
    # the spot (part of it, as it comes out from behind something), so only that
    # forgetting lets it alert: a remembered place would hold it (rule 6).
    frames = flicker(0, 230, visible=100, lost=30, occluded=False)
    frames += [car(shift(SPOT, -20 * (j + 1))) for j in range(15)]  # leaves, last seen 244
    frames += [[] for _ in range(30)]
    frames += [car((300, 200, 384, 280))] + [car(parked(i)) for i in range(100)]  # 275..375
    got = run(frames, CAR)
    assert got.summary() == [(231, "start"), (244 + 26, "end"), (277, "start"), (375 + 26, "end")]
