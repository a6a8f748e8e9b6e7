"""Local time: local days (23 or 25 hours on DST days), formatting, parsing, the host's zone,
and the recordings timeline over a DST day built from synthetic segment rows."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from campy.localtime import HOUR_MS, LocalTime, host_zone_name, zone_problem
from campy.recording.model import Segment
from campy.recording.timeline import day_timeline_svg
from campy.web.recordings import hour_slots, parse_time, timeline_context

BERLIN = LocalTime("Europe/Berlin")
NS = "{http://www.w3.org/2000/svg}"


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("day,hours,start_utc", [
    ("2026-03-29", 23, (2026, 3, 28, 23)),  # spring forward: 02:00 CET -> 03:00 CEST
    ("2026-10-25", 25, (2026, 10, 24, 22)),  # fall back: 03:00 CEST -> 02:00 CET
    ("2026-06-01", 24, (2026, 5, 31, 22)),
    ("2026-12-07", 24, (2026, 12, 6, 23)),
])
def test_a_local_day_runs_midnight_to_midnight(day, hours, start_utc):
    start, end = BERLIN.day_bounds(day)
    assert start == utc_ms(*start_utc)
    assert end - start == hours * HOUR_MS
    assert len(BERLIN.hour_starts(day)) == hours
    assert BERLIN.day_of(start) == day and BERLIN.day_of(end - 1) == day and BERLIN.day_of(end) != day


def test_hour_slots_name_the_repeated_hour_by_its_zone():
    labels = [s["label"] for s in hour_slots(BERLIN, "2026-10-25")]
    assert labels[:5] == ["00", "01", "02 CEST", "02 CET", "03"]
    assert labels[-1] == "23"
    spring = [s["label"] for s in hour_slots(BERLIN, "2026-03-29")]
    assert spring[:4] == ["00", "01 CET", "03 CEST", "04"] and "02" not in " ".join(spring).split()
    assert [s["label"] for s in hour_slots(BERLIN, "2026-06-01")][:2] == ["00", "01"]  # no change: no names


def test_formatting_and_naive_input_are_local():
    ms = utc_ms(2026, 12, 7, 2, 30, 5)
    assert BERLIN.format(ms) == "2026-12-07 03:30:05 CET"
    assert BERLIN.format(utc_ms(2026, 7, 1, 10)) == "2026-07-01 12:00:00 CEST"
    assert BERLIN.format(None) == "–"
    assert BERLIN.parse_naive("2026-12-07T03:30:05") == ms
    assert BERLIN.parse_naive("2026-12-07T02:30:05Z") == ms  # an explicit offset wins
    assert BERLIN.input_value(ms) == "2026-12-07T03:30:05"
    # The page forms read naive times in the zone; the APIs keep reading them as UTC.
    assert parse_time("2026-12-07T03:30:05", name="start", tz=BERLIN.zone) == ms
    assert parse_time("2026-12-07T02:30:05", name="start") == ms
    assert BERLIN.abbrevs(ms) == {3600: "CET", 7200: "CEST"}


def test_zone_names_are_checked_and_the_host_zone_is_found(monkeypatch):
    assert zone_problem("Europe/Berlin") is None and zone_problem("UTC") is None
    assert "unknown time zone 'Europe/Berlinn'" in (zone_problem("Europe/Berlinn") or "")
    assert zone_problem("../../etc/passwd") and zone_problem("") and zone_problem("/etc/localtime")
    monkeypatch.setenv("TZ", "America/New_York")
    assert host_zone_name() == "America/New_York"
    monkeypatch.setenv("TZ", ":Asia/Tokyo")
    assert host_zone_name() == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert zone_problem(host_zone_name()) is None  # falls back to /etc/localtime or UTC


def test_day_svg_of_a_25_hour_day_has_local_hour_ticks():
    start, end = BERLIN.day_bounds("2026-10-25")
    svg = ET.fromstring(day_timeline_svg(day_start_ms=start, spans=[(start, start + 4 * HOUR_MS)], marks=[],
                                         span_ms=end - start, tz=BERLIN.zone))
    ticks = [g for g in svg.iter(f"{NS}g") if "tick" in g.get("class", "").split()]
    assert len(ticks) == 26  # 25 hours: 26 boundaries
    labels = [t.find(f"{NS}text").text for t in ticks if t.find(f"{NS}text") is not None]
    # Every third hour slot from local midnight, by the local clock (02 twice: 02 CEST, 02 CET).
    assert labels == ["00", "02", "05", "08", "11", "14", "17", "20", "23", "24"]
    rec = next(r for r in svg.iter(f"{NS}rect") if r.get("class") == "rec")
    assert rec.find(f"{NS}title").text == "recorded 00:00:00–03:00:00"  # 4 h of a 25-hour day, read locally
    assert svg.get("aria-label", "").startswith("Recorded 4 h of 25 h")


class _FakeRecording:
    def __init__(self, segs: list[Segment]) -> None:
        self.segs = segs
        self.index = SimpleNamespace(marks_between=lambda name, a, b: [])

    async def segments_async(self, name: str, start: int, end: int, limit: int | None = None) -> list[Segment]:
        return [s for s in self.segs if s.start_ms < end and s.end_ms > start]


def _runtime(segs: list[Segment], now_ms: int) -> SimpleNamespace:
    return SimpleNamespace(clock=SimpleNamespace(now_ms=lambda: now_ms), recording=_FakeRecording(segs),
                           config=SimpleNamespace(server=SimpleNamespace(timezone="Europe/Berlin")))


def _seg(i: int, start: int, end: int) -> Segment:
    return Segment(id=i, camera="cam", start_ms=start, end_ms=end, size_bytes=1, path=f"{i}.mp4", codec="h264",
                   audio=False)


def test_timeline_of_a_fall_back_day_from_synthetic_rows():
    # Footage across the repeated hour: 02:30 CEST (00:30 UTC) to 02:30 CET (01:30 UTC).
    segs = [_seg(1, utc_ms(2026, 10, 25, 0, 30), utc_ms(2026, 10, 25, 1, 0)),
            _seg(2, utc_ms(2026, 10, 25, 1, 0), utc_ms(2026, 10, 25, 1, 30)),
            _seg(3, utc_ms(2026, 10, 24, 21, 0), utc_ms(2026, 10, 24, 21, 30))]  # 23:00 on the 24th: not this day
    rt = _runtime(segs, now_ms=utc_ms(2026, 11, 1))
    ctx = asyncio.run(timeline_context(rt, "cam", "2026-10-25"))
    assert len(ctx["slots"]) == 25 and ctx["segments"] == 2 and ctx["recorded"] == "1 h"
    assert ctx["hour"] == 3  # the newest footage ends in the second 02 hour (02 CET): slot 3
    assert ctx["hour_label"] == "02:00–03:00 CET"
    assert ctx["prev_day"] == "2026-10-24" and ctx["next_day"] == "2026-10-26"
    assert asyncio.run(timeline_context(rt, "cam", "2026-10-25", 2))["hour_label"] == "02:00 CEST–02:00 CET"
    assert asyncio.run(timeline_context(rt, "cam", "2026-10-25", 24))["hour_label"] == "23:00–00:00 CET"
    with pytest.raises(Exception, match="hour must be 0-22 on 2026-03-29"):
        asyncio.run(timeline_context(rt, "cam", "2026-03-29", 23))
    spring = asyncio.run(timeline_context(rt, "cam", "2026-03-29", 2))
    assert spring["hour_label"] == "03:00–04:00 CEST" and spring["next_day"] == "2026-03-30"
    # The day before holds the 23:00 segment (the 24th's local evening).
    assert asyncio.run(timeline_context(rt, "cam", "2026-10-24"))["segments"] == 1
