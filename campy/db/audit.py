"""The audit log: who did what, from where, and whether it worked.

Rows are written for logins (success and failure), user and token changes, config
changes, exports, and embeds; kept ``days`` days (see ``purge``).
"""

from __future__ import annotations

from typing import Any

from campy.clock import Clock
from campy.db.connection import Db

_MAX_FIELD = 500  # an attacker-chosen value (a username) is cut, never stored whole


def _cut(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_FIELD]


class AuditLog:
    def __init__(self, db: Db, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or Clock()

    def record(self, actor: str, action: str, *, target: str | None = None, detail: str | None = None,
               address: str | None = None, ok: bool = True) -> None:
        with self._db.write():
            self._db.execute(
                "INSERT INTO audit (at_ms, actor, address, action, target, detail, ok) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [self._clock.now_ms(), _cut(actor) or "-", _cut(address), action, _cut(target),
                 _cut(detail), 1 if ok else 0])

    def list(self, *, limit: int = 200, before_id: int | None = None, action: str | None = None,
             actor: str | None = None) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        if action:
            where.append("action LIKE ?")
            args.append(action.replace("%", "") + "%")
        if actor:
            where.append("actor = ?")
            args.append(actor)
        sql = "SELECT id, at_ms, actor, address, action, target, detail, ok FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(max(1, min(limit, 1000)))
        return list(self._db.query(sql, args))

    def purge(self, days: float) -> int:
        cutoff = self._clock.now_ms() - int(days * 86_400_000)
        with self._db.write():
            cur = self._db.execute("DELETE FROM audit WHERE at_ms < ?", [cutoff])
        return cur.rowcount
