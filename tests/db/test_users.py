"""Users and server-side sessions on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from campy.clock import ManualClock
from campy.db.database import open_db
from campy.db.users import UserError, UserStore, ensure_admin
from campy.web.session_store import SQLiteSessionStore


def test_admin_is_created_once_with_a_generated_password(tmp_path):
    users = UserStore(open_db(tmp_path / "c.db"))
    generated = ensure_admin(users, password=None)
    assert generated and len(generated) >= 12
    assert users.authenticate("admin", generated).role == "admin"
    assert ensure_admin(users, password=None) is None  # not again
    assert users.count() == 1


def test_env_password_wins_on_every_start(tmp_path):
    users = UserStore(open_db(tmp_path / "c.db"))
    assert ensure_admin(users, password="first-password") is None
    ensure_admin(users, password="second-password")
    assert users.authenticate("admin", "first-password") is None
    assert users.authenticate("admin", "second-password") is not None


def test_passwords_are_hashed_and_checked(tmp_path):
    db = open_db(tmp_path / "c.db")
    users = UserStore(db)
    users.create(username="vera", password="viewer-password", role="viewer")
    row = db.execute("SELECT password_hash FROM users WHERE username='vera'").fetchone()
    assert row[0].startswith("$argon2id$") and "viewer-password" not in row[0]
    assert users.authenticate("vera", "wrong-password") is None
    assert users.authenticate("nobody", "viewer-password") is None
    assert users.authenticate("vera", "viewer-password").is_admin is False


@pytest.mark.parametrize("kwargs, field", [
    ({"username": "a b", "password": "longenough", "role": "viewer"}, "username"),
    ({"username": "ok", "password": "short", "role": "viewer"}, "password"),
    ({"username": "ok", "password": "longenough", "role": "root"}, "role"),
])
def test_bad_users_are_refused(tmp_path, kwargs, field):
    users = UserStore(open_db(tmp_path / "c.db"))
    with pytest.raises(UserError, match=field):
        users.create(**kwargs)


def test_role_is_constrained_in_the_schema(tmp_path):
    db = open_db(tmp_path / "c.db")
    with pytest.raises(sqlite3.IntegrityError), db.write():
        db.execute("INSERT INTO users (username, password_hash, role, created_ms) VALUES ('x','h','root',0)")


def test_sessions_persist_and_expire(tmp_path):
    clock = ManualClock()
    store = SQLiteSessionStore(open_db(tmp_path / "c.db"), clock=clock)

    async def scenario():
        await store.set("k", b"v", expires_in=60)
        assert await store.get("k") == b"v"
        # a new store on the same file (a restart) still has the session
        again = SQLiteSessionStore(open_db(tmp_path / "c.db"), clock=clock)
        assert await again.get("k") == b"v"
        clock.advance(61)
        assert await again.get("k") is None
        await store.set("k2", "text", expires_in=None)
        await store.delete("k2")
        assert not await store.exists("k2")

    asyncio.run(scenario())


def test_an_unchanged_session_is_not_rewritten_until_its_expiry_moves_an_hour(tmp_path):
    """Litestar stores the session after every response; a write per request is an fsync."""
    clock = ManualClock()
    db = open_db(tmp_path / "c.db")
    store = SQLiteSessionStore(db, clock=clock)

    def expiry():
        return db.execute("SELECT expires_ms FROM sessions WHERE key = 'k'").fetchone()[0]

    async def scenario():
        await store.set("k", b'{"user_id": 1}', expires_in=7 * 86400)
        first = expiry()
        clock.advance(600)
        await store.set("k", b'{"user_id": 1}', expires_in=7 * 86400)
        assert expiry() == first  # same data, expiry moved 10 min: no write
        await store.set("k", b'{"user_id": 1, "x": 2}', expires_in=7 * 86400)
        assert expiry() == first + 600_000  # changed data: written
        clock.advance(3601)
        await store.set("k", b'{"user_id": 1, "x": 2}', expires_in=7 * 86400)
        assert expiry() == first + 600_000 + 3_601_000  # the expiry slides after an hour

    asyncio.run(scenario())
