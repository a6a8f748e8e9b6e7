"""The login form under attack: oversized fields, parallel guessing, locking out the admin.

Each test speaks from its own loopback address (Linux routes all of 127/8 to lo, and
CamPy listens on 127.0.0.1), so the per-address limit of one test never blocks another.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import ADMIN_PASSWORD, CampyProcess, free_port, write_config


@pytest.fixture(scope="module")
def campy(tmp_path_factory):
    d = tmp_path_factory.mktemp("login")
    port = free_port()
    # One disabled camera: with none, `campy serve` would start the demo cameras.
    cams = [{"name": "cam1", "main": "rtsp://127.0.0.1:9/none", "enabled": False}]
    proc = CampyProcess(write_config(d / "campy.yaml", cams, port=port, password_secret="x"), port)
    try:
        yield proc
    finally:
        proc.stop()


def _client(campy, address: str, **kw) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address, **kw)
    return httpx.Client(base_url=campy.base_url, transport=transport, timeout=60, follow_redirects=False)


def _post_login(c: httpx.Client, username: str, password: str) -> httpx.Response:
    if "csrftoken" not in c.cookies:
        c.get("/login")
    return c.post("/login", data={"username": username, "password": password, "next": "/",
                                  "_csrf_token": c.cookies["csrftoken"]})


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_oversized_fields_are_refused_on_the_login_page(campy):
    with _client(campy, "127.0.0.7") as c:
        r = _post_login(c, "u" * 65, "pw")
        assert r.status_code == 400 and "username" in r.text and "64" in r.text
        assert "<form" in r.text  # the login page itself, with the message inline
        r = _post_login(c, "admin", "p" * 1025)
        assert r.status_code == 400 and "password" in r.text and "1024" in r.text
        r = _post_login(c, "admin", "p" * 20_000)
        assert r.status_code == 413 and "too large" in r.text and "<form" in r.text
        # none of these counted as a guess: the right password still works from here
        assert _post_login(c, "admin", ADMIN_PASSWORD).status_code == 303


def test_megabyte_usernames_do_not_grow_memory(campy):
    """30 requests with 1 MB usernames: all refused, CamPy's RSS grows by < 20 MB."""
    with _client(campy, "127.0.0.5") as c:
        c.get("/login")
        before = _rss_kb(campy.proc.pid)
        codes = [_post_login(c, f"{i}" + "x" * 1_000_000, "pw").status_code for i in range(30)]
        after = _rss_kb(campy.proc.pid)
    print(f"RSS before {before} kB, after {after} kB, growth {(after - before) / 1024:.1f} MB")
    assert all(400 <= code < 500 for code in codes), codes
    assert after - before < 20 * 1024, f"RSS grew by {(after - before) / 1024:.1f} MB"


def test_parallel_wrong_logins_verify_at_most_the_limit(campy):
    with _client(campy, "127.0.0.6", limits=httpx.Limits(max_connections=40)) as c:
        c.get("/login")
        with ThreadPoolExecutor(max_workers=40) as pool:
            codes = list(pool.map(lambda i: _post_login(c, "parallel", f"guess-{i}").status_code, range(40)))
    print(f"40 parallel wrong logins: {codes.count(401)} x 401, {codes.count(429)} x 429")
    assert sorted(set(codes)) <= [401, 429], codes
    assert codes.count(401) <= 10, f"{codes.count(401)} wrong guesses were checked (limit 10)"
    assert codes.count(429) >= 30
    # Every refusal and every wrong guess is in the audit log, with the address.
    with sqlite3.connect(f"file:{campy.data_file('campy.db')}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT action, count(*) FROM audit WHERE actor = 'parallel' AND address = '127.0.0.6' "
                          "GROUP BY action").fetchall()
    assert dict(rows) == {"login_failed": codes.count(401), "login_throttled": codes.count(429)}


def test_parallel_right_logins_from_one_address_all_get_in(campy):
    """More right-password logins in flight than the limit: they wait their turn, none is refused."""
    def one(_: int) -> int:
        with _client(campy, "127.0.0.9") as c:
            return _post_login(c, "admin", ADMIN_PASSWORD).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(one, range(16)))
    assert codes == [303] * 16, codes


def _session_rows(campy) -> int:
    import sqlite3

    con = sqlite3.connect(f"file:{campy.data_file('campy.db')}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        con.close()


def test_anonymous_requests_write_no_session_rows(campy):
    before = _session_rows(campy)
    with _client(campy, "127.0.0.8") as c:
        for _ in range(20):
            # as curl or a monitoring probe would: no cookie jar between requests
            for method, path, codes in [("GET", "/healthz", {200}), ("HEAD", "/login", {200, 405}),
                                        ("GET", "/login", {200}), ("GET", "/static/campy.css", {200, 303}),
                                        ("GET", "/", {303}), ("GET", "/api/cameras", {401})]:
                c.cookies.clear()
                assert c.request(method, path).status_code in codes, (method, path)
        assert _session_rows(campy) == before
        # a forged session cookie does not become a row either
        c.cookies.set("campy_session", "f" * 64)
        assert c.get("/").status_code == 303
        assert _session_rows(campy) == before
        # only a successful login makes one
        c.cookies.delete("campy_session")
        assert _post_login(c, "admin", ADMIN_PASSWORD).status_code == 303
        assert _session_rows(campy) == before + 1
        assert c.get("/").status_code == 200
        assert _session_rows(campy) == before + 1
        # logging out removes it
        r = c.post("/logout", data={"_csrf_token": c.cookies["csrftoken"]})
        assert r.status_code == 303
    assert _session_rows(campy) == before


# Last in the module: it leaves the username admin locked for fresh clients.
def test_guessing_from_one_address_does_not_lock_the_admin_out(campy):
    with _client(campy, "127.0.0.3") as admin:
        assert _post_login(admin, "admin", ADMIN_PASSWORD).status_code == 303
        assert "campy_device" in admin.cookies
        with _client(campy, "127.0.0.2") as attacker:
            codes = [_post_login(attacker, "admin", f"guess-{i}").status_code for i in range(12)]
        assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
        # the admin's own browser (device cookie) still gets in
        r = _post_login(admin, "admin", ADMIN_PASSWORD)
        assert r.status_code == 303, r.text[:300]
    # a fresh client from yet another address, no device cookie: the username is locked
    with _client(campy, "127.0.0.4") as fresh:
        r = _post_login(fresh, "admin", ADMIN_PASSWORD)
        assert r.status_code == 429 and "too many failed logins" in r.text
