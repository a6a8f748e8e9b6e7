"""The recordings UI's SVG pictures: geometry, clamping, labels; spans, sizes, days left."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from campy.recording import storage_chart as sc
from campy.recording import timeline as tl
from campy.recording.model import DAY_MS, Mark
from campy.recording.storage_chart import StorageRow, days_left, human_bytes, storage_chart_svg
from campy.recording.timeline import day_timeline_svg, format_duration, gaps, merge_spans

NS = "{http://www.w3.org/2000/svg}"
D = 1_714_521_600_000  # 2024-05-01 00:00:00 UTC
H = 3_600_000
M = 60_000
S = 1_000
GB = 1_000_000_000


def at(h: float = 0, m: float = 0, s: float = 0) -> int:
    return int(D + h * H + m * M + s * S)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in e.get("class", "").split()]


def geom(e: ET.Element) -> tuple[float, float]:
    return float(e.get("x", "nan")), float(e.get("width", "nan"))


def title(e: ET.Element) -> str | None:
    t = e.find(f"{NS}title")
    return None if t is None else t.text


def day(spans=(), marks=(), **kw) -> ET.Element:
    return parse(day_timeline_svg(day_start_ms=D, spans=list(spans), marks=list(marks), **kw))


def recs(root: ET.Element) -> list[tuple[float, float]]:
    return sorted(geom(e) for e in by_class(root, "rec"))


# --- day timeline ------------------------------------------------------------------------


def test_root_carries_the_mapping_from_x_to_time():
    root = day(width=1000, height=80)
    assert root.get("viewBox") == "0 0 1000 80"
    assert root.get("class") == "timeline"
    assert root.get("role") == "img"
    assert root.get("data-day-start-ms") == str(D)
    assert root.get("data-day-ms") == "86400000"
    assert float(root.get("data-plot-x", "")) == tl.TIMELINE_PLOT_X
    assert float(root.get("data-plot-width", "")) == (
        1000 - tl.TIMELINE_PLOT_X - tl.TIMELINE_PAD_RIGHT)


def test_plot_area_is_the_whole_width_by_default():
    assert (tl.TIMELINE_PLOT_X, tl.TIMELINE_PAD_RIGHT) == (0, 0)


def test_span_six_to_noon_is_the_second_quarter():
    root = day([(at(6), at(12))])
    assert recs(root) == [(300.0, 300.0)]
    rect = by_class(root, "rec")[0]
    assert rect.get("data-start-ms") == str(at(6))
    assert rect.get("data-end-ms") == str(at(12))
    assert title(rect) == "recorded 06:00:00–12:00:00"
    # the recording band sits under the mark lanes and above the labels
    assert float(rect.get("y", "")) == tl.TIMELINE_REC_Y
    assert float(rect.get("height", "")) == 64 - tl.TIMELINE_REC_Y - tl.TIMELINE_LABEL_H


def test_span_geometry_follows_width_and_the_data_attributes():
    root = day([(at(6), at(12)), (at(18), at(19, 30))], width=600)
    x0, w = float(root.get("data-plot-x", "")), float(root.get("data-plot-width", ""))
    assert recs(root) == [(x0 + w / 4, w / 4), (x0 + w * 0.75, w / 16)]
    assert recs(root) == [(150.0, 150.0), (450.0, 37.5)]


def test_spans_are_clamped_to_the_day_and_outside_ones_dropped():
    root = day([
        (at(-2), at(2)),        # across the midnight that starts the day
        (at(23), at(25)),       # across the midnight that ends it
        (at(-5), at(-1)),       # the day before
        (at(24), at(26)),       # the day after (starts at its end: not in it)
        (at(-1), at(0)),        # ends exactly at the start
    ])
    assert recs(root) == [(0.0, 100.0), (1150.0, 50.0)]
    first, last = sorted(by_class(root, "rec"), key=lambda e: float(e.get("x", "")))
    assert (first.get("data-start-ms"), first.get("data-end-ms")) == (str(D), str(at(2)))
    assert (last.get("data-start-ms"), last.get("data-end-ms")) == (str(at(23)), str(D + DAY_MS))
    assert root.get("aria-label", "").startswith("Recorded 3 h of 24 h")


def test_short_spans_are_at_least_one_pixel_wide():
    root = day([(at(12), at(12) + 10), (at(3), at(3)), (D + DAY_MS - 10, D + DAY_MS)])
    assert recs(root) == [(150.0, 1.0), (600.0, 1.0), (1199.0, 1.0)]  # the last kept inside


def test_gap_background_covers_the_band_and_no_span_means_no_rec():
    root = day()
    assert by_class(root, "rec") == []
    (bg,) = by_class(root, "gap")
    assert geom(bg) == (0.0, 1200.0)
    assert bg.get("fill")
    assert bg.get("fill") != by_class(day([(at(1), at(2))]), "rec")[0].get("fill")


def test_closed_marks_with_titles_and_their_own_class_and_colour():
    root = day(marks=[
        Mark("front", "event", at(12, 3, 4), at(12, 3, 30)),
        Mark("front", "motion", at(6), at(9)),
    ])
    (ev,) = by_class(root, "mark-event")
    (mo,) = by_class(root, "mark-motion")
    assert title(ev) == "event 12:03:04–12:03:30"
    assert title(mo) == "motion 06:00:00–09:00:00"
    assert geom(mo) == (300.0, 150.0)
    x, w = geom(ev)
    assert x == pytest.approx(1200 * (12 * 3600 + 184) / 86400, abs=0.01)
    assert w == 1.0  # 26 s is 0.36 px: widened
    assert ev.get("fill") != mo.get("fill")
    assert ev.get("y") != mo.get("y")  # a lane each


def test_open_marks_run_to_now_or_to_the_end_of_the_day():
    open_motion = Mark("front", "motion", at(13), None)
    root = day(marks=[open_motion], now_ms=at(14))
    (mo,) = by_class(root, "mark-motion")
    assert geom(mo) == (650.0, 50.0)
    assert mo.get("data-end-ms") == str(at(14))
    assert mo.get("data-open") == "true"
    assert title(mo) == "motion 13:00:00–ongoing"

    (mo,) = by_class(day(marks=[open_motion]), "mark-motion")
    assert geom(mo) == (650.0, 550.0)
    (mo,) = by_class(day(marks=[open_motion], now_ms=at(30)), "mark-motion")
    assert geom(mo) == (650.0, 550.0)


def test_marks_are_clamped_and_marks_of_other_days_dropped():
    root = day(marks=[
        Mark("front", "event", at(-1), at(1)),
        Mark("front", "event", at(-3), at(-2)),
        Mark("front", "motion", at(25), None),
    ], now_ms=at(26))
    (ev,) = by_class(root, "mark-event")
    assert geom(ev) == (0.0, 50.0)
    assert title(ev) == "event 2024-04-30 23:00:00–01:00:00"
    assert by_class(root, "mark-motion") == []
    assert root.get("aria-label") == "Recorded 0 s of 24 h; 1 event"


def test_future_is_shaded_after_now_within_the_day():
    (fut,) = by_class(day(now_ms=at(18)), "future")
    assert geom(fut) == (900.0, 300.0)
    assert by_class(day(), "future") == []
    assert by_class(day(now_ms=at(24)), "future") == []
    assert by_class(day(now_ms=at(30)), "future") == []
    (fut,) = by_class(day(now_ms=at(-5)), "future")  # a day still to come
    assert geom(fut) == (0.0, 1200.0)


def test_aria_label_sums_the_union_of_spans_and_counts_marks():
    root = day(
        spans=[(at(6), at(10)), (at(9), at(11)), (at(11, 30), at(11, 42))],
        marks=[Mark("c", "event", at(7), at(7, 1)), Mark("c", "event", at(8), None),
               Mark("c", "event", at(9), at(9, 5)), Mark("c", "motion", at(6), at(6, 2))],
        now_ms=at(12),
    )
    assert root.get("aria-label") == "Recorded 5 h 12 min of 24 h; 3 events; 1 motion period"


def test_hour_ticks_every_hour_labels_every_three_hours():
    ticks = by_class(day(), "tick")
    assert [t.get("data-hour") for t in ticks] == [str(h) for h in range(25)]  # every hour boundary
    labels = [t.find(f"{NS}text") for t in ticks]
    assert [lab.text for lab in labels if lab is not None] == [
        "00", "03", "06", "09", "12", "15", "18", "21", "24"]
    assert [float(lab.get("x", "")) for lab in labels if lab is not None] == [
        0, 150, 300, 450, 600, 750, 900, 1050, 1200]
    labelled = [t for t in ticks if "minor" not in t.get("class", "").split()]
    assert [t.get("data-hour") for t in labelled] == [str(h) for h in range(0, 25, 3)]


def test_too_small_a_timeline_is_refused():
    with pytest.raises(ValueError):
        day_timeline_svg(day_start_ms=D, spans=[], marks=[], height=tl.TIMELINE_MIN_HEIGHT - 1)


# --- spans --------------------------------------------------------------------------------


@pytest.mark.parametrize(("pairs", "kw", "want"), [
    ([], {}, []),
    ([(0, 10_000), (11_500, 20_000)], {}, [(0, 20_000)]),             # gap 1500: joins
    ([(0, 10_000), (11_501, 20_000)], {}, [(0, 10_000), (11_501, 20_000)]),  # gap 1501: does not
    ([(50, 100), (0, 60), (200, 300)], {"max_gap_ms": 0}, [(0, 100), (200, 300)]),  # unsorted
    ([(0, 100), (10, 20)], {}, [(0, 100)]),                         # contained
    ([(0, 100), (100, 200)], {"max_gap_ms": 0}, [(0, 200)]),         # touching
    ([(0, 100), (101, 200)], {"max_gap_ms": 0}, [(0, 100), (101, 200)]),
    ([(5_000, 9_000), (0, 4_000), (9_500, 9_600), (20_000, 21_000)], {},
     [(0, 9_600), (20_000, 21_000)]),
    ([(10, 5), (20, 30)], {}, [(20, 30)]),                           # backwards pair dropped
])
def test_merge_spans(pairs, kw, want):
    assert merge_spans(pairs, **kw) == want


def test_merge_spans_takes_any_iterable():
    assert merge_spans(iter([(3000, 4000), (0, 2000)])) == [(0, 4000)]


@pytest.mark.parametrize(("spans", "want"), [
    ([], [(100, 200)]),
    ([(0, 300)], []),
    ([(120, 130), (150, 160)], [(100, 120), (130, 150), (160, 200)]),
    ([(150, 160), (50, 110), (155, 250)], [(110, 150)]),   # unsorted, overlapping, edges
    ([(0, 50), (250, 300)], [(100, 200)]),                 # outside the window
    ([(100, 150), (150, 200)], []),                        # touching: no empty gap
])
def test_gaps(spans, want):
    assert gaps(spans, start_ms=100, end_ms=200) == want


@pytest.mark.parametrize(("ms", "want"), [
    (0, "0 s"),
    (400, "< 1 s"),
    (42_999, "42 s"),
    (3 * M + 5 * S, "3 min 5 s"),
    (3 * M, "3 min"),
    (5 * H + 12 * M + 59 * S, "5 h 12 min"),
    (2 * H, "2 h"),
    (DAY_MS, "24 h"),
    (-5 * S, "0 s"),
])
def test_format_duration(ms, want):
    assert format_duration(ms) == want


# --- sizes --------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "want"), [
    (0, "0 B"),
    (999, "999 B"),
    (1000, "1.0 kB"),
    (1500, "1.5 kB"),
    (999_949, "999.9 kB"),
    (999_960, "1.0 MB"),
    (12_345_678, "12.3 MB"),
    (12_345_678_901, "12.3 GB"),
    (2 * 10**12, "2.0 TB"),
    (5 * 10**15, "5000.0 TB"),
    (-1500, "-1.5 kB"),
])
def test_human_bytes(n, want):
    assert human_bytes(n) == want


@pytest.mark.parametrize(("free", "cap", "used", "rate", "want"), [
    (100 * GB, 500 * GB, 100 * GB, 10 * GB, 10.0),   # free space binds
    (100 * GB, 150 * GB, 100 * GB, 10 * GB, 5.0),    # the cap binds
    (100 * GB, 90 * GB, 100 * GB, 10 * GB, 0.0),     # over the cap already
    (30 * GB, None, 100 * GB, 20 * GB, 1.5),         # free only
    (None, 150 * GB, 100 * GB, 25 * GB, 2.0),        # cap only
    (None, None, 100 * GB, 10 * GB, None),           # no limit known
    (100 * GB, 150 * GB, 100 * GB, 0, None),         # nothing written
    (100 * GB, 150 * GB, 100 * GB, -1.0, None),
])
def test_days_left(free, cap, used, rate, want):
    assert days_left(free_bytes=free, cap_bytes=cap, used_bytes=used, bytes_per_day=rate) == want


# --- storage chart ------------------------------------------------------------------------

BAR_LEN = 640 - sc.STORAGE_LABEL_W - sc.STORAGE_VALUE_W


def chart(rows, *, free_bytes=None, cap_bytes=None, **kw) -> ET.Element:
    return parse(storage_chart_svg(rows, free_bytes=free_bytes, cap_bytes=cap_bytes, **kw))


def test_camera_bars_are_proportional_to_size_and_labelled():
    root = chart([StorageRow("front", 10 * GB, None, None), StorageRow("back", 5 * GB, None, None),
                  StorageRow("side", 2_500_000_000, None, None)])
    assert root.get("class") == "storage-chart"
    assert root.get("role") == "img"
    bars = by_class(root, "bar")
    assert [geom(b) for b in bars] == [
        (sc.STORAGE_LABEL_W, BAR_LEN), (sc.STORAGE_LABEL_W, BAR_LEN / 2),
        (sc.STORAGE_LABEL_W, BAR_LEN / 4)]
    assert BAR_LEN == 440
    groups = by_class(root, "camera")
    assert [g.get("data-camera") for g in groups] == ["front", "back", "side"]
    texts = [[t.text for t in g.iter(f"{NS}text")] for g in groups]
    assert texts == [["front", "10.0 GB"], ["back", "5.0 GB"], ["side", "2.5 GB"]]
    assert len({b.get("fill") for b in bars}) == 3


def test_camera_title_mentions_oldest_and_rate():
    root = chart([StorageRow("front", 12_300_000_000, D + 10 * H, 2.5 * GB)])
    (g,) = by_class(root, "camera")
    assert title(g) == "front: 12.3 GB, oldest 2024-05-01 10:00 UTC, 2.5 GB/day"


def test_disk_bar_stacks_cameras_then_free_space_and_marks_the_cap():
    root = chart([StorageRow("front", 30 * GB, None, 1 * GB), StorageRow("back", 10 * GB, None, 1 * GB)],
                 free_bytes=60 * GB, cap_bytes=80 * GB)
    used = by_class(root, "used")
    assert [u.get("data-camera") for u in used] == ["front", "back"]
    assert [geom(u) for u in used] == [(120.0, 132.0), (252.0, 44.0)]
    (free,) = by_class(root, "free")
    assert geom(free) == (296.0, 264.0)
    (cap,) = by_class(root, "cap")
    x, w = geom(cap)
    assert x + w / 2 == 120 + 0.8 * 440
    # the disk bar's camera colours match the camera bars'
    assert [u.get("fill") for u in used] == [b.get("fill") for b in by_class(root, "bar")]
    assert root.get("aria-label") == (
        "Recordings use 40.0 GB on 2 cameras; 60.0 GB free; cap 80.0 GB; about 20 days left")


def test_a_cap_beyond_the_disk_sets_the_scale():
    root = chart([StorageRow("front", 10 * GB, None, None)], free_bytes=10 * GB, cap_bytes=40 * GB)
    assert [geom(u) for u in by_class(root, "used")] == [(120.0, 110.0)]
    assert geom(by_class(root, "free")[0]) == (230.0, 110.0)
    x, w = geom(by_class(root, "cap")[0])
    assert x + w / 2 == 560.0


def test_no_cap_and_no_free_space_known_draw_neither():
    root = chart([StorageRow("front", 10 * GB, None, 3 * GB)])
    assert by_class(root, "cap") == []
    assert by_class(root, "free") == []
    assert geom(by_class(root, "used")[0]) == (120.0, 440.0)
    assert root.get("aria-label") == "Recordings use 10.0 GB on 1 camera"


def test_no_rows_still_draws_the_disk():
    root = chart([], free_bytes=5 * GB, cap_bytes=None)
    assert by_class(root, "bar") == []
    assert geom(by_class(root, "free")[0]) == (120.0, 440.0)


def test_width_changes_the_bar_length():
    root = chart([StorageRow("front", 10 * GB, None, None)], width=1000)
    assert geom(by_class(root, "bar")[0]) == (120.0, 1000 - 120 - 80)


def test_camera_names_are_escaped():
    name = 'a<b&"c'
    svg = storage_chart_svg([StorageRow(name, GB, None, None)], free_bytes=None, cap_bytes=None)
    assert "<b&" not in svg
    root = parse(svg)
    (g,) = by_class(root, "camera")
    assert g.get("data-camera") == name
    assert [t.text for t in g.iter(f"{NS}text")][0] == name


def test_a_zoomed_hour_window_maps_minutes_to_pixels():
    hour = at(10)
    root = parse(day_timeline_svg(day_start_ms=hour, spans=[(at(10, 15), at(10, 30))], marks=[],
                                  width=1200, span_ms=H))
    assert root.get("data-day-ms") == str(H)
    assert geom(by_class(root, "rec")[0]) == (300.0, 300.0)
    labels = [t.text for t in root.iter(f"{NS}text")]
    assert labels[0] == "10:00" and labels[-1] == "11:00" and "10:30" in labels
    assert "of 1 h" in root.get("aria-label", "")
