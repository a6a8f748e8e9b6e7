"""Write-back keeps comments and order; broken edits keep the last good config; the watcher."""

from __future__ import annotations

import asyncio
import os
import time
import textwrap

import pytest

from campy.config import ConfigError, ConfigStore, watch

TEXT = textwrap.dedent("""
    # My cameras. Keep this comment!
    server:
      port: 8080   # the UI port
    cameras:
      # the one by the door
      front:
        main: rtsp://10.0.0.2/Preview_01_main  # 4K
        username: admin
        password: ${FRONT_PW}
      back:
        main: rtsp://10.0.0.3/Preview_01_main
    """).lstrip()


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONT_PW", "front-secret")
    p = tmp_path / "campy.yaml"
    p.write_text(TEXT)
    return ConfigStore(p)


def test_add_camera_keeps_comments_and_stores_the_password_as_a_secret(store, tmp_path):
    store.add_camera("side", title="Side", main="rtsp://10.0.0.4/Preview_01_main",
                     sub="rtsp://10.0.0.4/Preview_01_sub", username="admin", password="n3w:p@ss")
    text = store.path.read_text()
    assert text.startswith("# My cameras. Keep this comment!")
    for needle in ("# My cameras. Keep this comment!", "# the UI port", "# the one by the door", "# 4K",
                   "password: ${FRONT_PW}"):
        assert needle in text
    assert text.index("front:") < text.index("back:") < text.index("side:")
    assert "n3w:p@ss" not in text and "password: !secret side_password" in text
    secrets = tmp_path / "secrets.yaml"
    assert "n3w:p@ss" in secrets.read_text() and (secrets.stat().st_mode & 0o777) == 0o600
    change = store.reload()
    assert change is not None and change.changed_cameras == {"side"}
    assert change.config.cameras["side"].password.get() == "n3w:p@ss"


def test_update_keeps_an_env_reference_when_no_new_password(store):
    store.update_camera("front", title="Door", main="rtsp://10.0.0.2/h264Preview_01_main", username="admin")
    text = store.path.read_text()
    assert "password: ${FRONT_PW}" in text and "h264Preview" in text and "# the one by the door" in text
    assert store.reload().changed_cameras == {"front"}


@pytest.mark.parametrize("main, sub", [
    ("rtsp://10.0.0.9/Preview_01_main", None),            # another host
    ("rtsp://10.0.0.2:8554/Preview_01_main", None),       # another port
    ("rtsps://10.0.0.2/Preview_01_main", None),           # another scheme
    ("rtsp://10.0.0.2/Preview_01_main", "rtsp://attacker.example/x"),  # a sub on a new host
])
def test_a_stored_password_is_not_kept_for_a_changed_address(store, main, sub):
    before = store.path.read_text()
    with pytest.raises(ConfigError) as err:
        store.update_camera("front", main=main, sub=sub, username="admin")
    assert [(i.path, i.message) for i in err.value.issues] == [
        ("cameras.front.password", "the camera's address changed: enter its password again")]
    assert store.path.read_text() == before
    # With the password entered again, the change is accepted.
    store.update_camera("front", main=main, sub=sub, username="admin", password="re-entered")
    assert store.reload().config.cameras["front"].password.get() == "re-entered"


def test_a_camera_without_a_password_may_move(store):
    store.update_camera("back", main="rtsp://10.0.0.99/Preview_01_main")
    assert "10.0.0.99" in store.path.read_text()


def test_delete_touches_only_that_camera(store):
    before = store.path.read_text()
    store.delete_camera("back")
    after = store.path.read_text()
    assert "back:" not in after and after.startswith(before[: before.index("back:")].rstrip()[:60])
    assert store.reload().changed_cameras == {"back"}


def test_invalid_write_back_writes_nothing(store, tmp_path):
    before = store.path.read_text()
    with pytest.raises(ConfigError) as err:
        store.add_camera("evil", main="exec:/bin/sh", password="x", username="u")
    assert [i.path for i in err.value.issues] == ["cameras.evil.main"]
    assert store.path.read_text() == before
    assert not (tmp_path / "secrets.yaml").exists()


def test_broken_edit_keeps_last_good_config_and_recovers(store):
    good = store.config
    store.path.write_text(TEXT.replace("    username: admin\n", "    username: admin\n    colour: red\n"))
    assert store.reload() is None
    assert store.config is good and store.error is not None
    assert store.error.issues[0].path == "cameras.front.colour" and store.error.issues[0].line == 9
    with pytest.raises(ConfigError):  # no write-back on top of a broken file
        store.delete_camera("back")
    store.path.write_text(TEXT.replace("10.0.0.3", "10.0.0.33"))
    change = store.reload()
    assert store.error is None and change.changed_cameras == {"back"}


def test_unchanged_file_is_no_change(store):
    assert store.reload() is None
    store.path.write_text(store.path.read_text())
    assert store.reload() is None


def test_watcher_picks_up_edits_and_errors(store):
    seen: list[set[str]] = []
    errors: list[str] = []

    async def on_change(change):
        seen.append(change.changed_cameras)

    async def on_error(err):
        errors.append(str(err))

    def edit(text: str) -> None:
        # A new stamp for sure: the kernel's coarse clock can give two quick writes the same
        # mtime, and this edit keeps the size.
        before = store.path.stat().st_mtime_ns
        store.path.write_text(text)
        os.utime(store.path, ns=(before + 1_000_000_000, before + 1_000_000_000))

    async def until(what: list[object]) -> None:
        deadline = time.monotonic() + 30
        while not what and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def scenario():
        task = asyncio.create_task(watch(store, on_change, interval=0.05, on_error=on_error))
        await asyncio.sleep(0)  # the watcher runs up to its first wait, having read the file's stamp
        edit(store.path.read_text().replace("10.0.0.3/", "10.0.0.7/"))
        await until(seen)
        edit("cameras: [broken\n")
        await until(errors)
        task.cancel()

    asyncio.run(scenario())
    assert seen == [{"back"}]
    assert errors and "YAML syntax" in errors[0]
