"""Backup and restore of the database and the config (docs/backup.md).

A backup is ``campy-backup-YYYYmmdd-HHMMSS.tar.gz`` (the time in UTC) holding ``manifest.json``
and copies of ``campy.db`` (made with SQLite's online backup API, in steps, while CamPy keeps
recording), ``campy.yaml``, ``secrets.yaml`` and go2rtc's base config. Footage is not in it.

A running CamPy holds an exclusive ``flock`` on ``<data_dir>/campy.lock`` (the kernel drops it
when the process ends, kill -9 included); ``restore`` refuses while it is held.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from campy import __version__

log = logging.getLogger(__name__)

FORMAT = 1
LOCK_NAME = "campy.lock"
NAME_RE = re.compile(r"^campy-backup-(\d{8}-\d{6})(?:-\d+)?\.tar\.gz$")
MEMBERS = ("campy.db", "campy.yaml", "secrets.yaml", "go2rtc.yaml")
STEP_PAGES = 256  # pages copied per backup step (1 MiB at 4 KiB pages)
MAX_RESTARTS = 20  # without WAL: a copy restarted this often is finished in one step
BEFORE = ".before-restore"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what to do."""


# -- the instance lock -----------------------------------------------------------------

class InstanceLock:
    """An exclusive ``flock`` on ``<data_dir>/campy.lock`` with the holder's pid in it."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    @classmethod
    def try_acquire(cls, data_dir: Path) -> InstanceLock | None:
        """The lock, or None when another process holds it."""
        path = data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(fd, path)

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = -1


def holder_pid(data_dir: Path) -> str:
    try:
        return (data_dir / LOCK_NAME).read_text().strip() or "?"
    except OSError:
        return "?"


# -- making a backup -------------------------------------------------------------------

@dataclass
class BackupResult:
    path: Path
    size: int
    files: list[str]
    seconds: float
    restarts: int
    pruned: list[Path] = field(default_factory=list)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def schema_version(conn: sqlite3.Connection) -> dict[str, Any]:
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'campy' ORDER BY rowid")]
    except sqlite3.Error:
        names = []
    return {"migrations": len(names), "latest": names[-1] if names else None}


def copy_db(src: Path, dst: Path, *, pages: int = STEP_PAGES) -> tuple[dict[str, Any], int]:
    """A consistent copy of the live database at ``src`` (online backup API, ``pages`` per
    step; writers go on), checked with ``PRAGMA integrity_check``.
    Returns (schema version, restarts)."""
    restarts = 0
    last = [-1]

    class _TooBusy(Exception):
        pass

    def progress(_status: int, remaining: int, _total: int) -> None:
        nonlocal restarts
        if last[0] >= 0 and remaining > last[0]:  # a writer changed the source: copy restarted
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise _TooBusy
        last[0] = remaining

    source = sqlite3.connect(src, timeout=30, isolation_level=None)
    try:
        if source.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            # A read transaction held across the steps: every step reads this one snapshot
            # (writers go on, nothing restarts), and the copy is that snapshot.
            source.execute("BEGIN")
            source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        target = sqlite3.connect(dst)
        try:
            target.execute("PRAGMA synchronous = OFF")  # a scratch copy; the archive is fsync'd
            try:
                source.backup(target, pages=pages, progress=progress, sleep=0.002)
            except _TooBusy:  # no WAL, busy writers: one step under a shared lock
                source.backup(target, pages=-1)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            check = target.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                raise BackupError(f"the copy of {src} fails its integrity check: {check[:3]}")
            schema = schema_version(target)
        finally:
            target.close()
    finally:
        source.close()
    return schema, restarts


def _archive_name(now: datetime, directory: Path) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    path = directory / f"campy-backup-{stamp}.tar.gz"
    n = 1
    while path.exists() or (directory / f".{path.name}.partial").exists():
        n += 1
        path = directory / f"campy-backup-{stamp}-{n}.tar.gz"
    return path


def _disk_full(where: Path) -> BackupError:
    return BackupError(f"disk full writing the backup in {where}: free some space there or choose "
                       "another folder (--to DIR); the partial archive was removed")


def sources(cfg: Any) -> dict[str, Path]:
    """What a backup of this config holds: member name → file (missing optional files left out)."""
    out = {"campy.db": cfg.server.data_dir / "campy.db", "campy.yaml": Path(cfg.path)}
    if cfg.server.secrets_file.is_file():
        out["secrets.yaml"] = cfg.server.secrets_file
    if cfg.go2rtc.base_config is not None and cfg.go2rtc.base_config.is_file():
        out["go2rtc.yaml"] = cfg.go2rtc.base_config
    return out


def backup_dir(cfg: Any) -> Path:
    return Path(cfg.backup.path) if cfg.backup.path else cfg.server.data_dir / "backups"


def create_backup(cfg: Any, directory: Path | None = None, *, keep_days: float | None = None,
                  now: datetime | None = None) -> BackupResult:
    """Write a backup archive of ``cfg``'s instance into ``directory`` (default
    ``backup.path`` or ``<data_dir>/backups``), then prune archives older than ``keep_days``."""
    started = time.monotonic()
    directory = Path(directory) if directory else backup_dir(cfg)
    keep = cfg.backup.keep_days if keep_days is None else keep_days
    now = now or datetime.now(UTC)
    files = sources(cfg)
    if not files["campy.db"].is_file():
        raise BackupError(f"no database at {files['campy.db']}: nothing to back up yet "
                          "(start CamPy once, or check server.data_dir)")
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise BackupError(f"cannot create the backup folder {directory}: {err.strerror}") from err
    final = _archive_name(now, directory)
    partial = directory / f".{final.name}.partial"
    work = Path(tempfile.mkdtemp(prefix=".campy-backup-", dir=directory))
    try:
        schema, restarts = copy_db(files["campy.db"], work / "campy.db")
        for name, src in files.items():
            if name != "campy.db":
                shutil.copyfile(src, work / name)
        manifest = {
            "format": FORMAT, "campy_version": __version__,
            "created": now.astimezone(UTC).isoformat(timespec="seconds"),
            "schema": schema,
            "source": {"config": str(cfg.path), "data_dir": str(cfg.server.data_dir)},
            "files": {name: {"sha256": _sha256(work / name), "size": (work / name).stat().st_size,
                             "mode": "0600"} for name in files},
        }
        _write_tar(partial, work, manifest, now)
        os.replace(partial, final)
    except OSError as err:
        partial.unlink(missing_ok=True)
        if err.errno == errno.ENOSPC:
            raise _disk_full(directory) from err
        raise BackupError(f"could not write the backup in {directory}: {err}") from err
    except sqlite3.Error as err:
        partial.unlink(missing_ok=True)
        if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise _disk_full(directory) from err
        raise BackupError(f"could not copy the database {files['campy.db']}: {err}") from err
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pruned = prune(directory, keep_days=keep, now=now, keep_path=final)
    return BackupResult(path=final, size=final.stat().st_size, files=list(files),
                        seconds=time.monotonic() - started, restarts=restarts, pruned=pruned)


def _write_tar(path: Path, work: Path, manifest: dict[str, Any], now: datetime) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            def add(name: str, data: io.BufferedIOBase | io.BytesIO, size: int) -> None:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = size, 0o600, int(now.timestamp())
                tar.addfile(info, data)

            body = json.dumps(manifest, indent=2).encode()
            add("manifest.json", io.BytesIO(body), len(body))
            for name in manifest["files"]:
                with open(work / name, "rb") as f:
                    add(name, f, (work / name).stat().st_size)
        raw.flush()
        os.fsync(raw.fileno())


def archive_time(path: Path) -> datetime | None:
    m = NAME_RE.match(path.name)
    if not m:
        return None
    return datetime.strptime(m[1], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)


def prune(directory: Path, *, keep_days: float, now: datetime | None = None,
          keep_path: Path | None = None) -> list[Path]:
    """Delete backup archives (by the time in their name) older than ``keep_days``; never
    ``keep_path`` (the one just made) and never a file not named like a backup."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    removed = []
    for p in sorted(directory.iterdir()):
        t = archive_time(p)
        if t is not None and t < cutoff and p != keep_path and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


# -- checking and restoring ------------------------------------------------------------

def verify_archive(archive: Path, into: Path) -> dict[str, Any]:
    """Extract ``archive``'s members into ``into`` and check them: manifest, sha256 of each
    file, ``PRAGMA integrity_check`` of the database. Returns the manifest."""
    if not archive.is_file():
        raise BackupError(f"no backup archive at {archive}")
    bad = f"{archive} is not a readable CamPy backup (damaged or not one of its archives)"
    found: dict[str, Path] = {}
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for m in tar:
                name = m.name
                if not m.isfile() or (name not in MEMBERS and name != "manifest.json") or name in found:
                    raise BackupError(f"{bad}: unexpected member {name!r}")
                src = tar.extractfile(m)
                assert src is not None
                dst = into / name
                fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out)
                found[name] = dst
    except (tarfile.TarError, EOFError, OSError) as err:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise BackupError(f"disk full unpacking {archive} in {into}: free some space") from err
        raise BackupError(f"{bad}: {err}") from err
    try:
        manifest = json.loads(found["manifest.json"].read_bytes())
        listed = manifest["files"]
        assert isinstance(listed, dict) and manifest.get("format") == FORMAT
    except (KeyError, ValueError, AssertionError, TypeError) as err:
        raise BackupError(f"{bad}: no valid manifest.json") from err
    for name in set(found) - {"manifest.json"} - set(listed):
        raise BackupError(f"{bad}: {name} is not in the manifest")
    for name, meta in listed.items():
        if name not in MEMBERS or name not in found:
            raise BackupError(f"{bad}: {name} is listed in the manifest but missing")
        if _sha256(found[name]) != meta.get("sha256"):
            raise BackupError(f"{archive}: checksum mismatch for {name}: the archive was changed "
                              "or damaged; use another backup")
    if "campy.db" not in listed or "campy.yaml" not in listed:
        raise BackupError(f"{bad}: it holds no campy.db or campy.yaml")
    conn = sqlite3.connect(found["campy.db"])
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        schema = schema_version(conn)  # from the database itself, not the manifest's word
    except sqlite3.DatabaseError as err:
        check = [(str(err),)]
    finally:
        conn.close()
    if check != [("ok",)]:
        raise BackupError(f"{archive}: the database in it fails its integrity check "
                          f"({check[0][0]}); use another backup")
    _check_schema(archive, manifest, schema)
    return dict(manifest)


def _check_schema(archive: Path, manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    """A database from a newer CamPy (more migrations than this one knows) is refused."""
    from campy.db.database import migrations

    known = [m.name for m in migrations._migrations]
    if schema["migrations"] > len(known):
        raise BackupError(f"{archive} was made by a newer CamPy ({manifest.get('campy_version')}, "
                          f"schema {schema.get('latest')}; this one knows up to {known[-1]}): "
                          "upgrade CamPy, then restore")


def restore_targets(config: Path, archived_yaml: Path) -> dict[str, Path]:
    """Where each member goes: the archived campy.yaml becomes ``config``, so its
    ``server.data_dir``, ``server.secrets_file`` and ``go2rtc.base_config`` (relative to
    ``config``'s folder) place the rest."""
    from campy.config import ConfigError
    from campy.config.loader import parse_text
    from campy.config.model import Go2rtcRaw, ServerRaw

    try:
        _doc, data = parse_text(archived_yaml.read_text(), file=config)
    except ConfigError as err:
        raise BackupError(f"the campy.yaml in the backup cannot be read: {err}") from err
    server = data.get("server") or {}
    g2r = data.get("go2rtc") or {}
    base = config.parent
    out = {"campy.yaml": config,
           "campy.db": (base / str(server.get("data_dir") or ServerRaw().data_dir)).resolve() / "campy.db",
           "secrets.yaml": (base / str(server.get("secrets_file") or ServerRaw().secrets_file)).resolve()}
    base_cfg = g2r.get("base_config", Go2rtcRaw().base_config)
    if base_cfg:
        out["go2rtc.yaml"] = (base / str(base_cfg)).resolve()
    return out


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    placed: dict[str, Path]
    kept: list[Path]
    skipped: list[str]


def restore(archive: Path, config: Path, *, force: bool = False,
            on_verified: Callable[[dict[str, Any]], None] | None = None) -> RestoreResult:
    """Check ``archive`` and restore it for the instance of ``config`` (stopped)."""
    config = config.absolute()
    config.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".campy-restore-", dir=config.parent))
    lock: InstanceLock | None = None
    try:
        manifest = verify_archive(archive, work)
        if on_verified:
            on_verified(manifest)
        targets = restore_targets(config, work / "campy.yaml")
        data_dir = targets["campy.db"].parent
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = InstanceLock.try_acquire(data_dir)
        if lock is None:
            raise BackupError(f"CamPy is running on {data_dir} (pid {holder_pid(data_dir)} holds "
                              f"{data_dir / LOCK_NAME}): stop it first, then run the restore again")
        members = [m for m in manifest["files"] if m in targets]
        skipped = [m for m in manifest["files"] if m not in targets]
        db = targets["campy.db"]
        aside = [targets[m] for m in members] + [Path(f"{db}-wal"), Path(f"{db}-shm")]
        existing = [p for p in aside if p.exists()]
        if existing and not force:
            raise BackupError("refusing to overwrite " + ", ".join(map(str, existing)) +
                              ": run again with --force to replace them (the current files are "
                              f"kept beside them as *{BEFORE})")
        kept = []
        for p in existing:  # a stale -wal would be replayed onto the restored database
            dst = p.with_name(p.name + BEFORE)
            os.replace(p, dst)
            kept.append(dst)
        placed = {}
        for m in members:
            dst = targets[m]
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.restoring")
            shutil.copyfile(work / m, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, dst)
            placed[m] = dst
        return RestoreResult(manifest=manifest, placed=placed, kept=kept, skipped=skipped)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise BackupError(f"disk full restoring into {config.parent}: free some space") from err
        raise BackupError(f"restore failed: {err}") from err
    finally:
        if lock is not None:
            lock.release()
        shutil.rmtree(work, ignore_errors=True)


# -- the nightly job -------------------------------------------------------------------

def schedule_backup(runtime: Any) -> Any:
    """Add (or replace, or remove) the nightly backup job of ``runtime.scheduler``."""
    from zoneinfo import ZoneInfo

    import anyio
    from apscheduler.triggers.cron import CronTrigger

    cfg = runtime.config
    if not cfg.backup.enabled:
        if runtime.scheduler.get_job("backup") is not None:
            runtime.scheduler.remove_job("backup")
        return None

    async def nightly() -> None:
        current = runtime.config
        try:
            result = await anyio.to_thread.run_sync(create_backup, current)
        except BackupError as err:
            log.error("nightly backup failed: %s", err)
            raise
        log.info("nightly backup %s (%d bytes, %.1f s); pruned %d old", result.path, result.size,
                 result.seconds, len(result.pruned))

    trigger = CronTrigger(hour=cfg.backup.hour, minute=cfg.backup.minute,
                          timezone=ZoneInfo(cfg.server.timezone))
    return runtime.scheduler.add_job(nightly, trigger, id="backup", name="nightly backup",
                                     replace_existing=True, coalesce=True, max_instances=1,
                                     misfire_grace_time=3600)


def start_backup(runtime: Any) -> None:
    """At CamPy's start: take the instance lock (restore checks it) and schedule the job."""
    runtime.instance_lock = InstanceLock.try_acquire(runtime.data_dir)
    if runtime.instance_lock is None:
        log.warning("another process holds %s (pid %s): is a second CamPy or a restore using "
                    "this data dir?", runtime.data_dir / LOCK_NAME, holder_pid(runtime.data_dir))
    schedule_backup(runtime)


def stop_backup(runtime: Any) -> None:
    lock = getattr(runtime, "instance_lock", None)
    if lock is not None:
        lock.release()
        runtime.instance_lock = None
