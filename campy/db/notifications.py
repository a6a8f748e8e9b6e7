"""The notification list: health alert episodes (table ``notifications``, migration m011)."""

from __future__ import annotations

from typing import Any

from campy.clock import Clock
from campy.db.connection import Db

_COLUMNS = "id, kind, scope, started_ms, resolved_ms, message, acked_by, acked_ms"
KEEP_DAYS = 90  # resolved episodes older than this are purged


class NotificationStore:
    def __init__(self, db: Db, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def open(self, kind: str, scope: str, started_ms: int, message: str) -> int:
        with self._db.write():
            cur = self._db.execute(
                "INSERT INTO notifications (kind, scope, started_ms, message) VALUES (?, ?, ?, ?)",
                [kind, scope, started_ms, message])
        return int(cur.lastrowid or 0)

    def resolve(self, kind: str, scope: str, resolved_ms: int) -> None:
        with self._db.write():
            self._db.execute("UPDATE notifications SET resolved_ms = ? WHERE kind = ? AND scope = ? "
                             "AND resolved_ms IS NULL", [resolved_ms, kind, scope])

    def ack(self, nid: int, username: str) -> bool:
        with self._db.write():
            cur = self._db.execute("UPDATE notifications SET acked_by = ?, acked_ms = ? WHERE id = ? "
                                   "AND acked_ms IS NULL", [username, self._clock.now_ms(), nid])
        return cur.rowcount > 0

    def get(self, nid: int) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM notifications WHERE id = ?", [nid])
        return rows[0] if rows else None

    def open_rows(self) -> list[dict[str, Any]]:
        return self._rows(f"SELECT {_COLUMNS} FROM notifications WHERE resolved_ms IS NULL ORDER BY id", [])

    def open_count(self) -> int:
        row = self._db.execute("SELECT count(*) FROM notifications WHERE resolved_ms IS NULL").fetchone()
        return int(row[0])

    def page(self, *, limit: int = 100, before_id: int | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        where, args = [], []
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        if open_only:
            where.append("resolved_ms IS NULL")
        sql = f"SELECT {_COLUMNS} FROM notifications"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._rows(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])

    def purge(self, days: float = KEEP_DAYS) -> int:
        cutoff = self._clock.now_ms() - int(days * 86_400_000)
        with self._db.write():
            cur = self._db.execute("DELETE FROM notifications WHERE resolved_ms IS NOT NULL AND resolved_ms < ?",
                                   [cutoff])
        return cur.rowcount

    def _rows(self, sql: str, args: list[Any]) -> list[dict[str, Any]]:
        cur = self._db.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
