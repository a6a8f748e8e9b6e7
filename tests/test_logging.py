"""campy/logs.py in-process: rotation bounds, JSON lines, masking, the recent-warnings list."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest

from campy.logs import RecentLog, install, log_path, mask_patterns, uninstall

CAM_PW = "Cam-pw!x9"
API_PW = "0123456789abcdef0123456789abcdef"


def _scrub(text: str) -> str:
    for s in (CAM_PW, API_PW):
        text = text.replace(s, "***")
    return text


@pytest.fixture
def logs(tmp_path):
    """install() on a fresh data dir around a test logger; yields (installed, recent, logger)."""
    made = []

    def make(*, log_format="plain", max_bytes=10_000_000, files=5):
        recent = RecentLog(size=50)
        done = install(data_dir=tmp_path, log_format=log_format, max_bytes=max_bytes, files=files,
                       scrub=_scrub, recent=recent)
        made.append(done)
        logger = logging.getLogger("campy.test_logging")
        logger.setLevel(logging.DEBUG)
        return done, recent, logger

    yield make
    for done in made:
        uninstall(done)


def _flush(done):
    for h in done.handlers:
        h.flush()


def test_file_rotates_at_the_size_bound_and_keeps_at_most_n_files(logs, tmp_path):
    done, _, logger = logs(max_bytes=4096, files=3)
    assert done.path == log_path(tmp_path)
    for i in range(2000):
        logger.info("record %05d %s", i, "x" * 60)
    _flush(done)
    files = sorted(p.name for p in done.path.parent.iterdir())
    assert files == ["campy.log", "campy.log.1", "campy.log.2"]
    for name in files:
        p = done.path.parent / name
        assert p.stat().st_size <= 4096
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(done.path.parent.stat().st_mode) == 0o700
    # the newest records are in campy.log, the oldest are gone
    assert "record 01999" in done.path.read_text()
    assert "record 00000" not in "".join((done.path.parent / n).read_text() for n in files)


def test_file_is_private_whatever_the_umask(logs):
    old = os.umask(0o022)
    try:
        done, _, logger = logs()
        logger.warning("hello")
    finally:
        os.umask(old)
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o600


def test_json_lines_carry_level_logger_message_and_extras(logs):
    done, _, logger = logs(log_format="json")
    logger.warning("camera %s: gone", "front", extra={"camera": "front"})
    logger.info("plain info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("it failed")
    _flush(done)
    lines = [json.loads(line) for line in done.path.read_text().splitlines()]
    mine = [d for d in lines if d["logger"] == "campy.test_logging"]
    assert [d["level"] for d in mine] == ["WARNING", "INFO", "ERROR"]
    assert mine[0]["message"] == "camera front: gone" and mine[0]["camera"] == "front"
    assert mine[0]["ts"].endswith("Z")
    assert "RuntimeError: boom" in mine[2]["exc"]


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_secrets_never_reach_the_file_even_in_exception_text(logs, log_format):
    done, recent, logger = logs(log_format=log_format)
    logger.warning("connecting rtsp://admin:%s@10.0.0.5/main", CAM_PW)
    logger.error("go2rtc said %s", f"401 for user campy password {API_PW}")
    logger.warning("GET /api?token=abcdef123456&x=1 Authorization: Bearer abcdefghijklmnop")
    try:
        raise ValueError(f"dial rtsp://admin:{CAM_PW}@cam failed; api pass {API_PW}")
    except ValueError:
        logger.exception("probe failed")
    logger.warning("extra carries it", extra={"camera": "front", "url": f"rtsp://u:{CAM_PW}@h"})
    _flush(done)
    text = done.path.read_text()
    assert "probe failed" in text and "ValueError" in text
    for secret in (CAM_PW, API_PW, "abcdef123456", "abcdefghijklmnop"):
        assert secret not in text, secret
        assert all(secret not in json.dumps(e.as_dict()) for e in recent.entries())


def test_mask_patterns():
    assert mask_patterns("rtsp://admin:pw@host/x") == "rtsp://admin:***@host/x"
    assert mask_patterns("a?password=hunter2&b=1") == "a?password=***&b=1"
    assert mask_patterns("rtsp://host/x and http://h:8080/p") == "rtsp://host/x and http://h:8080/p"


def test_recent_log_collapses_repeats_and_filters(logs):
    _, recent, logger = logs()
    for _ in range(5):
        logger.warning("camera front: online -> offline", extra={"camera": "front"})
    logger.error("camera back: auth failed", extra={"camera": "back"})
    logging.getLogger("campy.other").warning("disk nearly full")
    logger.info("not kept")
    entries = recent.entries()
    assert [e.message for e in entries] == ["disk nearly full", "camera back: auth failed",
                                            "camera front: online -> offline"]
    assert entries[2].count == 5 and entries[2].last >= entries[2].first
    assert [e.message for e in recent.entries(level="error")] == ["camera back: auth failed"]
    assert [e.camera for e in recent.entries(camera="front")] == ["front"]
    assert [e.logger for e in recent.entries(logger="campy.other")] == ["campy.other"]
    assert recent.entries(logger="campy.oth") == []  # a prefix is a whole dotted part
    assert [e.message for e in recent.entries(q="DISK")] == ["disk nearly full"]
    assert recent.cameras() == ["back", "front"]


def test_recent_log_is_bounded():
    recent = RecentLog(size=10)
    logger = logging.getLogger("campy.test_bounded")
    logger.addHandler(recent)
    try:
        for i in range(100):
            logger.warning("distinct %d", i)
    finally:
        logger.removeHandler(recent)
    entries = recent.entries()
    assert len(entries) == 10 and entries[0].message == "distinct 99"


def test_log_settings_are_checked_in_the_config(tmp_path):
    from campy.config import ConfigError, load_config

    def load(lines: str):
        path = tmp_path / "campy.yaml"
        path.write_text(f"server:\n  data_dir: data\n{lines}cameras: {{}}\n")
        return load_config(path)

    cfg = load("")
    assert (cfg.server.log_format, cfg.server.log_max_bytes, cfg.server.log_files) == ("plain", 10_000_000, 5)
    cfg = load("  log_format: json\n  log_max_bytes: 65536\n  log_files: 2\n")
    assert (cfg.server.log_format, cfg.server.log_max_bytes, cfg.server.log_files) == ("json", 65536, 2)
    with pytest.raises(ConfigError) as err:
        load("  log_format: xml\n")
    assert "json" in {i.path: i.message for i in err.value.issues}["server.log_format"]
    with pytest.raises(ConfigError) as err:
        load("  log_max_bytes: 10\n  log_files: 1\n")
    paths = {i.path: i.message for i in err.value.issues}
    assert "4096" in paths["server.log_max_bytes"] and "2 and 100" in paths["server.log_files"]


def test_go2rtc_lines_name_their_camera(caplog):
    import asyncio
    from pathlib import Path

    from campy.go2rtc.server import Go2rtcServer

    srv = Go2rtcServer(binary=Path("go2rtc"), config_path=Path("g.yaml"), api_url="http://127.0.0.1:1",
                       auth=("campy", API_PW), env={}, secrets=lambda: ["abcsuffix"],
                       camera_of=lambda n: "front" if n == "front__abcsuffix" else None)

    class Proc:
        # Made inside the running loop below: a StreamReader made here, with no loop, needs
        # asyncio.get_event_loop(), which raises once an earlier test's asyncio.run() ended.
        stdout: asyncio.StreamReader | None = None

    async def read():
        Proc.stdout = asyncio.StreamReader()
        Proc.stdout.feed_data(b'{"level":"warn","message":"[rtsp] error=EOF","stream":"front__abcsuffix"}\n'
                              b'{"level":"warn","message":"[api] something","stream":"other"}\n')
        Proc.stdout.feed_eof()
        await srv._read_log(Proc())  # type: ignore[arg-type]

    with caplog.at_level(logging.INFO, logger="campy.go2rtc.log"):
        asyncio.run(read())
    recs = [r for r in caplog.records if r.name == "campy.go2rtc.log"]
    assert [getattr(r, "camera", None) for r in recs] == ["front", None]
    assert recs[0].getMessage() == "[rtsp] error=EOF stream=front__***"


def test_job_runs_are_not_logged_but_job_failures_are(logs):
    """APScheduler's two INFO lines per run stay out of the log (the system page has each job's
    last run and result); a job that raises is still logged, with its exception."""
    import asyncio

    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from campy.cli import _setup_logging

    executors = logging.getLogger("apscheduler.executors")
    old_level = executors.level
    root = logging.getLogger()
    root_level = root.level
    done, _, _ = logs()
    try:
        _setup_logging("info")
        root.setLevel(logging.INFO)

        async def main() -> None:
            finished: set[str] = set()
            both = asyncio.Event()
            sched = AsyncIOScheduler()

            def seen(event) -> None:
                finished.add(event.job_id)
                if finished == {"fine", "broken"}:
                    both.set()

            def broken() -> None:
                raise RuntimeError("the disk went away")

            sched.add_listener(seen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
            sched.add_job(lambda: None, id="fine", name="a fine job")
            sched.add_job(broken, id="broken", name="a broken job")
            sched.start()
            try:
                await asyncio.wait_for(both.wait(), 30)
            finally:
                sched.shutdown(wait=False)

        asyncio.run(main())
        for h in done.handlers:
            h.flush()
        text = done.path.read_text()
        assert "a broken job" in text and "the disk went away" in text
        assert "Running job" not in text and "executed successfully" not in text
    finally:
        executors.setLevel(old_level)
        root.setLevel(root_level)
