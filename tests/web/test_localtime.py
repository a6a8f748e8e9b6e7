"""Pages show local time in ``server.timezone`` (pinned to Europe/Berlin here): the recordings
timeline's day is a local day (25 hour slots on the fall-back day, 23 on the spring-forward
day), lists and the system page print local times with the zone's name, APIs stay UTC ms."""

from __future__ import annotations

import re

import pytest

from campy.recording.export import ExportJob
from tests.helpers import CampyProcess, free_port, write_config

LOCAL = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T"


@pytest.fixture(scope="module")
def berlin(tmp_path_factory):
    d = tmp_path_factory.mktemp("tzberlin")
    port = free_port()
    # A camera nobody can reach: the pages need a configured camera, not footage.
    cfg = write_config(d / "campy.yaml", [{"name": "yard", "main": "rtsp://127.0.0.1:9/none"}],
                       port=port, password_secret="x", server_extra=["timezone: Europe/Berlin"])
    proc = CampyProcess(cfg, port)
    try:
        yield proc
    finally:
        proc.stop()


def _slots(html: str) -> list[str]:
    return re.findall(r'class="hour-slot[^"]*"\s+data-hour="\d+" data-start-ms="\d+"[^>]*>([^<]+)</a>', html)


def test_the_timeline_day_is_a_local_day_with_23_or_25_hours(berlin):
    c = berlin.client()
    fall = c.get("/cameras/yard/recordings", params={"day": "2026-10-25"})
    assert fall.status_code == 200
    slots = _slots(fall.text)
    assert len(slots) == 25, slots
    assert slots[2:4] == ["02 CEST", "02 CET"]
    assert "a 25-hour day" in fall.text and "Europe/Berlin" in fall.text
    # The day strip starts at local midnight (22:00 UTC the day before) and lasts 25 h.
    assert 'data-day-start-ms="1792879200000"' in fall.text and 'data-day-ms="90000000"' in fall.text
    spring = c.get("/cameras/yard/recordings", params={"day": "2026-03-29", "hour": 2})
    assert len(_slots(spring.text)) == 23
    assert "03:00–04:00 CEST" in spring.text
    bad = c.get("/cameras/yard/recordings", params={"day": "2026-03-29", "hour": 23})
    assert bad.status_code == 400 and "hour must be 0-22 on 2026-03-29" in bad.text
    # The JSON API keeps UTC epoch ms: a range given without an offset is UTC there.
    api = c.get("/api/cameras/yard/timeline", params={"start": "2026-10-25T00:00:00", "end": "2026-10-25T01:00:00"})
    assert api.status_code == 200 and api.json()["start_ms"] == 1792886400000


def test_lists_and_the_system_page_print_local_time(berlin):
    c = berlin.client()
    system = c.get("/system").text
    m = re.search(r'id="timezone"><code>Europe/Berlin</code>.*?now (' + LOCAL + ")", system, re.S)
    assert m, system
    assert "UTC" not in re.sub(r"<code>[^<]*</code>", "", system.split('id="timezone"')[1].split("</dd>")[0])
    assert re.search(r"<td[^>]*>" + LOCAL + "</td>", c.get("/users").text)  # last login, password changed
    assert re.search(r'<td class="clock">' + LOCAL + "</td>", c.get("/audit").text)
    events = c.get("/events").text
    assert "From (Europe/Berlin) <input" in events and "UTC" not in events


def test_export_file_names_use_local_time():
    job = ExportJob(id="j", camera="yard", start_ms=1792882800000, end_ms=1792882860000, owner="a",
                    timezone="Europe/Berlin")  # 2026-10-24 23:00 UTC = 2026-10-25 01:00 CEST
    assert job.filename == "yard-2026-10-25_010000+0200-1792882800000-1792882860000.mp4"
    assert "timezone" not in job.view()
    assert ExportJob(id="j", camera="yard", start_ms=1792882800000, end_ms=1792882860000,
                     owner="a").filename.startswith("yard-2026-10-24_230000+0000-")
