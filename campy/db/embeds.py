"""Embeds: a camera's live stream played by a page on another origin.

An embed is a revocable token bound to one camera's main or sub stream, a list of allowed
origins and an optional expiry. The token reads ``campy_e_<id>_<secret>``: the id finds the
row, the secret (32 random bytes) is checked against a SHA-256 hash. It is not an API token
(``TokenStore.verify`` never accepts it) and opens nothing but that one live stream.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from campy.clock import Clock
from campy.db.bearer import digest, matches, mint
from campy.db.connection import Db
from campy.db.users import UserError

PREFIX = "campy_e_"
STREAMS = ("main", "sub")
MAX_ORIGINS = 20
_TOUCH_EVERY_MS = 60_000  # last-used time is written at most once a minute per embed
_DEFAULT_PORT = {"http": 80, "https": 443}
_HOST_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")
_IPV6_RE = re.compile(r"^\[[0-9a-f:.]+\]$")


class EmbedError(UserError):
    """An embed could not be made (bad origin, stream or expiry)."""


def normalize_origin(value: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (lower case, no default
    port), or EmbedError saying what is wrong. No paths, no wildcards."""
    text = value.strip()
    if text.endswith("/") and text.count("/") == 3:
        text = text[:-1]  # "https://ha.example:8123/" is what a user copies from the address bar
    bad = f"origin {value.strip()[:80]!r}: write it as scheme://host[:port], e.g. https://ha.example.org:8123"
    if not text or len(text) > 200 or "*" in text:
        raise EmbedError(bad + " (no wildcards)" if "*" in text else bad)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise EmbedError(bad) from err
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT:
        raise EmbedError(bad + " (http or https only)")
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or text.endswith(("?", "#")):
        raise EmbedError(bad + " (no path, query or user name)")
    host = (parts.hostname or "").lower()
    if parts.netloc.startswith("["):
        host = f"[{host}]"
        if not _IPV6_RE.match(host):
            raise EmbedError(bad)
    elif not _HOST_RE.match(host):
        raise EmbedError(bad)
    if port is not None and port != _DEFAULT_PORT[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def normalize_origins(values: list[str] | str) -> list[str]:
    """A list of origins (or one per line), normalised, without duplicates; at least one."""
    items = values.splitlines() if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise EmbedError("origins: give a list of strings like https://ha.example.org:8123")
        if item.strip():
            origin = normalize_origin(item)
            if origin not in out:
                out.append(origin)
    if not out:
        raise EmbedError("origins: give at least one origin (scheme://host[:port]) of the page that embeds")
    if len(out) > MAX_ORIGINS:
        raise EmbedError(f"origins: at most {MAX_ORIGINS} per embed")
    return out


@dataclass(frozen=True)
class EmbedInfo:
    id: str
    camera: str
    stream: str
    origins: list[str]
    created_ms: int
    created_by: str
    expires_ms: int | None
    last_used_ms: int | None
    revoked_ms: int | None

    def state(self, now_ms: int) -> str:
        if self.revoked_ms is not None:
            return "revoked"
        if self.expires_ms is not None and self.expires_ms <= now_ms:
            return "expired"
        return "active"

    def as_dict(self, now_ms: int) -> dict[str, Any]:
        return {**self.__dict__, "state": self.state(now_ms)}


_COLUMNS = "id, camera, stream, origins, created_ms, created_by, expires_ms, last_used_ms, revoked_ms"


def _info(row: dict[str, Any]) -> EmbedInfo:
    return EmbedInfo(**{**row, "origins": json.loads(row["origins"])})


class EmbedStore:
    def __init__(self, db: Db, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or Clock()
        self._touched: dict[str, int] = {}

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def create(self, *, camera: str, origins: list[str] | str, created_by: str, stream: str = "sub",
               expires_s: int | None = None) -> tuple[str, str]:
        """Make an embed; returns ``(id, token)``. The token is not kept: show it once."""
        if stream not in STREAMS:
            raise EmbedError("stream: must be 'main' or 'sub'")
        if expires_s is not None and (isinstance(expires_s, bool) or not isinstance(expires_s, int)
                                      or expires_s <= 0):
            raise EmbedError("expires_s: a positive whole number of seconds, or leave it out for no expiry")
        clean = normalize_origins(origins)
        embed_id, raw = mint(PREFIX)
        now = self._clock.now_ms()
        with self._db.write():
            self._db.execute(
                "INSERT INTO embeds (id, camera, stream, origins, token_hash, created_ms, created_by, "
                "expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [embed_id, camera, stream, json.dumps(clean), digest(raw), now, created_by,
                 None if expires_s is None else now + expires_s * 1000])
        return embed_id, raw

    def get(self, embed_id: str) -> EmbedInfo | None:
        """The row, live or not (for the error page's frame-ancestors)."""
        rows = list(self._db.query(f"SELECT {_COLUMNS} FROM embeds WHERE id = ?", [embed_id]))
        return _info(rows[0]) if rows else None

    def verify(self, raw: str | None, camera: str | None = None) -> EmbedInfo | None:
        """The embed a token opens, or None when it is unknown, expired, revoked (or for
        another camera than ``camera``)."""
        if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
            return None
        embed_id = raw[len(PREFIX):].split("_", 1)[0]
        row = self._db.execute("SELECT token_hash FROM embeds WHERE id = ?", [embed_id]).fetchone()
        if row is None or not matches(row[0], raw):
            return None
        info = self.get(embed_id)
        now = self._clock.now_ms()
        if info is None or info.state(now) != "active" or (camera is not None and info.camera != camera):
            return None
        if now - self._touched.get(embed_id, 0) >= _TOUCH_EVERY_MS:
            self._touched[embed_id] = now
            with self._db.write():
                self._db.execute("UPDATE embeds SET last_used_ms = ? WHERE id = ?", [now, embed_id])
        return info

    def revoke_camera(self, camera: str) -> list[str]:
        """Revoke every live embed of a camera (when it is deleted, so a camera added later
        under the same name is not shown through old snippets); returns their ids."""
        with self._db.write():
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM embeds WHERE camera = ? AND revoked_ms IS NULL", [camera]).fetchall()]
            self._db.execute("UPDATE embeds SET revoked_ms = ? WHERE camera = ? AND revoked_ms IS NULL",
                             [self._clock.now_ms(), camera])
        return ids

    def list(self, camera: str | None = None) -> list[EmbedInfo]:
        sql = f"SELECT {_COLUMNS} FROM embeds"
        args: list[Any] = []
        if camera is not None:
            sql += " WHERE camera = ?"
            args.append(camera)
        return [_info(r) for r in self._db.query(sql + " ORDER BY created_ms DESC, id", args)]

    def revoke(self, embed_id: str, camera: str | None = None) -> bool:
        """Revoke at once; False when there is no such live embed (of ``camera``)."""
        sql = "UPDATE embeds SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL"
        args: list[Any] = [self._clock.now_ms(), embed_id]
        if camera is not None:
            sql += " AND camera = ?"
            args.append(camera)
        with self._db.write():
            cur = self._db.execute(sql, args)
        return cur.rowcount > 0
