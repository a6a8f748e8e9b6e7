"""Opening the database and applying the schema.

One file (``<data_dir>/campy.db``), WAL mode so readers never block the writer, and
numbered migrations (sqlite-utils' ``Migrations``) so the schema only ever moves forward.
Times are UTC epoch integers with the unit in the column name.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database, Migrations

from campy.db.connection import Db

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


@migrations()
def m003_recordings(db: Database) -> None:
    # One row per closed segment file (never the one being written). ``deleting`` is the
    # first step of a delete (row marked → file unlinked → row removed), so a crash between
    # the steps is finished at the next start (docs/recording.md).
    db.execute(
        """
        CREATE TABLE segments (
            id INTEGER PRIMARY KEY,
            camera TEXT NOT NULL,
            start_ms INTEGER NOT NULL,
            end_ms INTEGER NOT NULL,
            size_bytes INTEGER NOT NULL CHECK (size_bytes > 0),
            path TEXT NOT NULL UNIQUE,
            codec TEXT NOT NULL DEFAULT '',
            audio INTEGER NOT NULL DEFAULT 0 CHECK (audio IN (0, 1)),
            deleting INTEGER NOT NULL DEFAULT 0 CHECK (deleting IN (0, 1)),
            CHECK (end_ms > start_ms)
        )
        """
    )
    db.execute("CREATE INDEX segments_camera_start ON segments (camera, start_ms)")
    db.execute("CREATE INDEX segments_start ON segments (start_ms)")
    # Windows of interest: motion, detected events and manual "record now" marks. Retention
    # keeps footage that overlaps them (non-continuous modes) and protects footage of
    # events until their own ``keep_until_ms``.
    db.execute(
        """
        CREATE TABLE marks (
            id INTEGER PRIMARY KEY,
            camera TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('motion', 'event')),
            source TEXT NOT NULL,
            label TEXT,
            start_ms INTEGER NOT NULL,
            end_ms INTEGER,
            keep_until_ms INTEGER,
            created_ms INTEGER NOT NULL,
            CHECK (end_ms IS NULL OR end_ms >= start_ms)
        )
        """
    )
    db.execute("CREATE INDEX marks_camera_start ON marks (camera, start_ms)")


@migrations()
def m004_events(db: Database) -> None:
    # Detected events. ``mark_id`` is the recording mark that keeps the event's footage;
    # ``snapshot`` is a file name under <data_dir>/snapshots/<camera>/.
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            camera TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL,
            score REAL NOT NULL CHECK (score >= 0 AND score <= 1),
            start_ms INTEGER NOT NULL,
            end_ms INTEGER,
            zones TEXT NOT NULL DEFAULT '[]',
            box TEXT NOT NULL DEFAULT '[]',
            snapshot TEXT,
            mark_id INTEGER,
            CHECK (end_ms IS NULL OR end_ms >= start_ms)
        )
        """
    )
    db.execute("CREATE INDEX events_start ON events (start_ms)")
    db.execute("CREATE INDEX events_camera_start ON events (camera, start_ms)")


@migrations()
def m005_recording_log(db: Database) -> None:
    # What explains a gap in the footage (docs/recording.md, "Gaps"): recorder exits and
    # stops with their reason, skips in the stream a running recorder received, camera state changes (from health), CamPy's own starts and
    # stops (a start that finds no clean stop after the previous start = CamPy was killed or
    # crashed), retention deleting footage between kept segments, and startup recovery
    # dropping rows whose files are gone (``end_ms`` then ends the range). ``camera`` is NULL for what concerns every camera.
    db.execute(
        """
        CREATE TABLE recording_log (
            id INTEGER PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            end_ms INTEGER,
            camera TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('campy_start', 'campy_stop', 'recorder_exit',
                'recorder_stop', 'camera_offline', 'camera_online', 'retention_delete', 'footage_lost',
                'stream_gap')),
            detail TEXT NOT NULL DEFAULT '',
            CHECK (end_ms IS NULL OR end_ms >= at_ms)
        )
        """
    )
    db.execute("CREATE INDEX recording_log_at ON recording_log (at_ms)")


@migrations()
def m006_access(db: Database) -> None:
    """Roles admin/operator/viewer with per-camera grants; API tokens; embeds; the audit log."""
    # SQLite cannot change a CHECK constraint in place: rebuild users.
    db.execute(
        """
        CREATE TABLE users_new (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
            cameras TEXT,  -- JSON list of camera names; NULL = every camera
            created_ms INTEGER NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
            password_changed_ms INTEGER
        )
        """
    )
    db.execute("INSERT INTO users_new (id, username, password_hash, role, created_ms, disabled) "
               "SELECT id, username, password_hash, role, created_ms, disabled FROM users")
    db.execute("DROP TABLE users")
    db.execute("ALTER TABLE users_new RENAME TO users")
    # Which user a session belongs to, so a password change or disable can end them all.
    db.execute("ALTER TABLE sessions ADD COLUMN user_id INTEGER")
    db.execute("CREATE INDEX sessions_user ON sessions (user_id)")
    db.execute(
        """
        CREATE TABLE tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
            cameras TEXT,
            scopes TEXT,  -- JSON list limiting what the token may do (e.g. ["metrics"]); NULL = its role
            token_hash TEXT NOT NULL UNIQUE,
            created_ms INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            expires_ms INTEGER,
            last_used_ms INTEGER,
            revoked_ms INTEGER
        )
        """
    )
    db.execute(
        """
        CREATE TABLE embeds (
            id TEXT PRIMARY KEY,
            camera TEXT NOT NULL,
            stream TEXT NOT NULL CHECK (stream IN ('main', 'sub')),
            origins TEXT NOT NULL,  -- JSON list of allowed origins
            token_hash TEXT NOT NULL UNIQUE,
            created_ms INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            expires_ms INTEGER,
            last_used_ms INTEGER,
            revoked_ms INTEGER
        )
        """
    )
    db.execute("CREATE INDEX embeds_camera ON embeds (camera)")
    db.execute(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            actor TEXT NOT NULL,     -- username, 'token:<id>', 'embed:<id>' or '-' (anonymous)
            address TEXT,
            action TEXT NOT NULL,    -- e.g. login, login_failed, user.add, token.revoke, config.camera.update
            target TEXT,
            detail TEXT,
            ok INTEGER NOT NULL DEFAULT 1 CHECK (ok IN (0, 1))
        )
        """
    )
    db.execute("CREATE INDEX audit_at ON audit (at_ms)")
    db.execute("ALTER TABLE marks ADD COLUMN created_by TEXT")


@migrations()
def m007_marks_owner(db: Database) -> None:
    # marks.created_by (m006) is the username that added a mark (NULL for CamPy's own marks:
    # detection, motion); indexed so a user's marks are counted against their quota.
    db.execute("CREATE INDEX marks_created_by ON marks (created_by, created_ms)")


@migrations()
def m008_grants(db: Database) -> None:
    """Acknowledging events: who acknowledged an event, and when."""
    db.execute("ALTER TABLE events ADD COLUMN acked_ms INTEGER")
    db.execute("ALTER TABLE events ADD COLUMN acked_by TEXT")


@migrations()
def m009_segment_streams(db: Database) -> None:
    """Which of a camera's streams a segment holds: 'main', or 'sub' (recorded beside the main
    one so a browser without the main codec, e.g. H.265, can play the footage)."""
    db.execute("ALTER TABLE segments ADD COLUMN stream TEXT NOT NULL DEFAULT 'main' "
               "CHECK (stream IN ('main', 'sub'))")
    db.execute("CREATE INDEX segments_camera_stream_start ON segments (camera, stream, start_ms)")


@migrations()
def m010_metrics_tokens(db: Database) -> None:
    """API tokens of role 'metrics': they may read /metrics and nothing else."""
    db.execute(
        """
        CREATE TABLE tokens_new (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'metrics')),
            cameras TEXT,
            scopes TEXT,
            token_hash TEXT NOT NULL UNIQUE,
            created_ms INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            expires_ms INTEGER,
            last_used_ms INTEGER,
            revoked_ms INTEGER
        )
        """
    )
    db.execute("INSERT INTO tokens_new SELECT id, name, role, cameras, scopes, token_hash, created_ms, created_by, "
               "expires_ms, last_used_ms, revoked_ms FROM tokens")
    db.execute("DROP TABLE tokens")
    db.execute("ALTER TABLE tokens_new RENAME TO tokens")


@migrations()
def m011_notifications(db: Database) -> None:
    """Health alert episodes for the notification list (campy/alerts/healthrun.py): one row
    per episode, open while ``resolved_ms`` is NULL."""
    db.execute(
        """
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,      -- a camera's name or 'system'
            started_ms INTEGER NOT NULL,
            resolved_ms INTEGER,
            message TEXT NOT NULL,
            acked_by TEXT,
            acked_ms INTEGER
        )
        """
    )
    db.execute("CREATE INDEX notifications_open ON notifications (resolved_ms, kind, scope)")
    db.execute("CREATE INDEX notifications_started ON notifications (started_ms)")

def open_db(path: Path | str) -> Db:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    The result may be used from any thread (a connection per thread); every write runs in
    ``with db.write():`` (see ``campy.db.connection`` and docs/storage.md).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Db(path)
    db.enable_wal()  # stored in the file: every later connection is in WAL mode too
    with db.exclusive():  # Migrations runs a transaction per migration
        migrations.apply(db)
    return db
