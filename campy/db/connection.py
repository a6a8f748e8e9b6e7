"""One SQLite database shared by the event loop, worker threads and background jobs.

The rule (docs/storage.md):

* **A connection per thread.** :class:`Db` is a sqlite-utils ``Database`` whose ``conn`` is
  the calling thread's own connection, opened on first use. ``execute``, ``query``,
  ``table(...)``, ``atomic()`` work as usual from any thread, and no two threads ever share
  a cursor, a transaction or a savepoint (sharing one connection made sqlite-utils' query
  savepoint of one thread vanish under another: ``no such savepoint: sqlite_utils_query``).
  WAL lets every reader run while a write is in progress.
* **One writer at a time.** Every INSERT, UPDATE, DELETE or schema change runs inside
  ``with db.write():`` — one process-wide lock, then ``BEGIN IMMEDIATE`` on this thread's
  connection, ``COMMIT`` at the end, ``ROLLBACK`` on an exception. Writers in CamPy take
  turns on the lock instead of racing for SQLite's file lock; ``busy_timeout`` covers other
  processes (``campy user``, ``campy check``).
* **Enforced.** An authorizer refuses writes outside ``write()`` (:class:`WriteOutsideLock`),
  so a writer that forgets the lock fails at its first statement, in tests, not now and then
  in production.
* **Short.** Hold ``write()`` for a few statements: never across file I/O, a network call or
  an ``await``. It is a thread lock, so a long hold on a worker thread stalls writers on the
  event loop; and a coroutine that awaited inside it would let other coroutines of the same
  thread in (that is detected and refused).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10.0

# Authorizer actions that change the database file (temp objects excepted).
_WRITE_ACTIONS = frozenset({
    sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE,
    sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_VIEW,
    sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_REINDEX,
    sqlite3.SQLITE_ANALYZE,
})
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})


class WriteOutsideLock(sqlite3.DatabaseError):
    """A statement tried to change the database outside ``with db.write():``."""


class _PerThread(threading.local):
    conn: sqlite3.Connection | None = None
    writing: bool = False
    task: object = None  # the asyncio task (or None) that holds write() on this thread


def _current_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


class Db(Database):
    """sqlite-utils ``Database`` with one connection per thread and one writer at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = _PerThread()
        self._write_lock = threading.RLock()
        # Every open connection, so close() can reach them all; an entry goes when its
        # thread object does (worker pools retire idle threads), and the connection with it.
        self._conns: weakref.WeakKeyDictionary[threading.Thread, sqlite3.Connection] = weakref.WeakKeyDictionary()
        self._conns_lock = threading.Lock()
        self._closed = False
        super().__init__(self._connect(), execute_plugins=False)

    # -- connections ---------------------------------------------------------------------
    @property  # type: ignore[override]
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = self._local.conn
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @conn.setter
    def conn(self, value: sqlite3.Connection) -> None:  # sqlite-utils' __init__ assigns it
        self._local.conn = value

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise sqlite3.ProgrammingError(f"database {self.path} is closed")
        # check_same_thread=False only so close() may close it from another thread; the
        # connection itself is used by the thread that opened it and no other.
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA recursive_triggers = ON")  # as sqlite-utils sets on its own connections
        conn.set_authorizer(self._authorize)
        with self._conns_lock:
            self._conns[threading.current_thread()] = conn
        return conn

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, dbname: str | None,
                   source: str | None) -> int:
        if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
            # Reported when SQLite declares a table-valued function (json_each) while
            # reading, too; real schema changes also report CREATE/DROP/ALTER or INSERT.
            return sqlite3.SQLITE_OK
        if action in _WRITE_ACTIONS and dbname != "temp" and not self._local.writing:
            log.error("refused a write to %s outside db.write() (thread %s)", arg1,
                      threading.current_thread().name)
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as err:
            if str(err) == "not authorized" and not self._local.writing:
                raise WriteOutsideLock(f"writes must run inside `with db.write():` ({sql.strip()[:60]!r})") from err
            raise

    def close(self) -> None:
        """Close every thread's connection; the database cannot be used afterwards."""
        with self._conns_lock:
            self._closed = True
            conns = list(self._conns.values())
            self._conns.clear()
        for conn in conns:
            conn.close()

    # -- writing -------------------------------------------------------------------------
    @contextmanager
    def _holding(self) -> Iterator[bool]:
        """The write lock and permission to write; yields True when this is the outermost hold."""
        task = _current_task()
        with self._write_lock:
            local = self._local
            if local.writing:
                if local.task is not task:
                    raise RuntimeError("db.write() entered by a second task on the same thread: "
                                       "a write() block was held across an await")
                yield False
                return
            local.writing, local.task = True, task
            try:
                yield True
            finally:
                local.writing, local.task = False, None

    @contextmanager
    def write(self) -> Iterator[Db]:
        """One write transaction under the process-wide write lock.

        ``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` when the block raises. Nested
        ``write()`` blocks (same thread) become savepoints of the outer transaction.
        """
        with self._holding() as outermost:
            if not outermost:
                with self.atomic():
                    yield self
                return
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            # sqlite-utils' table helpers commit on their own (``with conn:``); then there
            # is nothing left to commit here.
            if conn.in_transaction:
                conn.commit()

    @contextmanager
    def exclusive(self) -> Iterator[Db]:
        """The write lock without a transaction, for code that runs its own transactions
        (sqlite-utils ``Migrations``, ``table(...).insert_all``)."""
        with self._holding():
            yield self
