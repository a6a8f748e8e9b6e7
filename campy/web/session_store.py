"""Litestar session store kept in CamPy's SQLite database.

Sessions live server-side (the cookie carries only a random id) and survive a restart,
unlike Litestar's default in-memory store. The async methods run the SQL on a worker
thread, which reads through its own connection and writes through ``db.write()``
(``campy.db.connection``), so a session lookup never races the event loop's queries.
Expired rows are deleted at start and by an hourly APScheduler job (``schedule_purge``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import anyio.to_thread
import msgspec
from litestar.stores.base import Store
from campy.clock import Clock
from campy.db.connection import Db

log = logging.getLogger(__name__)


def _seconds(value: int | timedelta | None) -> int | None:
    if value is None:
        return None
    return int(value.total_seconds()) if isinstance(value, timedelta) else int(value)


RENEW_SLACK_MS = 3_600_000  # a 7-day session's expiry slides in steps of at most an hour


def _user_id(value: bytes) -> int | None:
    """The user a session belongs to (Litestar stores the session dict as JSON)."""
    try:
        data = msgspec.json.decode(value)
    except msgspec.DecodeError:
        return None
    uid = data.get("user_id") if isinstance(data, dict) else None
    return uid if isinstance(uid, int) else None


class SQLiteSessionStore(Store):
    """Key/value store on the ``sessions`` table; expired rows are treated as absent."""

    def __init__(self, db: Db, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or Clock()

    def _expiry(self, expires_in: int | timedelta | None) -> int | None:
        secs = _seconds(expires_in)
        return None if secs is None else self._clock.now_ms() + secs * 1000

    def _set(self, key: str, value: bytes, expires_in: int | timedelta | None) -> None:
        expiry = self._expiry(expires_in)
        # Litestar writes the session back after every response. When nothing changed and
        # the expiry would move by less than RENEW_SLACK_MS, skip the write: a commit costs
        # ~0.7 ms of fsync per request (bench/auth_bench.py) for no effect.
        row = self._db.execute("SELECT value, expires_ms FROM sessions WHERE key = ?", [key]).fetchone()
        if (row is not None and bytes(row[0]) == value and expiry is not None and row[1] is not None
                and 0 <= expiry - row[1] < RENEW_SLACK_MS):
            return
        with self._db.write():
            self._db.execute(
                "INSERT INTO sessions (key, value, expires_ms, user_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms, "
                "user_id = excluded.user_id",
                [key, value, expiry, _user_id(value)],
            )

    def delete_for_user(self, user_id: int) -> int:
        """End every session of one user (password change, disable, "end sessions")."""
        with self._db.write():
            cur = self._db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])
        return cur.rowcount

    def count_for_user(self, user_id: int) -> int:
        row = self._db.execute("SELECT count(*) FROM sessions WHERE user_id = ? AND "
                               "(expires_ms IS NULL OR expires_ms > ?)", [user_id, self._clock.now_ms()])
        return int(row.fetchone()[0])

    def _get(self, key: str, renew_for: int | timedelta | None) -> bytes | None:
        row = self._db.execute("SELECT value, expires_ms FROM sessions WHERE key = ?", [key]).fetchone()
        if row is None:
            return None
        value, expires_ms = row
        if expires_ms is not None and expires_ms <= self._clock.now_ms():
            with self._db.write():
                # Only if still expired: a login may have renewed it meanwhile.
                self._db.execute("DELETE FROM sessions WHERE key = ? AND expires_ms <= ?",
                                 [key, self._clock.now_ms()])
            return None
        if renew_for is not None:
            with self._db.write():
                self._db.execute("UPDATE sessions SET expires_ms = ? WHERE key = ?",
                                 [self._expiry(renew_for), key])
        return bytes(value)

    def _delete(self, key: str) -> None:
        with self._db.write():
            self._db.execute("DELETE FROM sessions WHERE key = ?", [key])

    def _delete_all(self) -> None:
        with self._db.write():
            self._db.execute("DELETE FROM sessions")

    def purge_expired(self) -> int:
        with self._db.write():
            cur = self._db.execute(
                "DELETE FROM sessions WHERE expires_ms IS NOT NULL AND expires_ms <= ?",
                [self._clock.now_ms()],
            )
        return cur.rowcount

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        await anyio.to_thread.run_sync(self._set, key, data, expires_in)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await anyio.to_thread.run_sync(self._get, key, renew_for)

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self._delete, key)

    async def delete_all(self) -> None:
        await anyio.to_thread.run_sync(self._delete_all)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        row = self._db.execute("SELECT expires_ms FROM sessions WHERE key = ?", [key]).fetchone()
        if row is None or row[0] is None:
            return None
        return max(0, (row[0] - self._clock.now_ms()) // 1000)


PURGE_JOB_ID = "purge-sessions"


def schedule_purge(scheduler: Any, store: SQLiteSessionStore, *, hours: float = 1.0) -> Any:
    """Add the hourly job that deletes expired sessions (the SQL runs on a worker thread)."""

    async def purge() -> None:
        removed = await anyio.to_thread.run_sync(store.purge_expired)
        if removed:
            log.info("purged %d expired sessions", removed)

    return scheduler.add_job(purge, "interval", hours=hours, id=PURGE_JOB_ID, name="purge expired sessions",
                             replace_existing=True, coalesce=True, max_instances=1)
