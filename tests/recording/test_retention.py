"""plan_retention: table-driven cases per rule, plus random data against a slow reference.

Times in the tables are milliseconds relative to ``T0``; a case lists the deletions it
expects as ``(segment_id, reason)`` in output order, so order is asserted too.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest

from campy.recording.model import (
    DAY_MS,
    CameraPolicy,
    Deletion,
    Mark,
    MarkKind,
    Mode,
    RetentionPlan,
    Segment,
)
from campy.recording.retention import plan_retention

T0 = 1_700_000_000_000  # a realistic epoch, so nothing accidentally works only near 0
GRACE = 120_000
SEG_END = 10_000  # the default test segment is [0, 10 s)


def seg(id: int, start: int = 0, end: int = SEG_END, cam: str = "a", size: int = 100) -> Segment:
    return Segment(id=id, camera=cam, start_ms=T0 + start, end_ms=T0 + end, size_bytes=size)


def mark(
    start: int,
    end: int | None,
    kind: MarkKind = "motion",
    cam: str = "a",
    keep_until: int | None = None,
) -> Mark:
    return Mark(
        camera=cam,
        kind=kind,
        start_ms=T0 + start,
        end_ms=None if end is None else T0 + end,
        keep_until_ms=None if keep_until is None else T0 + keep_until,
    )


def pol(mode: Mode = "continuous", days: float = 1.0, pre: int = 5_000, post: int = 5_000) -> CameraPolicy:
    return CameraPolicy(mode=mode, days=days, pre_roll_ms=pre, post_roll_ms=post, grace_ms=GRACE)


@dataclass(frozen=True)
class Case:
    id: str
    segments: list[Segment]
    now: int  # relative to T0
    expect: list[tuple[int, str]]
    marks: list[Mark] = field(default_factory=list)
    policies: dict[str, CameraPolicy] = field(default_factory=lambda: {"a": pol(), "b": pol()})
    used: int | None = None  # None: the sum of the segments' sizes
    free: int | None = None
    max_bytes: int | None = None
    min_free: int | None = None
    default_policy: CameraPolicy = CameraPolicy()
    shortfall: int = 0
    forced: frozenset[int] = frozenset()  # protected segments the limits took (rule 3b)


def run(case: Case) -> RetentionPlan:
    return plan_retention(
        case.segments,
        case.marks,
        case.policies,
        now_ms=T0 + case.now,
        used_bytes=sum(s.size_bytes for s in case.segments) if case.used is None else case.used,
        free_bytes=case.free,
        max_bytes=case.max_bytes,
        min_free_bytes=case.min_free,
        default_policy=case.default_policy,
    )


def check(case: Case) -> None:
    plan = run(case)
    assert [(d.segment_id, d.reason) for d in plan.deletions] == case.expect
    assert plan.shortfall_bytes == case.shortfall
    assert {d.segment_id for d in plan.deletions if d.protected} == case.forced
    by_id = {s.id: s for s in case.segments}
    for d in plan.deletions:  # a deletion carries its segment's own camera and size
        assert (d.camera, d.size_bytes) == (by_id[d.segment_id].camera, by_id[d.segment_id].size_bytes)


def ids(cases: Sequence[Case]) -> list[str]:
    return [c.id for c in cases]


# -- rule 1: age ------------------------------------------------------------------------

AGE_CASES = [
    Case("continuous: exactly at keep_until is deleted", [seg(1)], SEG_END + DAY_MS, [(1, "expired")]),
    Case("continuous: 1 ms before keep_until is kept", [seg(1)], SEG_END + DAY_MS - 1, []),
    Case("continuous: marks do not matter", [seg(1)], SEG_END + DAY_MS, [(1, "expired")],
         marks=[mark(0, 5_000, "event")]),
    Case("continuous: 0.7 days is exact, not truncated (float gives 60479999.99...)",
         [seg(1), seg(2, 1, SEG_END + 1)], SEG_END + 60_480_000, [(1, "expired")],
         policies={"a": pol(days=0.7)}),
    Case("continuous: days 0 deletes at the segment's end", [seg(1)], SEG_END, [(1, "expired")],
         policies={"a": pol(days=0)}),
    Case("motion: no mark, 1 ms before grace ends, kept", [seg(1)], SEG_END + GRACE - 1, [],
         policies={"a": pol("motion")}),
    Case("motion: no mark, grace over, unmarked", [seg(1)], SEG_END + GRACE, [(1, "unmarked")],
         policies={"a": pol("motion")}),
    Case("motion: motion mark keeps it past grace", [seg(1)], SEG_END + GRACE, [],
         marks=[mark(2_000, 3_000)], policies={"a": pol("motion")}),
    Case("motion: event mark also claims", [seg(1)], SEG_END + GRACE, [],
         marks=[mark(2_000, 3_000, "event")], policies={"a": pol("motion")}),
    Case("motion: claimed segment 1 ms before days kept", [seg(1)], SEG_END + DAY_MS - 1, [],
         marks=[mark(2_000, 3_000)], policies={"a": pol("motion")}),
    Case("motion: claimed segment expires after days", [seg(1)], SEG_END + DAY_MS, [(1, "expired")],
         marks=[mark(2_000, 3_000)], policies={"a": pol("motion")}),
    Case("motion: another camera's mark does not claim", [seg(1)], SEG_END + GRACE, [(1, "unmarked")],
         marks=[mark(2_000, 3_000, cam="b")], policies={"a": pol("motion"), "b": pol("motion")}),
    Case("motion: only the overlapped segment is claimed",
         [seg(1), seg(2, 10_000, 20_000), seg(3, 20_000, 30_000)], 30_000 + GRACE,
         [(1, "unmarked"), (3, "unmarked")],
         marks=[mark(16_000, 18_000)], policies={"a": pol("motion", pre=1_000, post=1_000)}),
    Case("events: motion mark is ignored", [seg(1)], SEG_END + GRACE, [(1, "unmarked")],
         marks=[mark(2_000, 3_000, "motion")], policies={"a": pol("events")}),
    Case("events: event mark claims", [seg(1)], SEG_END + GRACE, [],
         marks=[mark(2_000, 3_000, "event")], policies={"a": pol("events")}),
    Case("events: claimed segment expires after days", [seg(1)], SEG_END + DAY_MS, [(1, "expired")],
         marks=[mark(2_000, 3_000, "event")], policies={"a": pol("events")}),
]


@pytest.mark.parametrize("case", AGE_CASES, ids=ids(AGE_CASES))
def test_age(case: Case) -> None:
    check(case)


# -- rule 1: pre/post roll edges (segment [0, 10 s), roll 5 s, judged once grace is over) --

def roll_case(name: str, m: Mark, claimed: bool, pre: int = 5_000, post: int = 5_000) -> Case:
    return Case(name, [seg(1)], SEG_END + GRACE, [] if claimed else [(1, "unmarked")],
                marks=[m], policies={"a": pol("motion", pre=pre, post=post)})


ROLL_CASES = [
    roll_case("pre-roll: widened start touches the end, no overlap", mark(15_000, 16_000), False),
    roll_case("pre-roll: widened start 1 ms inside, overlap", mark(14_999, 16_000), True),
    roll_case("post-roll: widened end touches the start, no overlap", mark(-9_000, -5_000), False),
    roll_case("post-roll: widened end 1 ms inside, overlap", mark(-9_000, -4_999), True),
    roll_case("no roll: mark starting at the end does not overlap", mark(10_000, 11_000), False, 0, 0),
    roll_case("no roll: mark ending at the start does not overlap", mark(-1_000, 0), False, 0, 0),
    roll_case("no roll: mark inside overlaps", mark(9_999, 10_000), True, 0, 0),
    roll_case("no roll: zero-length mark inside overlaps", mark(5_000, 5_000), True, 0, 0),
    roll_case("no roll: mark covering the segment overlaps", mark(-1_000, 11_000), True, 0, 0),
    roll_case("open mark: started long before, claims", mark(-DAY_MS, None), True),
    roll_case("open mark: started after the widened end, does not", mark(15_000, None), False),
    roll_case("open mark: widened start 1 ms inside, claims", mark(14_999, None), True),
]


@pytest.mark.parametrize("case", ROLL_CASES, ids=ids(ROLL_CASES))
def test_roll_edges(case: Case) -> None:
    check(case)


def test_open_motion_mark_does_not_claim_in_events_mode() -> None:
    check(Case("open motion mark, events mode", [seg(1)], SEG_END + GRACE, [(1, "unmarked")],
               marks=[mark(-1_000, None, "motion")], policies={"a": pol("events")}))


def test_gap_between_windows_is_not_claimed() -> None:
    # Windows before and after (one of them open) claim their segments, not the one between.
    check(Case("gap between windows", [seg(1), seg(2, 100_000, 110_000), seg(3, 150_000, 160_000)],
               160_000 + GRACE, [(3, "unmarked")],
               marks=[mark(200_000, None), mark(-50_000, 1_000), mark(105_000, 106_000)],
               policies={"a": pol("motion")}))


# -- rules 1 and 2: an event's own keep_until ------------------------------------------

KEEP_CASES = [
    Case("keep_until beyond days keeps the segment", [seg(1)], SEG_END + 2 * DAY_MS, [],
         marks=[mark(2_000, 3_000, "event", keep_until=30 * DAY_MS)]),
    Case("keep_until beyond days keeps it in motion mode too", [seg(1)], SEG_END + 2 * DAY_MS, [],
         marks=[mark(2_000, 3_000, "event", keep_until=30 * DAY_MS)], policies={"a": pol("motion")}),
    Case("keep_until passed: ordinary expiry", [seg(1)], SEG_END + 2 * DAY_MS, [(1, "expired")],
         marks=[mark(2_000, 3_000, "event", keep_until=DAY_MS)]),
    Case("keep_until exactly now: no longer protects", [seg(1)], 30 * DAY_MS, [(1, "expired")],
         marks=[mark(2_000, 3_000, "event", keep_until=30 * DAY_MS)]),
    Case("keep_until 1 ms after now: still protects", [seg(1)], 30 * DAY_MS - 1, [],
         marks=[mark(2_000, 3_000, "event", keep_until=30 * DAY_MS)]),
    Case("keep_until reaches through the widened window only",
         [seg(1), seg(2, 10_000, 20_000), seg(3, 30_000, 40_000)], 40_000 + 2 * DAY_MS,
         [(3, "expired")],
         marks=[mark(12_000, 22_000, "event", keep_until=30 * DAY_MS)],
         policies={"a": pol(pre=3_000, post=8_000)}),
    Case("keep_until on a motion mark protects even in events mode (any kind counts)",
         [seg(1)], SEG_END + GRACE, [],
         marks=[mark(2_000, 3_000, "motion", keep_until=DAY_MS)], policies={"a": pol("events")}),
    Case("keep_until passed on an unclaimed segment: unmarked",
         [seg(1)], SEG_END + 2 * GRACE, [(1, "unmarked")],
         marks=[mark(2_000, 3_000, "motion", keep_until=GRACE)], policies={"a": pol("events")}),
    Case("open event with keep_until protects what follows",
         [seg(1), seg(2, DAY_MS, DAY_MS + SEG_END)], 3 * DAY_MS, [],
         marks=[mark(0, None, "event", keep_until=10 * DAY_MS)]),
]


@pytest.mark.parametrize("case", KEEP_CASES, ids=ids(KEEP_CASES))
def test_event_keep_until(case: Case) -> None:
    check(case)


# -- rule 3: size cap and free-space floor ---------------------------------------------

NOW = SEG_END + GRACE  # nothing expires by age at this time under pol()
PROTECT = mark(0, 1_000, "event", keep_until=30 * DAY_MS)  # protects seg(…, start 0)
FOUR = [seg(1, 0, 10_000, "a"), seg(2, 5_000, 15_000, "b"), seg(3, 10_000, 20_000, "a"),
        seg(4, 15_000, 25_000, "b")]

PRESSURE_CASES = [
    Case("no limits: nothing deleted", FOUR, NOW, [], used=10**12, free=0),
    Case("size: under the cap", FOUR, NOW, [], max_bytes=400),
    Case("size: oldest across cameras", FOUR, NOW, [(1, "size"), (2, "size")], max_bytes=250),
    Case("size: exactly enough stops", FOUR, NOW, [(1, "size")], max_bytes=300),
    Case("size: ties on start broken by id",
         [seg(7, 0), seg(3, 0), seg(5, 0, cam="b")], NOW, [(3, "size"), (5, "size")], max_bytes=150),
    Case("size: deletes oldest by start, not by id",
         [seg(1, 20_000, 30_000), seg(2, 0, 10_000)], NOW, [(2, "size")], max_bytes=100),
    Case("size: used beyond the segments given leaves a shortfall", FOUR, NOW,
         [(1, "size"), (2, "size"), (3, "size"), (4, "size")], used=10_000, max_bytes=5_000,
         shortfall=4_600),
    Case("size: protected go last, oldest first, when the cap needs them",
         [seg(1, 0), seg(2, 0, cam="b"), seg(3, 20_000, 30_000)], NOW, [(1, "size"), (2, "size"), (3, "size")],
         marks=[PROTECT, mark(0, 1_000, "event", "b", keep_until=30 * DAY_MS)],
         max_bytes=50, forced=frozenset({1, 2})),
    Case("size: protected survive when unprotected footage meets the cap",
         [seg(1, 0), seg(2, 0, cam="b"), seg(3, 20_000, 30_000)], NOW, [(3, "size")],
         marks=[PROTECT, mark(0, 1_000, "event", "b", keep_until=30 * DAY_MS)], max_bytes=200),
    Case("size: protected oldest is skipped, next oldest goes",
         [seg(1, 0), seg(2, 20_000, 30_000), seg(3, 40_000, 50_000)], NOW, [(2, "size")],
         marks=[PROTECT], max_bytes=200),
    Case("size: expired bytes count first, no duplicate deletion",
         [seg(1, 0, 10_000, "b"), seg(2, 20_000, 30_000), seg(3, 40_000, 50_000)],
         SEG_END + 2 * DAY_MS, [(1, "expired"), (2, "size")],
         policies={"a": pol(days=30), "b": pol(days=2)}, max_bytes=150),
    Case("size: expired bytes alone meet the cap",
         [seg(1, 0, 10_000, "b"), seg(2, 20_000, 30_000)], SEG_END + 2 * DAY_MS,
         [(1, "expired")], policies={"a": pol(days=30), "b": pol(days=2)}, max_bytes=100),
    Case("free: floor deletes oldest", FOUR, NOW, [(1, "free"), (2, "free")], free=50, min_free=200),
    Case("free: floor already met", FOUR, NOW, [], free=200, min_free=200),
    Case("free: expired bytes count as freed",
         [seg(1, 0, 10_000, "b"), seg(2, 20_000, 30_000)], SEG_END + 2 * DAY_MS,
         [(1, "expired")], policies={"a": pol(days=30), "b": pol(days=2)}, free=50, min_free=150),
    Case("free: unknown free space skips the floor", FOUR, NOW, [], free=None, min_free=10**12),
    Case("free: no floor configured", FOUR, NOW, [], free=0, min_free=None),
    Case("free: the floor wins over a protecting mark",
         [seg(1, 0), seg(2, 20_000, 30_000)], NOW, [(1, "free"), (2, "free")], marks=[PROTECT],
         free=700, min_free=1_000, shortfall=100, forced=frozenset({1})),
    Case("free: an open protecting mark gives way too; what is left is the shortfall",
         [seg(1, 0), seg(2, 20_000, 30_000)], NOW, [(1, "free"), (2, "free")],
         marks=[mark(18_000, None, "event", keep_until=DAY_MS)],
         free=0, min_free=1_000, shortfall=800, forced=frozenset({2})),
    Case("both: size is binding", FOUR, NOW, [(1, "size")], max_bytes=300, free=1_000, min_free=1_050),
    Case("both: free is binding", FOUR, NOW, [(1, "free"), (2, "free")],
         max_bytes=350, free=1_000, min_free=1_150),
    Case("both: a tie goes to size", FOUR, NOW, [(1, "size")], max_bytes=300, free=1_000, min_free=1_100),
    Case("both: shortfall is the larger remaining need",
         [seg(1, 0), seg(2, 20_000, 30_000)], NOW, [(1, "free"), (2, "free")], marks=[PROTECT],
         max_bytes=50, free=0, min_free=500, shortfall=300, forced=frozenset({1})),
]


@pytest.mark.parametrize("case", PRESSURE_CASES, ids=ids(PRESSURE_CASES))
def test_pressure(case: Case) -> None:
    check(case)


# -- policies: cameras missing from the config -----------------------------------------

DEFAULT_CASES = [
    Case("unknown camera: default policy's grace applies", [seg(1, cam="gone")], SEG_END + GRACE,
         [(1, "unmarked")], policies={"a": pol(days=30)}, default_policy=pol("motion")),
    Case("unknown camera: default policy's days apply", [seg(1, cam="gone")], SEG_END + DAY_MS,
         [(1, "expired")], policies={"a": pol(days=30)}, default_policy=pol(days=1)),
    Case("unknown camera: default policy's roll widens its marks", [seg(1, cam="gone")],
         SEG_END + GRACE, [], marks=[mark(12_000, 13_000, cam="gone")],
         policies={"a": pol("motion", pre=0)}, default_policy=pol("motion", pre=3_000)),
    Case("unknown camera: the built-in default keeps 7 days", [seg(1, cam="gone")],
         SEG_END + 7 * DAY_MS - 1, [], policies={}),
    Case("unknown camera: the built-in default expires after 7 days", [seg(1, cam="gone")],
         SEG_END + 7 * DAY_MS, [(1, "expired")], policies={}),
]


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=ids(DEFAULT_CASES))
def test_default_policy(case: Case) -> None:
    check(case)


# -- rule 4: order, determinism, inputs ------------------------------------------------

MIXED = Case(
    "mixed reasons come out in (start, id) order",
    [seg(10, 0, 10_000, "b"), seg(5, 0, 10_000, "a"), seg(8, 30_000, 40_000, "b"),
     seg(2, 20_000, 30_000, "a"), seg(9, 50_000, 60_000, "a")],
    40_000 + DAY_MS,
    [(5, "size"), (10, "expired"), (2, "size"), (8, "expired")],
    policies={"a": pol(days=30), "b": pol(days=1)},
    max_bytes=100,
)


def test_mixed_reasons_are_ordered_oldest_first() -> None:
    check(MIXED)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_input_order_does_not_change_the_plan(seed: int) -> None:
    rng = random.Random(seed)
    shuffled_segments = rng.sample(MIXED.segments, len(MIXED.segments))
    assert run(replace(MIXED, segments=shuffled_segments)) == run(MIXED)


def test_accepts_one_shot_iterables_and_leaves_inputs_alone() -> None:
    segments = [seg(1), seg(2, 20_000, 30_000)]
    marks = [mark(22_000, 23_000)]
    before = (list(segments), list(marks))

    def once(items: list) -> Iterator:
        yield from items

    plan = plan_retention(once(segments), once(marks), {"a": pol("motion")}, now_ms=T0 + 30_000 + GRACE,
                          used_bytes=200, free_bytes=None, max_bytes=None, min_free_bytes=None)
    assert plan == RetentionPlan([Deletion(1, "a", 100, "unmarked")], 0)
    assert (segments, marks) == before


def test_duplicate_segment_ids_are_refused() -> None:
    with pytest.raises(ValueError, match=r"duplicate segment ids: \[2\]"):
        plan_retention([seg(1), seg(2), seg(2, cam="b")], [], {}, now_ms=T0, used_bytes=0,
                       free_bytes=None, max_bytes=None, min_free_bytes=None)


def test_unknown_mode_is_refused() -> None:
    bad = CameraPolicy(mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="camera 'a': unknown recording mode 'sometimes'"):
        plan_retention([seg(1)], [], {"a": bad}, now_ms=T0, used_bytes=0, free_bytes=None,
                       max_bytes=None, min_free_bytes=None)


def test_empty_input_reports_the_whole_need_as_shortfall() -> None:
    plan = plan_retention([], [], {}, now_ms=T0, used_bytes=500, free_bytes=None, max_bytes=200,
                          min_free_bytes=None)
    assert plan == RetentionPlan([], 300)


def test_large_input_is_not_quadratic() -> None:
    # 20k segments x 4k marks: a pairwise loop is 8e7 checks (tens of seconds in Python);
    # the bisect version takes a small fraction of a second. The bound is deliberately loose.
    rng = random.Random(7)
    segments = [seg(i, i * 10_000 // 4, i * 10_000 // 4 + 10_000, f"c{i % 4}", 1_200_000)
                for i in range(20_000)]
    marks = [mark(t, t + rng.randrange(1_000, 60_000), rng.choice(["motion", "event"]),
                  f"c{rng.randrange(4)}", rng.choice([None, None, None, 60_000_000]))
             for t in (rng.randrange(0, 50_000_000) for _ in range(4_000))]
    policies = {f"c{i}": pol(("continuous", "motion", "events", "motion")[i]) for i in range(4)}
    began = time.perf_counter()
    plan = plan_retention(segments, marks, policies, now_ms=T0 + 51_000_000, used_bytes=24 * 10**9,
                          free_bytes=10**9, max_bytes=12 * 10**9, min_free_bytes=2 * 10**9)
    assert time.perf_counter() - began < 5.0
    assert plan.deletions  # the scenario does exercise deletion


# -- property: random data against an obviously correct reference ----------------------

def reference_plan(
    segments: Sequence[Segment],
    marks: Sequence[Mark],
    policies: Mapping[str, CameraPolicy],
    *,
    now_ms: int,
    used_bytes: int,
    free_bytes: int | None,
    max_bytes: int | None,
    min_free_bytes: int | None,
    default_policy: CameraPolicy,
) -> RetentionPlan:
    """The rules read literally: every segment against every mark, needs recomputed per step."""
    reasons: dict[int, str] = {}
    protected: set[int] = set()
    for s in segments:
        p = policies.get(s.camera, default_policy)
        counted = {"continuous": set(), "motion": {"motion", "event"}, "events": {"event"}}[p.mode]
        overlapping = []
        for m in marks:
            a = m.start_ms - p.pre_roll_ms
            b = math.inf if m.end_ms is None else m.end_ms + p.post_roll_ms
            if m.camera == s.camera and s.start_ms < b and a < s.end_ms:
                overlapping.append(m)
        claimed = p.mode == "continuous" or any(m.kind in counted for m in overlapping)
        keep_until = s.end_ms + (p.days * DAY_MS if claimed else p.grace_ms)
        for m in overlapping:
            if m.keep_until_ms is not None:
                keep_until = max(keep_until, m.keep_until_ms)
                if m.keep_until_ms > now_ms:
                    protected.add(s.id)
        if s.id not in protected and now_ms >= keep_until:
            reasons[s.id] = "expired" if claimed else "unmarked"

    freed = sum(s.size_bytes for s in segments if s.id in reasons)
    deleted = 0  # by pressure

    def needs() -> tuple[float, float]:
        size = -math.inf if max_bytes is None else used_bytes - freed - deleted - max_bytes
        free = (-math.inf if min_free_bytes is None or free_bytes is None
                else min_free_bytes - (free_bytes + freed + deleted))
        return size, free

    forced: set[int] = set()
    for last_resort in (False, True):  # unprotected first; protected only if still needed
        for s in sorted(segments, key=lambda s: (s.start_ms, s.id)):
            size, free = needs()
            if max(size, free) <= 0:
                break
            if s.id in reasons or (s.id in protected) != last_resort:
                continue
            reasons[s.id] = "size" if size >= free else "free"
            deleted += s.size_bytes
            if last_resort:
                forced.add(s.id)
    shortfall = int(max(0, *needs()))
    order = sorted((s for s in segments if s.id in reasons), key=lambda s: (s.start_ms, s.id))
    return RetentionPlan([Deletion(s.id, s.camera, s.size_bytes, reasons[s.id],  # type: ignore[arg-type]
                                   protected=s.id in forced) for s in order], shortfall)


H = 3_600_000  # a coarse grid makes touching edges common; ±1 ms jitter makes near misses


def random_time(rng: random.Random, hours: int) -> int:
    return T0 + rng.randrange(hours) * H + rng.choice([0, 0, 0, 0, -1, 1])


def random_policy(rng: random.Random) -> CameraPolicy:
    return CameraPolicy(
        mode=rng.choice(["continuous", "motion", "events"]),
        days=rng.choice([0.0, 0.25, 0.5, 1.0, 2.0]),  # exact multiples of 6 h
        pre_roll_ms=rng.choice([0, H, 2 * H]),
        post_roll_ms=rng.choice([0, H, 2 * H]),
        grace_ms=rng.choice([0, H, 3 * H]),
    )


def random_scenario(rng: random.Random) -> dict:
    segments = []
    for seg_id in rng.sample(range(1_000), rng.randrange(0, 40)):
        start = random_time(rng, 96)
        segments.append(Segment(seg_id, rng.choice("abc"), start, start + rng.randrange(0, 4) * H,
                                rng.randrange(0, 100)))
    marks = []
    for _ in range(rng.randrange(0, 15)):
        start = random_time(rng, 96)
        end = None if rng.random() < 0.15 else start + rng.randrange(0, 4) * H + rng.choice([0, 1])
        keep = None if rng.random() < 0.6 else random_time(rng, 150)
        marks.append(Mark(rng.choice("abcd"), rng.choice(["motion", "event"]), start, end, keep))
    total = sum(s.size_bytes for s in segments)
    return dict(
        segments=segments,
        marks=marks,
        policies={"a": random_policy(rng), "b": random_policy(rng)},  # "c" falls to the default
        now_ms=random_time(rng, 150),
        used_bytes=total + rng.choice([0, 0, rng.randrange(200)]),
        free_bytes=rng.choice([None, rng.randrange(0, 2_000)]),
        max_bytes=rng.choice([None, rng.randrange(0, total + 200)]),
        min_free_bytes=rng.choice([None, rng.randrange(0, 2_000)]),
        default_policy=random_policy(rng),
    )


@pytest.mark.parametrize("seed", [11, 22, 33, 44])
def test_matches_reference_on_random_data(seed: int) -> None:
    rng = random.Random(seed)
    for trial in range(500):
        scenario = random_scenario(rng)
        got = plan_retention(**scenario)
        want = reference_plan(**scenario)
        assert got == want, f"seed {seed} trial {trial}: {scenario}"
        assert len({d.segment_id for d in got.deletions}) == len(got.deletions)
