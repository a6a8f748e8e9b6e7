"""The system page and the status API show the event loop's lag."""

from __future__ import annotations

import re

from tests.helpers import wait_until


def test_status_and_system_page_show_loop_lag(campy):
    c = campy.client()
    lag = wait_until(lambda: (s := c.get("/api/status").json()["loop_lag"]) and s["since_start"]["samples"] >= 5
                     and s, timeout=30, what="loop-lag samples in /api/status")
    assert set(lag["recent"]) >= {"p50_ms", "p99_ms", "max_ms", "samples"}
    assert lag["since_start"]["max_ms"] >= lag["since_start"]["p50_ms"] >= 0
    page = c.get("/system").text
    m = re.search(r'id="loop-lag">\s*last 5 min: p50 ([\d.]+) ms,\s*p99 ([\d.]+) ms, max ([\d.]+) ms', page)
    assert m, page
    assert float(m.group(3)) >= float(m.group(1))
