"""The nightly database check-up: integrity, indexes, statistics, and VACUUM when worth it.

Runs on a worker thread (its own connection). Reads (``quick_check``/``integrity_check``,
the index list) take no lock; ``ANALYZE`` (sampled) and ``VACUUM`` hold the write lock, and ``VACUUM``
runs only when over a quarter of the file is free pages, so the lock (which recorders
wait for) is held for a rewrite only when it pays back.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from campy.db.connection import Db

log = logging.getLogger(__name__)

VACUUM_FREE_RATIO = 0.25


class DbCheckFailed(RuntimeError):
    """The database failed an integrity or index check (the message says what)."""


@dataclass
class MaintenanceReport:
    check: str  # "quick_check" or "integrity_check"
    problems: list[str] = field(default_factory=list)
    missing_indexes: list[str] = field(default_factory=list)
    analyzed: bool = False
    vacuumed: bool = False
    pages: int = 0
    free_pages: int = 0

    def summary(self) -> str:
        parts = [f"{self.check} ok" if not self.problems else f"{self.check}: {len(self.problems)} problem(s)",
                 "indexes ok" if not self.missing_indexes else f"missing indexes: {', '.join(self.missing_indexes)}"]
        if self.analyzed:
            parts.append("analyzed")
        parts.append(f"vacuumed ({self.free_pages} of {self.pages} pages were free)" if self.vacuumed
                     else f"{self.free_pages}/{self.pages} pages free, no vacuum needed")
        return "; ".join(parts)


@lru_cache(maxsize=1)
def expected_indexes() -> frozenset[str]:
    """The index names a freshly migrated database has."""
    from campy.db.database import open_db

    with tempfile.TemporaryDirectory(prefix="campy-schema-") as tmp:
        fresh = open_db(Path(tmp) / "schema.db")
        try:
            return _indexes(fresh)
        finally:
            fresh.close()


def _indexes(db: Db) -> frozenset[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    return frozenset(r[0] for r in rows)


def maintain(db: Db, *, full_check: bool = False, vacuum_ratio: float = VACUUM_FREE_RATIO) -> MaintenanceReport:
    """Check, analyze and (when over ``vacuum_ratio`` free) vacuum; raises ``DbCheckFailed``
    after the other steps when a check found problems. Call from a worker thread."""
    pragma = "integrity_check" if full_check else "quick_check"
    report = MaintenanceReport(check=pragma)
    rows = db.execute(f"PRAGMA {pragma}").fetchall()
    report.problems = [r[0] for r in rows if r[0] != "ok"]
    report.missing_indexes = sorted(expected_indexes() - _indexes(db))
    # a sampled ANALYZE (a few ms, not a scan of every row): the write lock is held for it
    db.execute("PRAGMA analysis_limit = 1000")
    with db.exclusive():
        db.execute("ANALYZE")
        report.analyzed = True
    report.pages = db.execute("PRAGMA page_count").fetchone()[0]
    report.free_pages = db.execute("PRAGMA freelist_count").fetchone()[0]
    if not report.problems and report.pages and report.free_pages / report.pages > vacuum_ratio:
        with db.exclusive():
            db.execute("VACUUM")
        report.vacuumed = True
    if report.problems or report.missing_indexes:
        what = report.problems[:5] + [f"index {n} missing" for n in report.missing_indexes]
        raise DbCheckFailed(f"database check failed ({pragma}): " + "; ".join(what)
                            + " — stop CamPy, back up campy.db and run `sqlite3 campy.db '.recover'`"
                            " or restore a backup")
    log.info("database maintenance: %s", report.summary())
    return report
