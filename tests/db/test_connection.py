"""The database from many threads at once: a connection per thread, one writer at a time."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from campy.clock import ManualClock
from campy.db import WriteOutsideLock, open_db
from campy.db.users import UserStore
from campy.detection.eventlog import EventLog
from campy.recording.index import RecordingIndex
from campy.web.session_store import SQLiteSessionStore

T0 = 1_767_225_600_000
THREADS = 16
ROUNDS = 60
MIXED_ROUNDS = 20


@pytest.fixture
def db(tmp_path):
    d = open_db(tmp_path / "campy.db")
    yield d
    d.close()


def test_each_thread_has_its_own_connection(db):
    mine = db.conn
    assert db.conn is mine
    with ThreadPoolExecutor(4) as pool:
        theirs = set(pool.map(lambda _: db.conn, range(40)))
    assert mine not in theirs and 1 <= len(theirs) <= 4
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_many_threads_read_and_write_every_store_at_once(db):
    """What `campy serve` does under load: session lookups and user lookups on worker
    threads and on the caller, segments, marks and events written, retention deleting.
    Sharing one connection failed this with "no such savepoint: sqlite_utils_query"."""
    clock = ManualClock(T0 / 1000)
    users, sessions = UserStore(db, clock=clock), SQLiteSessionStore(db, clock=clock)
    index, events = RecordingIndex(db), EventLog(db)
    admin = users.create(username="admin", password="password-1", role="admin")
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + 1)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(MIXED_ROUNDS):
                key = f"s{n}-{i}"
                sessions._set(key, b"data", 3600)
                assert sessions._get(key, 3600) == b"data"
                assert users.get_by_id(admin.id) == admin  # sqlite-utils query(): a savepoint
                assert users.get("admin") == admin
                seg = index.add_segment(camera=f"cam{n}", start_ms=T0 + i * 2000, end_ms=T0 + i * 2000 + 2000,
                                        size_bytes=100, path=f"cam{n}/{i}.mp4", codec="h264", audio=False)
                mark = index.add_mark(camera=f"cam{n}", kind="motion", source="detection", start_ms=T0 + i,
                                      end_ms=None, keep_until_ms=None, created_ms=T0)
                index.close_mark(mark, T0 + i + 5)
                events.start(camera=f"cam{n}", key=key, label="person", score=0.9, start_ms=T0 + i, zones=[],
                             box=[], snapshot=None, mark_id=mark)
                events.update(key, end_ms=T0 + i + 10)
                if i % 2:  # retention: the delete steps, from this worker thread
                    index.mark_deleting([seg])
                    index.remove([seg])
                assert index.segments_between(f"cam{n}", T0, T0 + 10**9) is not None
                sessions._delete(key)
        except BaseException as err:  # collected and re-raised by the test
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,), name=f"w{n}") for n in range(THREADS)]
    for t in threads:
        t.start()
    work(THREADS)  # and the calling thread (the event loop's, in CamPy) at the same time
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    total = THREADS + 1
    assert db.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == total * (MIXED_ROUNDS // 2)
    assert db.execute("SELECT COUNT(*) FROM marks WHERE end_ms IS NOT NULL").fetchone()[0] == total * MIXED_ROUNDS
    assert db.execute("SELECT COUNT(*) FROM events WHERE end_ms IS NOT NULL").fetchone()[0] == total * MIXED_ROUNDS
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_writes_never_overlap(db):
    """However many threads write, one write() block runs at a time."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS t (x)")  # temp objects need no lock
    active, peak = [0], [0]
    guard = threading.Lock()
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        start.wait()
        for i in range(ROUNDS):
            with db.write():
                with guard:
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
                db.execute("INSERT INTO sessions (key, value) VALUES (?, ?)", [f"{n}-{i}", b""])
                with guard:
                    active[0] -= 1

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(writer, range(THREADS)))
    assert peak[0] == 1
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == THREADS * ROUNDS


def test_a_second_writer_waits_for_the_first(db):
    holding, attempting, entered = threading.Event(), threading.Event(), threading.Event()
    release = threading.Event()

    def first() -> None:
        with db.write():
            db.execute("INSERT INTO sessions (key, value) VALUES ('first', x'')")
            holding.set()
            release.wait(30)

    def second() -> None:
        holding.wait(30)
        attempting.set()
        with db.write():
            entered.set()
            db.execute("INSERT INTO sessions (key, value) VALUES ('second', x'')")

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        attempting.wait(30)
        # While the first holds the lock the second cannot get in, however long we look;
        # a reader is not blocked meanwhile (WAL) and does not see the uncommitted row.
        assert not entered.wait(0.3)
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
        release.set()
        a.result(30)
        b.result(30)
    assert [r[0] for r in db.execute("SELECT key FROM sessions ORDER BY rowid")] == ["first", "second"]


def test_a_write_outside_write_is_refused(db):
    with pytest.raises(WriteOutsideLock, match="db.write"):
        db.execute("INSERT INTO sessions (key, value) VALUES ('k', x'')")
    with pytest.raises(sqlite3.DatabaseError):  # the raw connection too
        db.conn.execute("DELETE FROM sessions")
    with pytest.raises(sqlite3.DatabaseError):
        db.conn.executemany("UPDATE sessions SET value = ? WHERE key = ?", [(b"", "k")])
    with pytest.raises(sqlite3.DatabaseError):
        db.execute("CREATE TABLE sneaky (x)")
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0
    assert "sneaky" not in db.table_names()
    assert not db.conn.in_transaction


def test_reads_that_look_like_writes_to_the_authorizer_are_allowed(db):
    """A table-valued function (the events API filters zones with json_each) makes SQLite
    report an UPDATE of sqlite_master while it only reads."""
    assert [r[0] for r in db.execute("SELECT value FROM json_each('[1, 2]')")] == [1, 2]
    assert list(db.query("SELECT value FROM json_each(?)", ['["a"]'])) == [{"value": "a"}]
    with db.write():  # a real schema change still needs the lock
        db.execute("CREATE TABLE allowed (x)")
    with pytest.raises(WriteOutsideLock):
        db.execute("DROP TABLE allowed")


def test_a_failed_write_rolls_back_and_a_nested_one_is_a_savepoint(db):
    with pytest.raises(ValueError), db.write():
        db.execute("INSERT INTO sessions (key, value) VALUES ('gone', x'')")
        raise ValueError("boom")
    with db.write():
        db.execute("INSERT INTO sessions (key, value) VALUES ('outer', x'')")
        with pytest.raises(ValueError), db.write():
            db.execute("INSERT INTO sessions (key, value) VALUES ('inner', x'')")
            raise ValueError("boom")
    assert [r[0] for r in db.execute("SELECT key FROM sessions")] == ["outer"]
    with pytest.raises(sqlite3.IntegrityError), db.write():  # a constraint: nothing half-written
        db.execute("INSERT INTO sessions (key, value) VALUES ('a', x'')")
        db.execute("INSERT INTO sessions (key, value) VALUES ('outer', x'')")
    assert [r[0] for r in db.execute("SELECT key FROM sessions")] == ["outer"]
    assert not db.conn.in_transaction


def test_sqlite_utils_helpers_work_under_exclusive(db):
    with db.exclusive():
        db.table("sessions").insert_all([{"key": f"k{i}", "value": b""} for i in range(3)])
    assert db.table("sessions").count == 3


def test_write_held_across_an_await_is_refused(db):
    """Two coroutines on one thread would share the thread's connection and its lock."""

    async def scenario() -> None:
        inside = asyncio.Event()
        done = asyncio.Event()

        async def holder() -> None:
            with db.write():
                inside.set()
                await done.wait()

        task = asyncio.create_task(holder())
        await inside.wait()
        try:
            with pytest.raises(RuntimeError, match="across an await"), db.write():
                pass
        finally:
            done.set()
            await task

    asyncio.run(scenario())


def test_close_closes_every_thread_connection(tmp_path):
    db = open_db(tmp_path / "campy.db")
    with ThreadPoolExecutor(1) as pool:
        worker_conn = pool.submit(lambda: db.conn).result()
        db.close()
        with pytest.raises(sqlite3.ProgrammingError):
            worker_conn.execute("SELECT 1")
        with pytest.raises(sqlite3.ProgrammingError):
            pool.submit(lambda: db.execute("SELECT 1")).result()
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")


def test_another_process_write_waits_instead_of_failing(tmp_path):
    """`campy user add` writes from its own process while CamPy holds a write: it waits
    (busy_timeout) instead of failing with "database is locked"."""
    db = open_db(tmp_path / "campy.db")
    other = open_db(tmp_path / "campy.db")  # a second Db has its own lock, like another process
    attempting = threading.Event()

    def other_write() -> None:
        attempting.set()
        with other.write():
            other.execute("INSERT INTO sessions (key, value) VALUES ('theirs', x'')")

    with ThreadPoolExecutor(1) as pool:
        with db.write():
            db.execute("INSERT INTO sessions (key, value) VALUES ('mine', x'')")
            pending = pool.submit(other_write)
            attempting.wait(30)
            with pytest.raises(TimeoutError):  # still waiting for SQLite's lock, not failed
                pending.result(timeout=0.5)
        pending.result(timeout=30)
    assert sorted(r[0] for r in db.execute("SELECT key FROM sessions")) == ["mine", "theirs"]
