"""Local time for people: ``server.timezone``, local dates and local days.

Storage and APIs stay UTC epoch ms; pages, the timeline and export names use the zone here.
A local day runs from one local midnight to the next, so DST days last 23 or 25 hours.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HOUR_MS = 3_600_000


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA zone (None when it is one)."""
    if not name or name != name.strip() or name.startswith("/") or ".." in name:
        return f"{name!r} is not an IANA time zone name like Europe/Berlin or UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r}: use an IANA name like Europe/Berlin, America/New_York or UTC"
    return None


def host_zone_name() -> str:
    """The host's zone: ``TZ``, else where /etc/localtime points, else /etc/timezone, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "/zoneinfo/" in target:
            candidates.append(target.split("/zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    for name in candidates:
        if name and zone_problem(name) is None:
            return name
    return "UTC"


class LocalTime:
    """Formatting and day arithmetic in one zone."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.zone = ZoneInfo(name)

    def dt(self, ms: int | float) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.zone)

    def format(self, ms: int | float | None, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        return self.dt(ms).strftime(fmt) if ms else "–"

    def abbrev(self, ms: int | float) -> str:
        return self.dt(ms).strftime("%Z")

    def day_of(self, ms: int) -> str:
        """The local date (``YYYY-MM-DD``) of ``ms``."""
        return self.dt(ms).strftime("%Y-%m-%d")

    def _midnight(self, d: date) -> int:
        # A midnight that DST skips resolves to the skip's end; a repeated one to its first pass.
        return int(datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp() * 1000)

    def day_bounds(self, day: str) -> tuple[int, int]:
        """Epoch ms of the local day's start and end (ValueError if ``day`` is no YYYY-MM-DD)."""
        d = datetime.strptime(day, "%Y-%m-%d").date()
        return self._midnight(d), self._midnight(d + timedelta(days=1))

    def day_start_ms(self, day: str) -> int:
        return self.day_bounds(day)[0]

    def shift_day(self, day: str, days: int) -> str:
        return (datetime.strptime(day, "%Y-%m-%d").date() + timedelta(days=days)).isoformat()

    def hour_starts(self, day: str) -> list[int]:
        """The start of each hour slot of the local day: 23, 24 or 25 of them."""
        start, end = self.day_bounds(day)
        return list(range(start, end, HOUR_MS))

    def parse_naive(self, text: str) -> int:
        """Epoch ms of an ISO date-time; one without an offset is local (ValueError if bad)."""
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.zone)
        return int(dt.timestamp() * 1000)

    def abbrevs(self, around_ms: int) -> dict[int, str]:
        """UTC offset (s) -> the zone's abbreviation, over a year either side of ``around_ms``
        (weekly samples): lets the browser name times as the server does (CET, CEST)."""
        return dict(_abbrevs(self.name, around_ms // (30 * 24 * HOUR_MS)))

    def input_value(self, ms: int) -> str:
        """A ``datetime-local`` input's value for ``ms``."""
        return self.dt(ms).strftime("%Y-%m-%dT%H:%M:%S")


@lru_cache(maxsize=64)
def _abbrevs(name: str, month: int) -> tuple[tuple[int, str], ...]:
    lt = local_time(name)
    week = 7 * 24 * HOUR_MS
    around = month * 30 * 24 * HOUR_MS
    out: dict[int, str] = {}
    for t in range(around - 53 * week, around + 53 * week, week):
        d = lt.dt(t)
        off = d.utcoffset()
        if off is not None:
            out.setdefault(int(off.total_seconds()), d.strftime("%Z"))
    return tuple(out.items())


@lru_cache(maxsize=16)
def local_time(name: str) -> LocalTime:
    return LocalTime(name)


def of_runtime(runtime: object) -> LocalTime:
    """The zone of a runtime's config (``server.timezone``)."""
    config = getattr(runtime, "config", None)
    server = getattr(config, "server", None)
    return local_time(getattr(server, "timezone", None) or "UTC")
