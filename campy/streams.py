"""What CamPy asks go2rtc to serve: one `StreamSpec` per go2rtc stream.

This is the seam between the camera configuration (``campy.config``) and go2rtc
(``campy.go2rtc``): the config turns cameras into specs, go2rtc's config generator
and reconciler turn specs into go2rtc streams. Nothing here knows about either side.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

NAME_RE = re.compile(r"^[a-z0-9_]+$")
_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class StreamSpec:
    """One go2rtc stream.

    ``sources`` may hold ``${VAR}`` references; ``env`` maps each VAR to its value.
    The generated go2rtc config keeps the references (go2rtc substitutes and masks them);
    API calls need :meth:`resolved` because go2rtc substitutes only in config files.
    """

    name: str
    camera: str
    role: str  # "main", "sub" or "h264" (an H.264 transcode of an H.265 main)
    sources: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def resolved(self) -> tuple[str, ...]:
        """The sources with every ``${VAR}`` replaced by its value."""
        return tuple(_VAR_RE.sub(lambda m: self.env.get(m.group(1), m.group(0)), s) for s in self.sources)

    def fingerprint(self) -> str:
        """A digest of the resolved sources: changes when anything go2rtc sees changes."""
        h = hashlib.sha256()
        for s in self.resolved():
            h.update(s.encode())
            h.update(b"\0")
        return h.hexdigest()


def secrets_of(specs: Mapping[str, StreamSpec]) -> list[str]:
    """Every secret value the specs carry, longest first (for scrubbing text)."""
    values = {v for spec in specs.values() for v in spec.env.values() if v}
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """Replace each secret (and its percent-encoded form) in ``text`` with ``***``."""
    from urllib.parse import quote

    for s in secrets:
        if len(s) < 3:
            continue
        text = text.replace(s, "***")
        enc = quote(s, safe="")
        if enc != s:
            text = text.replace(enc, "***")
    return text
