"""Sizes as people write them in campy.yaml: ``500GB``, ``1.5 TiB``, ``800000000``, ``5%``."""

from __future__ import annotations

import re

_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_size(value: int | float | str) -> int:
    """Bytes from an int or a string with a decimal (GB) or binary (GiB) unit."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 500GB")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return int(value)
    m = _SIZE_RE.match(value)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"'{value}' is not a size (examples: 500GB, 1.5TiB, 800000000)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_size_or_percent(value: int | float | str) -> tuple[int | None, float | None]:
    """(bytes, None) or (None, percent) from ``10GB`` or ``5%``."""
    if isinstance(value, str):
        m = _PERCENT_RE.match(value)
        if m:
            pct = float(m.group(1))
            if not 0 <= pct < 100:
                raise ValueError("a percentage must be between 0 and 100")
            return None, pct
    return parse_size(value), None
