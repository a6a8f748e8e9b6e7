"""What CamPy asks go2rtc to serve: one `StreamSpec` per go2rtc stream.

This is the seam between the camera configuration (``campy.config``) and go2rtc
(``campy.go2rtc``): the config turns cameras into specs, go2rtc's config generator
and reconciler turn specs into go2rtc streams. Nothing here knows about either side.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets as pysecrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

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


class StreamNames:
    """Public stream names (``front``, ``front_sub``) and the names go2rtc serves them under.

    go2rtc's RTSP server answers loopback clients without credentials, so its stream names
    are the only guard of the restream: each is the public name plus a random suffix made at
    every start. This is the one place that maps between the two; the suffix is a secret
    (scrubbed from logs, never shown). ``suffix=""`` keeps public names (tests, tools).
    """

    SEP = "__"

    def __init__(self, suffix: str | None = None) -> None:
        self.suffix = pysecrets.token_urlsafe(16) if suffix is None else suffix

    def go2rtc(self, public: str) -> str:
        return f"{public}{self.SEP}{self.suffix}" if self.suffix else public

    def public(self, go2rtc_name: str) -> str | None:
        """The public name of one of CamPy's go2rtc streams, or None for any other name."""
        if not self.suffix:
            return go2rtc_name
        tail = self.SEP + self.suffix
        return go2rtc_name[: -len(tail)] if go2rtc_name.endswith(tail) else None

    def for_go2rtc(self, specs: Mapping[str, StreamSpec]) -> dict[str, StreamSpec]:
        """``specs`` keyed and named as go2rtc sees them; ``ffmpeg:<stream>`` sources that
        name one of these streams are renamed too."""
        out: dict[str, StreamSpec] = {}
        for name, spec in specs.items():
            sources = tuple(self._rename_source(s, specs) for s in spec.sources)
            g = self.go2rtc(name)
            out[g] = StreamSpec(g, spec.camera, spec.role, sources, spec.env)
        return out

    def _rename_source(self, source: str, specs: Mapping[str, StreamSpec]) -> str:
        if not source.startswith("ffmpeg:"):
            return source
        target, sep, rest = source[len("ffmpeg:"):].partition("#")
        if target not in specs:
            return source
        return f"ffmpeg:{self.go2rtc(target)}{sep}{rest}"


def secrets_of(specs: Mapping[str, StreamSpec]) -> list[str]:
    """Every secret value the specs carry, longest first (for scrubbing text)."""
    values = {v for spec in specs.values() for v in spec.env.values() if v}
    return sorted(values, key=len, reverse=True)


@functools.lru_cache(maxsize=4096)
def _encoded(secret: str) -> str:
    return quote(secret, safe="")


def scrub(text: str, secrets: list[str]) -> str:
    """Replace each secret (and its percent-encoded form) in ``text`` with ``***``."""
    for s in secrets:
        if len(s) < 3:
            continue
        text = text.replace(s, "***")
        enc = _encoded(s)  # cached: every log record passes through here (campy/logs.py)
        if enc != s:
            text = text.replace(enc, "***")
    return text
