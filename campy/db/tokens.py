"""API tokens: long-lived bearer credentials for scripts, Home Assistant and monitoring.

A token reads ``campy_<id>_<secret>``: the id finds the row, the secret (32 random bytes)
is checked against a SHA-256 hash (a high-entropy secret needs no slow hash; the plain
token is shown once, at creation, and never stored). A token acts with its own role and
camera grant, never more than the admin who made it could.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from campy.clock import Clock
from campy.db.bearer import digest, matches, mint
from campy.db.connection import Db
from campy.db.users import ROLES, User, UserError, grant_from_json, grant_to_json

PREFIX = "campy_"
# A token's roles: a user's, or ``metrics`` (reads /metrics and nothing else).
TOKEN_ROLES = (*ROLES, "metrics")
_TOUCH_EVERY_MS = 60_000  # last-used time is written at most once a minute per token


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: str
    cameras: list[str] | None
    scopes: list[str] | None
    created_ms: int
    created_by: str
    expires_ms: int | None
    last_used_ms: int | None
    revoked_ms: int | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class TokenStore:
    def __init__(self, db: Db, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or Clock()
        self._touched: dict[str, int] = {}

    def create(self, *, name: str, role: str, created_by: str, cameras: list[str] | None = None,
               expires_s: int | None = None, scopes: list[str] | None = None) -> tuple[str, str]:
        """Make a token; returns ``(id, token)``. The token is not kept: show it once."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise UserError("name: give the token a name of 1-100 characters")
        if role not in TOKEN_ROLES:
            raise UserError(f"role: must be one of {', '.join(TOKEN_ROLES)}")
        if expires_s is not None and expires_s <= 0:
            raise UserError("expires_s: must be a positive number of seconds (or left out)")
        token_id, raw = mint(PREFIX)
        now = self._clock.now_ms()
        with self._db.write():
            self._db.execute(
                "INSERT INTO tokens (id, name, role, cameras, scopes, token_hash, created_ms, created_by, "
                "expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [token_id, name, role, grant_to_json(cameras), grant_to_json(scopes), digest(raw), now,
                 created_by, None if expires_s is None else now + expires_s * 1000],
            )
        return token_id, raw

    def verify(self, raw: str) -> User | None:
        """The principal a token acts as, or None when it is unknown, expired or revoked."""
        if not raw.startswith(PREFIX) or len(raw) > 200:
            return None
        token_id = raw[len(PREFIX):].split("_", 1)[0]
        row = self._db.execute(
            "SELECT id, role, cameras, scopes, token_hash, expires_ms, revoked_ms FROM tokens WHERE id = ?",
            [token_id]).fetchone()
        if row is None or not matches(row[4], raw):
            return None
        now = self._clock.now_ms()
        if row[6] is not None or (row[5] is not None and row[5] <= now):
            return None
        if now - self._touched.get(token_id, 0) >= _TOUCH_EVERY_MS:
            self._touched[token_id] = now
            with self._db.write():
                self._db.execute("UPDATE tokens SET last_used_ms = ? WHERE id = ?", [now, token_id])
        role = row[1]
        return User(id=0, username=f"token:{token_id}", role=role,
                    cameras=None if role == "admin" else frozenset() if role == "metrics"
                    else grant_from_json(row[2]),
                    via="token", token_id=token_id, scopes=grant_from_json(row[3]))

    def list(self) -> list[TokenInfo]:
        rows = self._db.query(
            "SELECT id, name, role, cameras, scopes, created_ms, created_by, expires_ms, last_used_ms, "
            "revoked_ms FROM tokens ORDER BY created_ms DESC")
        out = []
        for r in rows:
            cams, scopes = grant_from_json(r["cameras"]), grant_from_json(r["scopes"])
            out.append(TokenInfo(**{**r, "cameras": None if cams is None else sorted(cams),
                                    "scopes": None if scopes is None else sorted(scopes)}))
        return out

    def revoke(self, token_id: str) -> bool:
        """Revoke at once; False when there is no such live token."""
        with self._db.write():
            cur = self._db.execute("UPDATE tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                                   [self._clock.now_ms(), token_id])
        return cur.rowcount > 0
