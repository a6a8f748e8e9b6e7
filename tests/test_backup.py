"""`campy backup` and `campy restore` (campy/backup.py, docs/backup.md)."""

from __future__ import annotations

import gzip
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import REPO, CampyProcess, api, free_port, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries, sims  # noqa: F401 - the fixture

VIEWER_PASSWORD = "viewer-password-1"


def campy_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "campy", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)


def relative_data_dir(cfg: Path) -> None:
    """write_config writes an absolute data_dir; a relative one moves with the config."""
    text = cfg.read_text()
    start = text.index("  data_dir: ")
    end = text.index("\n", start)
    cfg.write_text(text[:start] + "  data_dir: data" + text[end:])


def segment_ids(client, camera: str) -> set[int]:
    return {s["id"] for s in client.get(f"/api/cameras/{camera}/recordings").json()}


def test_backup_of_a_recording_campy_restores_into_a_fresh_dir(sims, tmp_path):  # noqa: F811
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    rec_dir = tmp_path / "recordings"  # footage is not in a backup: both instances see this folder
    cfg = write_config(old / "campy.yaml", camera_entries(sims), port=free_port(),
                       password_secret=CAM_PASSWORD,
                       recording={"path": str(rec_dir), "segment_seconds": 2})
    relative_data_dir(cfg)
    proc = CampyProcess(cfg, free_port())
    try:
        r = campy_cli("user", "add", "vera", "--role", "viewer", "--config", str(cfg),
                      env={"CAMPY_USER_PASSWORD": VIEWER_PASSWORD})
        assert r.returncode == 0, r.stderr
        admin = proc.client()
        r = api(admin, "POST", "/api/cameras/front/marks", json={"seconds": 20, "label": "doorbell"})
        assert r.status_code == 201, r.text
        mark_id = r.json()["id"]
        # A detection event, written as the detection manager writes one (this config has no
        # detector to make one), while CamPy runs: WAL lets a second writer in.
        live = sqlite3.connect(old / "data" / "campy.db", timeout=30)
        try:
            with live:
                now_ms = int(datetime.now(UTC).timestamp() * 1000)
                event_id = live.execute(
                    "INSERT INTO events (camera, key, label, score, start_ms, end_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    ("front", "backup-test-event", "person", 0.87, now_ms - 5_000, now_ms)).lastrowid
        finally:
            live.close()
        before = wait_until(lambda: len(ids := segment_ids(admin, "back")) >= 2 and ids, timeout=90,
                            what="segments of camera back in the index")

        r = campy_cli("backup", "--config", str(cfg))
        assert r.returncode == 0, r.stderr
        archives = list((old / "data" / "backups").glob("campy-backup-*.tar.gz"))
        assert len(archives) == 1 and str(archives[0]) in r.stdout
        archive = archives[0]
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # camera passwords, password hashes

        # Recording went on: a segment closed after the backup.
        after = segment_ids(admin, "back")
        wait_until(lambda: segment_ids(admin, "back") - after, timeout=60,
                   what="a new segment after the backup")

        with tarfile.open(archive) as tar:
            members = {m.name: m for m in tar}
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert set(members) == {"manifest.json", "campy.db", "campy.yaml", "secrets.yaml"}
        assert all(stat.S_IMODE(m.mode) == 0o600 for m in members.values())
        assert set(manifest["files"]) == {"campy.db", "campy.yaml", "secrets.yaml"}
        assert manifest["schema"]["latest"].startswith("m0") and manifest["campy_version"]
        assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())

        # Not into a running instance, whatever --force says.
        r = campy_cli("restore", str(archive), "--config", str(cfg), "--force")
        assert r.returncode == 1 and "CamPy is running on" in r.stderr and "stop it first" in r.stderr
        assert not list(old.glob("*.before-restore"))

        r = campy_cli("restore", str(archive), "--config", str(new / "campy.yaml"))
        assert r.returncode == 0, r.stderr
        assert "checksums and database integrity verified" in r.stdout
    finally:
        left = proc.stop()
    assert not left
    for f in (new / "campy.yaml", new / "secrets.yaml", new / "data" / "campy.db"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f

    conn = sqlite3.connect(new / "data" / "campy.db")
    try:
        assert conn.execute("SELECT role FROM users WHERE username = 'vera'").fetchone() == ("viewer",)
        restored = {r[0] for r in conn.execute("SELECT id FROM segments WHERE camera = 'back'")}
        assert before <= restored
    finally:
        conn.close()

    proc = CampyProcess(new / "campy.yaml", free_port())
    try:
        vera = proc.client("vera", VIEWER_PASSWORD)
        assert before <= segment_ids(vera, "back")  # the index, with the files it names
        admin = proc.client()
        marks = admin.get("/api/cameras/front/timeline").json()["marks"]
        assert any(m["id"] == mark_id and m["label"] == "doorbell" for m in marks)
        events = admin.get("/api/events", params={"camera": "front"}).json()
        assert any(e["id"] == event_id and e["label"] == "person" for e in events), events
        r = campy_cli("check", "--config", str(new / "campy.yaml"))
        assert "config" in r.stdout and "index rows" in r.stdout, r.stdout + r.stderr
    finally:
        left = proc.stop()
    assert not left


# -- archives checked before anything is written -------------------------------------------

def small_instance(d: Path) -> Path:
    """A config, secrets and database of a CamPy that never started (no cameras)."""
    from campy.db.database import open_db
    from campy.db.users import UserStore

    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "campy.yaml"
    cfg.write_text("server:\n  data_dir: data\n  secrets_file: secrets.yaml\n"
                   "go2rtc:\n  base_config: go2rtc.yaml\ncameras: {}\n")
    (d / "secrets.yaml").write_text("cam_pw: 'hunter2'\n")
    (d / "go2rtc.yaml").write_text("log:\n  level: info\n")
    UserStore(open_db(d / "data" / "campy.db")).create(username="ann", password="ann-password-1",
                                                        role="admin", cameras=None)
    return cfg


@pytest.fixture
def backup_archive(tmp_path):
    cfg = small_instance(tmp_path / "src")
    r = campy_cli("backup", "--config", str(cfg), "--to", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    (archive,) = (tmp_path / "out").iterdir()
    return archive


def rewrite(archive: Path, dest: Path, change) -> Path:
    """A copy of ``archive`` with ``change(name, bytes) -> bytes`` applied to each member."""
    out = io.BytesIO()
    with tarfile.open(archive) as src, tarfile.open(fileobj=out, mode="w:gz") as tar:
        for m in src:
            data = change(m.name, src.extractfile(m).read())  # type: ignore[union-attr]
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    dest.write_bytes(out.getvalue())
    return dest


def sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_damaged_or_tampered_archives_are_refused(backup_archive, tmp_path):
    target = tmp_path / "target" / "campy.yaml"
    raw = backup_archive.read_bytes()

    def refused(archive: Path, words: str) -> None:
        r = campy_cli("restore", str(archive), "--config", str(target))
        assert r.returncode == 1 and words in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert not target.exists() and not (target.parent / "data" / "campy.db").exists()

    refused(tmp_path / "nope.tar.gz", "no backup archive at")
    (tmp_path / "cut.tar.gz").write_bytes(raw[: len(raw) // 2])
    refused(tmp_path / "cut.tar.gz", "not a readable CamPy backup")
    (tmp_path / "plain.tar.gz").write_bytes(gzip.compress(b"not a tar file at all" * 100))
    refused(tmp_path / "plain.tar.gz", "not a readable CamPy backup")

    tampered = rewrite(backup_archive, tmp_path / "tampered.tar.gz",
                       lambda n, b: b.replace(b"data_dir: data", b"data_dir: /etc") if n == "campy.yaml" else b)
    refused(tampered, "checksum mismatch for campy.yaml")

    # A damaged database whose checksum was recomputed: the integrity check catches it.
    def break_db(name: str, data: bytes) -> bytes:
        if name == "campy.db":
            return data[:4096] + os.urandom(8192) + data[3 * 4096:]
        if name == "manifest.json":
            return data  # fixed below, once the new database bytes are known
        return data

    damaged = rewrite(backup_archive, tmp_path / "damaged.tar.gz", break_db)
    with tarfile.open(damaged) as tar:
        db = tar.extractfile("campy.db").read()  # type: ignore[union-attr]
    fixed = rewrite(damaged, tmp_path / "damaged2.tar.gz", lambda n, b: json.dumps(
        {**json.loads(b), "files": {**json.loads(b)["files"], "campy.db": {"sha256": sha(db)}}}).encode()
        if n == "manifest.json" else b)
    refused(fixed, "integrity check")

    extra = rewrite(backup_archive, tmp_path / "extra.tar.gz", lambda n, b: b)
    with tarfile.open(extra, "w:gz") as tar:  # an archive of other things entirely
        info = tarfile.TarInfo("../../etc/passwd")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    refused(extra, "unexpected member")


def test_restore_refuses_to_overwrite_unless_forced_and_keeps_the_old_files(backup_archive, tmp_path):
    from campy.backup import InstanceLock

    target = small_instance(tmp_path / "target")
    data = target.parent / "data"
    (data / "campy.db-wal").write_bytes(b"stale wal")  # left by a killed CamPy
    r = campy_cli("restore", str(backup_archive), "--config", str(target))
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr and "--force" in r.stderr

    lock = InstanceLock.try_acquire(data)  # as a running CamPy holds it
    assert lock is not None
    try:
        r = campy_cli("restore", str(backup_archive), "--config", str(target), "--force")
        assert r.returncode == 1 and f"pid {os.getpid()}" in r.stderr
    finally:
        lock.release()

    target.write_text(target.read_text() + "# local edit\n")
    r = campy_cli("restore", str(backup_archive), "--config", str(target), "--force")
    assert r.returncode == 0, r.stderr
    assert "# local edit" in (target.parent / "campy.yaml.before-restore").read_text()
    assert "# local edit" not in target.read_text()
    assert (data / "campy.db-wal.before-restore").read_bytes() == b"stale wal"
    assert not (data / "campy.db-wal").exists()
    assert (target.parent / "secrets.yaml.before-restore").exists()
    for f in (target, target.parent / "secrets.yaml", target.parent / "go2rtc.yaml", data / "campy.db"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_old_archives_are_pruned_after_a_backup(tmp_path):
    cfg = small_instance(tmp_path / "src")
    cfg.write_text(cfg.read_text() + "backup:\n  keep_days: 3\n")
    out = tmp_path / "out"
    out.mkdir()
    now = datetime.now(UTC)

    def fake(days: float) -> Path:
        p = out / f"campy-backup-{(now - timedelta(days=days)):%Y%m%d-%H%M%S}.tar.gz"
        p.write_bytes(b"old")
        return p

    old = [fake(3.5), fake(10), fake(400)]
    young = [fake(1), fake(2.9)]
    other = out / "my-notes.tar.gz"
    other.write_bytes(b"mine")
    r = campy_cli("backup", "--config", str(cfg), "--to", str(out))
    assert r.returncode == 0, r.stderr
    assert all(not p.exists() for p in old) and all(p.exists() for p in young) and other.exists()
    assert r.stdout.count("pruned (older than 3 days)") == 3
    assert len(list(out.glob("campy-backup-*.tar.gz"))) == 3


def test_a_full_disk_leaves_no_partial_archive(tmp_path):
    cfg = small_instance(tmp_path / "src")
    db = tmp_path / "src" / "data" / "campy.db"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("CREATE TABLE filler (b BLOB)")  # incompressible: the archive is as big
        conn.execute("INSERT INTO filler VALUES (?)", [os.urandom(300_000)])
    conn.close()
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        r = campy_cli("backup", "--config", str(cfg), "--to", str(small))
        assert r.returncode == 1, r.stdout
        assert "disk full" in r.stderr and "partial archive was removed" in r.stderr
        assert "Traceback" not in r.stderr
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_copy_taken_under_steady_writes_is_a_consistent_snapshot(tmp_path):
    """Writers go on during the copy (WAL, one page per step); the copy is one snapshot:
    every transaction is in it whole or not at all, and no write restarts the copy."""
    import threading

    from campy.backup import copy_db

    src = tmp_path / "live.db"
    conn = sqlite3.connect(src)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (pair INTEGER, half INTEGER, pad BLOB)")
    with conn:  # enough pages that a 1-page step copy takes many steps
        conn.executemany("INSERT INTO t VALUES (?, ?, zeroblob(2000))", [(-i - 1, h) for i in range(500)
                                                                         for h in (0, 1)])
    conn.close()
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        w = sqlite3.connect(src, timeout=30)
        while not stop.is_set():
            with w:  # two rows per transaction: a torn copy would hold an odd number
                w.execute("INSERT INTO t VALUES (?, 0, zeroblob(100))", [written[0]])
                w.execute("INSERT INTO t VALUES (?, 1, zeroblob(100))", [written[0]])
            written[0] += 1
        w.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_until(lambda: written[0] > 10, timeout=30, what="the writer running")
        at_start = written[0]
        schema, restarts = copy_db(src, tmp_path / "copy.db", pages=1)
        during = written[0] - at_start
    finally:
        stop.set()
        t.join()
    assert during > 0  # writers were not held off for the copy
    assert restarts == 0
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        counts = copy.execute("SELECT pair, COUNT(*) FROM t WHERE pair >= 0 GROUP BY pair").fetchall()
        assert counts and all(n == 2 for _, n in counts)
        assert [p for p, _ in counts] == list(range(len(counts)))  # a prefix: no gaps
    finally:
        copy.close()
    assert schema == {"migrations": 0, "latest": None}


def test_the_nightly_job_is_scheduled_and_writes_a_backup(tmp_path):
    """The job as CamPy schedules it (local time, id "backup"), run once by hand."""
    import asyncio
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from campy.backup import schedule_backup
    from campy.config import load_config

    cfg_path = small_instance(tmp_path / "src")
    text = cfg_path.read_text().replace("server:\n", "server:\n  timezone: Europe/Berlin\n")
    cfg_path.write_text(text + f"backup:\n  at: \"02:30\"\n  path: {tmp_path / 'nightly'}\n")
    runtime = SimpleNamespace(config=load_config(cfg_path), scheduler=AsyncIOScheduler())

    async def scenario() -> None:
        runtime.scheduler.start()
        try:
            job = schedule_backup(runtime)
            assert job.id == "backup" and job.name == "nightly backup"
            nxt = job.next_run_time.astimezone(ZoneInfo("Europe/Berlin"))
            assert (nxt.hour, nxt.minute) == (2, 30)
            await job.func()
        finally:
            runtime.scheduler.shutdown(wait=False)

    asyncio.run(scenario())
    (archive,) = (tmp_path / "nightly").iterdir()
    assert archive.name.startswith("campy-backup-")

    off = cfg_path.read_text().replace("backup:\n", "backup:\n  enabled: false\n")
    cfg_path.write_text(off)
    runtime.config = load_config(cfg_path)
    runtime.scheduler = AsyncIOScheduler()
    runtime.scheduler.add_job(print, "interval", hours=1, id="backup")
    assert schedule_backup(runtime) is None and runtime.scheduler.get_job("backup") is None


@pytest.mark.parametrize("section, words", [
    ("backup:\n  at: \"25:00\"\n", "HH:MM"),
    ("backup:\n  keep_days: 0\n", "more than 0"),
    ("backup:\n  every: 3\n", "every"),
])
def test_bad_backup_settings_are_config_errors(tmp_path, section, words):
    from campy.config import ConfigError, load_config

    cfg = small_instance(tmp_path)
    cfg.write_text(cfg.read_text() + section)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert words in str(err.value) and "backup" in str(err.value)


def test_a_backup_from_a_newer_campy_is_refused(tmp_path):
    cfg = small_instance(tmp_path / "src")
    conn = sqlite3.connect(tmp_path / "src" / "data" / "campy.db")
    with conn:  # as a later CamPy's migration would leave it
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('campy', 'm999_future', '2030-01-01')")
    conn.close()
    r = campy_cli("backup", "--config", str(cfg), "--to", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    (archive,) = (tmp_path / "out").iterdir()
    r = campy_cli("restore", str(archive), "--config", str(tmp_path / "target" / "campy.yaml"))
    assert r.returncode == 1 and "newer CamPy" in r.stderr and "m999_future" in r.stderr, r.stderr
    assert not (tmp_path / "target" / "campy.yaml").exists()
