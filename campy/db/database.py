"""Opening the database and applying the schema.

One file (``<data_dir>/campy.db``), WAL mode so readers never block the writer, and
numbered migrations (sqlite-utils' ``Migrations``) so the schema only ever moves forward.
Times are UTC epoch integers with the unit in the column name.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database, Migrations

migrations = Migrations("campy")


@migrations()
def m001_users(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
            created_ms INTEGER NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
        )
        """
    )


@migrations()
def m002_sessions(db: Database) -> None:
    # Server-side sessions (the cookie holds only a random id), so logging out or
    # disabling a user takes effect at once and sessions survive a restart.
    db.execute(
        """
        CREATE TABLE sessions (
            key TEXT PRIMARY KEY,
            value BLOB NOT NULL,
            expires_ms INTEGER
        )
        """
    )


def open_db(path: Path | str) -> Database:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    The connection may be used from worker threads (``check_same_thread=False``); callers
    serialise writes (see ``campy.web.session_store`` and ``campy.db.users``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
    db = Database(conn)
    db.enable_wal()
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db
