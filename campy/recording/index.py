"""The recording index in SQLite: segments, marks and the recording log.

Only the main process writes (one writer). A row is inserted only after its file is
closed, flushed and in place, so every row names a complete file (invariant 1).

Work over many rows (retention, the storage page, a day's timeline) runs in a worker thread
(``in_thread``); the database gives that thread its own connection, and every write takes
the one write lock (docs/storage.md).
"""

from __future__ import annotations

import json

from collections.abc import Iterable, Sequence
from typing import Any

from campy.db.connection import Db

from campy.recording.model import LogRow, Mark, Segment

_SEG_COLS = "id, camera, start_ms, end_ms, size_bytes, path, codec, audio, stream"


def _segment(row: Sequence[Any]) -> Segment:
    return Segment(id=row[0], camera=row[1], start_ms=row[2], end_ms=row[3], size_bytes=row[4],
                   path=row[5], codec=row[6], audio=bool(row[7]), stream=row[8])


def _mark(row: Sequence[Any]) -> Mark:
    return Mark(id=row[0], camera=row[1], kind=row[2], start_ms=row[3], end_ms=row[4], keep_until_ms=row[5])


class RecordingIndex:
    """Segment and mark rows (times in UTC ms)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def in_thread(self) -> RecordingIndex:
        """This index for work handed to ``asyncio.to_thread``.

        The database gives every thread its own connection and lets one writer in at a time
        (``campy.db.connection``), so the same object serves any thread; the call marks
        the places that run off the event loop."""
        return self

    # -- segments ---------------------------------------------------------------------
    def add_segment(self, *, camera: str, start_ms: int, end_ms: int, size_bytes: int, path: str,
                    codec: str, audio: bool, stream: str = "main") -> int:
        with self.db.write():
            cur = self.db.execute(
                "INSERT INTO segments (camera, start_ms, end_ms, size_bytes, path, codec, audio, stream) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [camera, start_ms, end_ms, size_bytes, path, codec, int(audio), stream])
        return int(cur.lastrowid or 0)

    def last_end_ms(self, camera: str, stream: str = "main") -> int | None:
        row = self.db.execute("SELECT MAX(end_ms) FROM segments WHERE camera = ? AND stream = ?",
                              [camera, stream]).fetchone()
        return row[0] if row and row[0] is not None else None

    def last_codec(self, camera: str, stream: str = "main") -> str | None:
        """The video codec of the newest segment of one stream of ``camera``."""
        row = self.db.execute("SELECT codec FROM segments WHERE camera = ? AND stream = ? AND deleting = 0 "
                              "ORDER BY start_ms DESC LIMIT 1", [camera, stream]).fetchone()
        return row[0] if row else None

    def segments_between(self, camera: str, start_ms: int, end_ms: int, *, limit: int | None = None,
                         stream: str = "main") -> list[Segment]:
        """Segments of one stream of ``camera`` overlapping [start_ms, end_ms), in time order."""
        sql = (f"SELECT {_SEG_COLS} FROM segments WHERE camera = ? AND stream = ? AND deleting = 0 "
               "AND start_ms < ? AND end_ms > ? ORDER BY start_ms")
        args: list[Any] = [camera, stream, end_ms, start_ms]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        # A segment that began before start_ms is found through the (camera, stream, start_ms) index
        # because no segment is longer than a few minutes; the end_ms test keeps it exact.
        return [_segment(r) for r in self.db.execute(sql, args).fetchall()]

    def segment(self, segment_id: int) -> Segment | None:
        row = self.db.execute(f"SELECT {_SEG_COLS} FROM segments WHERE id = ? AND deleting = 0",
                              [segment_id]).fetchone()
        return _segment(row) if row else None

    def all_segments(self) -> list[Segment]:
        return [_segment(r) for r in self.db.execute(
            f"SELECT {_SEG_COLS} FROM segments WHERE deleting = 0 ORDER BY start_ms, id").fetchall()]

    def paths(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT path, id FROM segments").fetchall()}

    def used_bytes(self) -> int:
        row = self.db.execute("SELECT COALESCE(SUM(size_bytes), 0) FROM segments").fetchone()
        return int(row[0])

    # One statement over a JSON list of ids, not executemany: SQLite then runs the whole
    # change with the GIL released, where a step per row (each releasing and retaking the
    # GIL) starves the event loop's thread of it for a pass's tens of thousands of rows.
    def mark_deleting(self, ids: Iterable[int]) -> None:
        with self.db.write():
            self.db.execute("UPDATE segments SET deleting = 1 WHERE id IN (SELECT value FROM json_each(?))",
                            [json.dumps(list(ids))])

    def remove(self, ids: Iterable[int]) -> None:
        with self.db.write():
            self.db.execute("DELETE FROM segments WHERE id IN (SELECT value FROM json_each(?))",
                            [json.dumps(list(ids))])

    def deleting(self) -> list[tuple[int, str]]:
        return [(r[0], r[1]) for r in self.db.execute("SELECT id, path FROM segments WHERE deleting = 1")]

    def camera_stats(self) -> list[dict[str, Any]]:
        """Per camera: segments, bytes, oldest start and newest end (both streams)."""
        rows = self.db.execute(
            "SELECT camera, COUNT(*), SUM(size_bytes), MIN(start_ms), MAX(end_ms) FROM segments "
            "WHERE deleting = 0 GROUP BY camera ORDER BY camera").fetchall()
        return [{"camera": r[0], "segments": r[1], "size_bytes": r[2], "oldest_ms": r[3], "newest_ms": r[4]}
                for r in rows]

    def recent_rate(self, *, since_ms: int) -> dict[str, tuple[int, int]]:
        """Per camera: (bytes of both streams, recorded ms of the main one) of segments that
        ended after ``since_ms``."""
        rows = self.db.execute(
            "SELECT camera, SUM(size_bytes), SUM(CASE WHEN stream = 'main' THEN end_ms - start_ms ELSE 0 END) "
            "FROM segments "
            "WHERE end_ms > ? AND deleting = 0 GROUP BY camera", [since_ms]).fetchall()
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    # -- marks ------------------------------------------------------------------------
    def add_mark(self, *, camera: str, kind: str, source: str, start_ms: int, end_ms: int | None,
                 keep_until_ms: int | None, created_ms: int, label: str | None = None,
                 created_by: str | None = None) -> int:
        with self.db.write():
            cur = self.db.execute(
                "INSERT INTO marks (camera, kind, source, label, start_ms, end_ms, keep_until_ms, created_ms, "
                "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [camera, kind, source, label, start_ms, end_ms, keep_until_ms, created_ms, created_by])
        return int(cur.lastrowid or 0)

    def active_marks_by(self, user: str, *, now_ms: int, motion_counts_ms: int) -> int:
        """Marks ``user`` added that still protect footage (a motion mark: for a while after it ends)."""
        row = self.db.execute(
            "SELECT count(*) FROM marks WHERE created_by = ? AND "
            "(keep_until_ms > ? OR (keep_until_ms IS NULL AND (end_ms IS NULL OR end_ms + ? > ?)))",
            [user, now_ms, motion_counts_ms, now_ms]).fetchone()
        return int(row[0])

    def close_mark(self, mark_id: int, end_ms: int) -> None:
        with self.db.write():
            self.db.execute("UPDATE marks SET end_ms = MAX(start_ms, ?) WHERE id = ? AND end_ms IS NULL",
                            [end_ms, mark_id])

    def update_mark(self, mark_id: int, *, end_ms: int | None, keep_until_ms: int | None) -> None:
        with self.db.write():
            self.db.execute("UPDATE marks SET end_ms = ?, keep_until_ms = ? WHERE id = ?",
                            [end_ms, keep_until_ms, mark_id])

    def close_open_marks(self, *, source: str, end_ms: int) -> int:
        """Close marks left open by a crash or a stopped worker."""
        with self.db.write():
            cur = self.db.execute("UPDATE marks SET end_ms = MAX(start_ms, ?) WHERE end_ms IS NULL AND source = ?",
                                  [end_ms, source])
        return cur.rowcount

    def marks_between(self, camera: str, start_ms: int, end_ms: int) -> list[Mark]:
        rows = self.db.execute(
            "SELECT id, camera, kind, start_ms, end_ms, keep_until_ms FROM marks WHERE camera = ? "
            "AND start_ms < ? AND (end_ms IS NULL OR end_ms > ?) ORDER BY start_ms",
            [camera, end_ms, start_ms]).fetchall()
        return [_mark(r) for r in rows]

    def mark_rows(self, camera: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, camera, kind, source, label, start_ms, end_ms, keep_until_ms FROM marks "
            "WHERE camera = ? AND start_ms < ? AND (end_ms IS NULL OR end_ms > ?) ORDER BY start_ms",
            [camera, end_ms, start_ms]).fetchall()
        keys = ("id", "camera", "kind", "source", "label", "start_ms", "end_ms", "keep_until_ms")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def all_marks(self) -> list[Mark]:
        return [_mark(r) for r in self.db.execute(
            "SELECT id, camera, kind, start_ms, end_ms, keep_until_ms FROM marks").fetchall()]

    def prune_marks(self, *, before_ms: int) -> int:
        """Forget closed marks that ended, and whose protection ended, before ``before_ms``."""
        with self.db.write():
            cur = self.db.execute(
                "DELETE FROM marks WHERE end_ms IS NOT NULL AND end_ms < ? "
                "AND (keep_until_ms IS NULL OR keep_until_ms < ?)", [before_ms, before_ms])
        return cur.rowcount

    # -- recording log (what explains a gap) --------------------------------------------
    def log(self, *, kind: str, at_ms: int, camera: str | None = None, detail: str = "",
            end_ms: int | None = None) -> None:
        with self.db.write():
            self.db.execute("INSERT INTO recording_log (at_ms, end_ms, camera, kind, detail) VALUES (?, ?, ?, ?, ?)",
                            [at_ms, end_ms, camera, kind, detail[:500]])

    def log_many(self, rows: Iterable[tuple[int, int | None, str | None, str, str]]) -> None:
        with self.db.write():
            self.db.conn.executemany(
                "INSERT INTO recording_log (at_ms, end_ms, camera, kind, detail) VALUES (?, ?, ?, ?, ?)", list(rows))

    def log_rows(self, start_ms: int, end_ms: int) -> list[LogRow]:
        """Log rows that touch [start_ms, end_ms], plus each camera's last state before it."""
        rows = self.db.execute(
            "SELECT id, at_ms, end_ms, camera, kind, detail FROM recording_log "
            "WHERE at_ms <= ? AND COALESCE(end_ms, at_ms) >= ? "
            "UNION SELECT id, at_ms, end_ms, camera, kind, detail FROM recording_log WHERE id IN ("
            "  SELECT MAX(id) FROM recording_log WHERE at_ms < ? AND kind IN ('camera_offline', 'camera_online') "
            "  GROUP BY camera) "
            "ORDER BY at_ms, id", [end_ms, start_ms, start_ms]).fetchall()
        return [LogRow(id=r[0], at_ms=r[1], end_ms=r[2], camera=r[3], kind=r[4], detail=r[5]) for r in rows]

    def last_campy_row(self) -> LogRow | None:
        r = self.db.execute("SELECT id, at_ms, end_ms, camera, kind, detail FROM recording_log "
                            "WHERE kind IN ('campy_start', 'campy_stop') ORDER BY id DESC LIMIT 1").fetchone()
        return LogRow(id=r[0], at_ms=r[1], end_ms=r[2], camera=r[3], kind=r[4], detail=r[5]) if r else None

    def last_activity_ms(self) -> int | None:
        """The last time anything was recorded or logged (bounds when a killed CamPy died)."""
        row = self.db.execute("SELECT MAX(t) FROM (SELECT MAX(end_ms) AS t FROM segments "
                              "UNION ALL SELECT MAX(at_ms) FROM recording_log)").fetchone()
        return row[0] if row and row[0] is not None else None

    def prune_log(self, *, before_ms: int) -> int:
        with self.db.write():
            cur = self.db.execute("DELETE FROM recording_log WHERE COALESCE(end_ms, at_ms) < ?", [before_ms])
        return cur.rowcount

    def gaps(self, *, min_ms: int, since_ms: int | None = None,
             camera: str | None = None) -> list[tuple[str, int, int]]:
        """(camera, end of a segment, start of the next) wherever they are more than
        ``min_ms`` apart, in time order (main stream: the sub recording follows it)."""
        where, args = "deleting = 0 AND stream = 'main'", list[Any]()
        if since_ms is not None:
            where += " AND start_ms >= ?"
            args.append(since_ms)
        if camera is not None:
            where += " AND camera = ?"
            args.append(camera)
        rows = self.db.execute(
            "SELECT camera, prev_end, start_ms FROM (SELECT camera, start_ms, "
            "LAG(end_ms) OVER (PARTITION BY camera ORDER BY start_ms) AS prev_end "
            f"FROM segments WHERE {where}) WHERE start_ms - prev_end > ? ORDER BY prev_end",
            [*args, min_ms]).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]
