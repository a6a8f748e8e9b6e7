"""Embed tokens and origin rules on a real SQLite file."""

from __future__ import annotations

import pytest

from campy.clock import ManualClock
from campy.db.database import open_db
from campy.db.embeds import EmbedError, EmbedStore, normalize_origin, normalize_origins
from campy.db.tokens import TokenStore


@pytest.mark.parametrize(("given", "origin"), [
    ("https://ha.example.org:8123", "https://ha.example.org:8123"),
    ("HTTPS://HA.Example.org:443/", "https://ha.example.org"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://localhost:80", "http://localhost"),
    ("  http://[::1]:9000 ", "http://[::1]:9000"),
])
def test_origins_are_normalised_as_browsers_send_them(given, origin):
    assert normalize_origin(given) == origin


@pytest.mark.parametrize("bad", [
    "*", "https://*.example.org", "ha.example.org", "ftp://ha.example.org", "https://ha.example.org/lovelace",
    "https://ha.example.org?x=1", "https://user@ha.example.org", "https://", "javascript:alert(1)",
    "https://ha example.org", "https://ha.example.org:99999", "https://a;b.org", "null",
])
def test_bad_origins_are_refused_with_the_expected_form(bad):
    with pytest.raises(EmbedError, match="scheme://host"):
        normalize_origin(bad)


def test_origins_need_at_least_one_and_drop_duplicates():
    with pytest.raises(EmbedError, match="at least one"):
        normalize_origins(["", "  "])
    assert normalize_origins("https://a.org\n\nhttps://a.org/\nhttp://b.org:81") == [
        "https://a.org", "http://b.org:81"]


def test_create_verify_expire_revoke(tmp_path):
    clock = ManualClock()
    db = open_db(tmp_path / "c.db")
    store = EmbedStore(db, clock=clock)
    eid, raw = store.create(camera="front", origins=["http://127.0.0.1:9000"], created_by="admin",
                            stream="sub", expires_s=60)
    assert raw.startswith(f"campy_e_{eid}_")
    assert raw not in str(db.execute("SELECT * FROM embeds").fetchall())  # only the hash is kept
    info = store.verify(raw)
    assert info and info.camera == "front" and info.stream == "sub" and info.origins == ["http://127.0.0.1:9000"]
    assert store.verify(raw, camera="front") and store.verify(raw, camera="back") is None
    assert store.verify(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert store.verify(None) is None and store.verify("campy_e_nope_x") is None
    assert store.list("front")[0].last_used_ms == clock.now_ms()
    clock.advance(61)
    assert store.verify(raw) is None and store.list()[0].state(clock.now_ms()) == "expired"

    eid2, raw2 = store.create(camera="front", origins="https://a.org", created_by="admin", stream="main")
    assert store.verify(raw2) is not None
    assert not store.revoke(eid2, camera="back")  # only through its own camera
    assert store.revoke(eid2, camera="front") and not store.revoke(eid2)
    assert store.verify(raw2) is None
    assert [e.state(clock.now_ms()) for e in store.list("front")] == ["revoked", "expired"]
    assert store.list("back") == []


def test_an_embed_token_is_not_an_api_token(tmp_path):
    db = open_db(tmp_path / "c.db")
    _, raw = EmbedStore(db).create(camera="front", origins=["https://a.org"], created_by="admin")
    assert TokenStore(db).verify(raw) is None


@pytest.mark.parametrize(("kw", "message"), [
    ({"stream": "h264"}, "stream"), ({"expires_s": 0}, "expires_s"), ({"expires_s": "60"}, "expires_s"),
    ({"origins": []}, "at least one"),
])
def test_create_refuses_bad_values(tmp_path, kw, message):
    store = EmbedStore(open_db(tmp_path / "c.db"))
    args = {"camera": "front", "origins": ["https://a.org"], "created_by": "admin", **kw}
    with pytest.raises(EmbedError, match=message):
        store.create(**args)


def test_revoking_a_cameras_embeds(tmp_path):
    store = EmbedStore(open_db(tmp_path / "c.db"))
    a, raw_a = store.create(camera="front", origins=["https://a.org"], created_by="admin")
    _, raw_b = store.create(camera="back", origins=["https://a.org"], created_by="admin")
    assert store.revoke_camera("front") == [a] and store.revoke_camera("front") == []
    assert store.verify(raw_a) is None and store.verify(raw_b) is not None
