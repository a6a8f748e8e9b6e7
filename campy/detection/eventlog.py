"""Stored events (SQLite ``events``): written by the main process only, read by the API."""

from __future__ import annotations

import json
from typing import Any

from campy.db.connection import Db

_COLS = "id, camera, key, label, score, start_ms, end_ms, zones, box, snapshot, mark_id, acked_ms, acked_by"


def _row(r: Any) -> dict[str, Any]:
    return {"id": r[0], "camera": r[1], "key": r[2], "label": r[3], "score": r[4], "start_ms": r[5],
            "end_ms": r[6], "zones": json.loads(r[7] or "[]"), "box": json.loads(r[8] or "[]"),
            "snapshot": r[9], "mark_id": r[10], "acked_ms": r[11], "acked_by": r[12]}


class EventLog:
    def __init__(self, db: Db) -> None:
        self.db = db

    def start(self, *, camera: str, key: str, label: str, score: float, start_ms: int, zones: list[str],
              box: list[int], snapshot: str | None, mark_id: int | None) -> int:
        with self.db.write():
            cur = self.db.execute(
                "INSERT INTO events (camera, key, label, score, start_ms, zones, box, snapshot, mark_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [camera, key, label, min(1.0, max(0.0, score)), start_ms, json.dumps(zones), json.dumps(box),
                 snapshot, mark_id])
        return int(cur.lastrowid or 0)

    def update(self, key: str, *, score: float | None = None, zones: list[str] | None = None,
               box: list[int] | None = None, snapshot: str | None = None, end_ms: int | None = None) -> None:
        sets, args = [], []
        for col, val in (("score", score), ("zones", json.dumps(zones) if zones is not None else None),
                         ("box", json.dumps(box) if box is not None else None), ("snapshot", snapshot),
                         ("end_ms", end_ms)):
            if val is not None:
                sets.append(f"{col} = ?")
                args.append(val)
        if not sets:
            return
        with self.db.write():
            self.db.execute(f"UPDATE events SET {', '.join(sets)} WHERE key = ?", [*args, key])

    def ack(self, event_id: int, *, by: str, at_ms: int) -> bool:
        """Acknowledge an event (the first acknowledgement stands); False when there is no such event."""
        with self.db.write():
            cur = self.db.execute("UPDATE events SET acked_ms = COALESCE(acked_ms, ?), "
                                  "acked_by = COALESCE(acked_by, ?) WHERE id = ?", [at_ms, by, event_id])
        return cur.rowcount > 0

    def by_key(self, key: str) -> dict[str, Any] | None:
        r = self.db.execute(f"SELECT {_COLS} FROM events WHERE key = ?", [key]).fetchone()
        return _row(r) if r else None

    def get(self, event_id: int) -> dict[str, Any] | None:
        r = self.db.execute(f"SELECT {_COLS} FROM events WHERE id = ?", [event_id]).fetchone()
        return _row(r) if r else None

    def query(self, *, camera: str | None = None, label: str | None = None, zone: str | None = None,
              start_ms: int | None = None, end_ms: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Events overlapping [start_ms, end_ms), newest first."""
        where: list[str] = []
        args: list[Any] = []
        if camera:
            where.append("camera = ?")
            args.append(camera)
        if label:
            where.append("label = ?")
            args.append(label)
        if start_ms is not None:
            where.append("(end_ms IS NULL OR end_ms >= ?)")
            args.append(start_ms)
        if end_ms is not None:
            where.append("start_ms < ?")
            args.append(end_ms)
        if zone:
            where.append("EXISTS (SELECT 1 FROM json_each(events.zones) WHERE json_each.value = ?)")
            args.append(zone)
        sql = f"SELECT {_COLS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_ms DESC, id DESC LIMIT ?"
        return [_row(r) for r in self.db.execute(sql, [*args, limit]).fetchall()]

    def close_open(self, *, end_ms: int) -> int:
        with self.db.write():
            cur = self.db.execute("UPDATE events SET end_ms = MAX(start_ms, ?) WHERE end_ms IS NULL", [end_ms])
        return cur.rowcount

    def expired(self, *, before_ms: int) -> list[dict[str, Any]]:
        rows = self.db.execute(f"SELECT {_COLS} FROM events WHERE end_ms IS NOT NULL AND end_ms < ?",
                               [before_ms]).fetchall()
        return [_row(r) for r in rows]

    def delete(self, ids: list[int]) -> None:
        with self.db.write():
            self.db.conn.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])
