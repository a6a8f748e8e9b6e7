"""The nightly database job (campy/db/maintenance.py) on a real SQLite file."""

from __future__ import annotations

import pytest

from campy.db.database import open_db
from campy.db.maintenance import DbCheckFailed, maintain


def test_healthy_db_passes_and_vacuums_only_when_worth_it(tmp_path) -> None:
    db = open_db(tmp_path / "campy.db")
    try:
        r = maintain(db)
        assert r.check == "quick_check" and not r.problems and not r.missing_indexes and r.analyzed
        assert not r.vacuumed
        # fill then empty a table: most pages become free, so VACUUM runs and frees them
        with db.write():
            db.conn.executemany("INSERT INTO audit (at_ms, actor, action) VALUES (?, 'x', ?)",
                                [(i, "a" * 200) for i in range(20_000)])
        with db.write():
            db.execute("DELETE FROM audit")
        r = maintain(db, full_check=True)
        assert r.check == "integrity_check" and r.vacuumed, r.summary()
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0
    finally:
        db.close()


def test_missing_index_is_reported(tmp_path) -> None:
    db = open_db(tmp_path / "campy.db")
    try:
        with db.exclusive():
            db.execute("DROP INDEX segments_start")
        with pytest.raises(DbCheckFailed, match="index segments_start missing"):
            maintain(db)
    finally:
        db.close()
