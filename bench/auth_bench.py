"""What does authorization cost per request, and how fast can CamPy log people in? A program.

Part 1, the cost of the checks (in-process, so network noise does not drown microseconds):
a ``Runtime`` over a ``campy.yaml`` with ``--cameras`` cameras (never started: no go2rtc)
and a ``campy.db`` with ``--users`` users (viewers granted 10 cameras each, rows inserted
with one shared argon2 hash; the cost of a request does not depend on the hash) and as many
tokens. Two apps are built from it in this process:

- *checked*: ``campy.web.app.create_app`` as ``campy serve`` builds it (session auth
  middleware, bearer tokens, the app-wide camera guard, the controllers' guards, CSRF);
- *unchecked*: ``create_app`` built with the checks taken out: the controllers' guards
  emptied, no app-wide camera guard, no session or auth middleware; a one-line middleware
  hands every request a fixed user instead (handlers read the user). Routes, CSRF,
  templates, plugins and error handlers are the same.

Each is driven with ``httpx.AsyncClient(transport=httpx.ASGITransport(app))``; one request
is ``GET /api/cameras/<name>`` for a camera the viewer is granted, as (a) a viewer's session
cookie, (b) a viewer's bearer token (the client keeps no cookie), (c) the same token against
the checked app built over Litestar's in-memory session store (what the checks cost without
the SQLite session row that Litestar reads and writes back on every request), (d) the
unchecked app. They are interleaved (round-robin, order rotated every round) over
``--requests`` rounds after a warm-up. An ASGI wrapper times each request inside the
server (first byte in to last byte out), so the client's own cost is left out (the round
trip is shown beside it); the table gives the median and p90 in µs and the median minus
the unchecked median (the price of the checks). The pieces (token verify, a worker-thread
hop, a session row read and write) are then timed alone. What the checks do per request: a session costs a row read on a
worker thread (session store) and a user read on the loop; a token costs a SHA-256, one
indexed read on a worker thread (and a ``last_used_ms`` write at most once a minute).

Part 2, login throughput: a real ``campy serve`` (no cameras; the same ``--users`` users in
its DB) and ``--clients`` parallel clients (asyncio, one httpx client each, each with its
own CSRF cookie) each posting the login form ``--logins`` times as the users
(round-robin); every login verifies an argon2id hash (argon2-cffi defaults: 64 MiB, t=3,
p=4) in a worker thread and writes a session row. It reports logins/s, p50/p99 latency,
the status codes, and the server's peak RSS (``VmHWM`` in ``/proc/<pid>/status``) before
and after. The clients run on the same box as the server and take CPU from it. For scale,
one argon2 verify alone, and the rate of verifies through 40 threads (anyio's default
worker pool, which the login handler uses) against as many threads as cores. Run from
the repo root:

    .venv/bin/python bench/auth_bench.py --cameras 1000 --users 1000 --requests 2000 --clients 64 --logins 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar import Litestar  # noqa: E402
from litestar.middleware.base import DefineMiddleware  # noqa: E402
from litestar.stores.memory import MemoryStore  # noqa: E402
from litestar.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from campy.db.users import User, _hasher, grant_to_json  # noqa: E402
from tests.helpers import ADMIN_PASSWORD, CampyProcess, free_port, write_config  # noqa: E402

USER_PASSWORD = "bench-user-pw-1"
GRANT = 10


def _config(d: Path, cameras: int) -> Path:
    cams = [{"name": f"cam{i:04d}", "main": f"rtsp://127.0.0.1:9/cam{i:04d}", "enabled": False}
            for i in range(cameras)]
    return write_config(d / "campy.yaml", cams, port=free_port(), password_secret="unused")


def _fill_users(db: Any, *, users: int, cameras: int, now_ms: int) -> None:
    """``users`` viewers, each granted GRANT cameras, one hash for all (rows, not logins)."""
    pw_hash = _hasher.hash(USER_PASSWORD)
    rows = []
    for i in range(users):
        grant = [f"cam{(i + k) % cameras:04d}" for k in range(GRANT)]
        rows.append((f"user{i:04d}", pw_hash, "viewer", grant_to_json(grant), now_ms))
    with db.write():
        db.conn.executemany("INSERT INTO users (username, password_hash, role, cameras, created_ms) "
                            "VALUES (?, ?, ?, ?, ?)", rows)


class _FixedUser:
    """The unchecked app's stand-in for authentication: every request is this user."""

    def __init__(self, app: ASGIApp, user: User) -> None:
        self.app = app
        self.user = user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = self.user
        await self.app(scope, receive, send)


def _unchecked_app(runtime: Any, user: User) -> Litestar:
    """``create_app`` itself, built with the checks taken out: every controller's guards
    emptied (by subclassing), no app-wide camera guard, and in place of session auth a
    middleware that hands every request ``user``. Everything else (routes, CSRF, templates,
    plugins, error handlers) is what ``campy serve`` builds."""
    import campy.web.app as web_app
    from litestar.controller import Controller

    class _NoAuth:
        def on_app_init(self, app_config: Any) -> Any:
            app_config.middleware.insert(0, DefineMiddleware(_FixedUser, user=user))
            return app_config

    def _no_guard(connection: Any, handler: Any) -> None:
        return None

    saved = {k: getattr(web_app, k) for k in dir(web_app)
             if isinstance(getattr(web_app, k), type) and issubclass(getattr(web_app, k), Controller)}
    saved |= {"make_session_auth": web_app.make_session_auth, "camera_guard": web_app.camera_guard}
    try:
        for name, value in saved.items():
            if isinstance(value, type):
                setattr(web_app, name, type(f"Unchecked{name}", (value,), {"guards": []}))
        web_app.make_session_auth = lambda **_: _NoAuth()  # type: ignore[assignment]
        web_app.camera_guard = _no_guard
        return web_app.create_app(runtime, manage_runtime=False)
    finally:
        for name, value in saved.items():
            setattr(web_app, name, value)


class _Timed:
    """ASGI wrapper: how long the app took for the last request (µs, server side only)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_us = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter_ns()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_us = (time.perf_counter_ns() - t0) / 1000

        await self.app(scope, receive, timed_send)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


async def part1(args: argparse.Namespace) -> None:
    from campy.runtime import Runtime
    from campy.web.app import create_app

    with tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        runtime = Runtime(_config(d, args.cameras), admin_password=ADMIN_PASSWORD)
        _fill_users(runtime.db, users=args.users, cameras=args.cameras, now_ms=runtime.clock.now_ms())
        for i in range(args.users):
            runtime.tokens.create(name=f"t{i}", role="viewer", created_by="bench",
                                  cameras=[f"cam{(i + k) % args.cameras:04d}" for k in range(GRANT)])
        target_user = args.users // 2
        camera = f"cam{target_user:04d}"  # the first camera of that user's grant
        _, raw = runtime.tokens.create(name="bench", role="viewer", created_by="bench",
                                       cameras=[f"cam{(target_user + k) % args.cameras:04d}" for k in range(GRANT)])
        user = runtime.users.get(f"user{target_user:04d}")
        assert user is not None
        setup_s = time.perf_counter() - t0

        checked, unchecked = create_app(runtime, manage_runtime=False), _unchecked_app(runtime, user)
        # For comparison: the checked app with Litestar's in-memory session store, i.e. without
        # the SQLite session read and write-back every request makes today.
        sqlite_sessions, runtime.sessions = runtime.sessions, MemoryStore()
        in_memory = create_app(runtime, manage_runtime=False)
        runtime.sessions = sqlite_sessions
        timers = {"session cookie": _Timed(checked), "bearer token": _Timed(checked),
                  "token, mem store": _Timed(in_memory), "no checks": _Timed(unchecked)}
        base = "http://bench"
        async with contextlib.AsyncExitStack() as stack:
            def client(name: str, **kw: Any) -> Any:
                return stack.enter_async_context(httpx.AsyncClient(
                    transport=httpx.ASGITransport(timers[name]), base_url=base, **kw))  # type: ignore[arg-type]

            sess = await client("session cookie")
            await sess.get("/login")
            r = await sess.post("/login", data={"username": user.username, "password": USER_PASSWORD,
                                                "_csrf_token": sess.cookies["csrftoken"]})
            assert r.status_code == 303, r.text
            # The token client keeps no cookie: a script with a token sends only the header.
            tok = await client("bearer token", headers={"Authorization": f"Bearer {raw}"},
                               cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
            mem = await client("token, mem store", headers={"Authorization": f"Bearer {raw}"},
                               cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
            free = await client("no checks")
            clients = {"session cookie": sess, "bearer token": tok, "token, mem store": mem, "no checks": free}
            url = f"/api/cameras/{camera}"
            for c in clients.values():  # the same answer from all three, and a warm-up
                for _ in range(50):
                    r = await c.get(url)
                    assert r.status_code == 200 and r.json()["name"] == camera, r.text
            server: dict[str, list[float]] = {k: [] for k in clients}
            trip: dict[str, list[float]] = {k: [] for k in clients}
            order = list(clients)
            for i in range(args.requests):
                rot = order[i % len(order):] + order[:i % len(order)]
                for name in rot:
                    t = time.perf_counter_ns()
                    r = await clients[name].get(url)
                    trip[name].append((time.perf_counter_ns() - t) / 1000)
                    server[name].append(timers[name].last_us)
                    if r.status_code != 200:
                        raise SystemExit(f"{name}: HTTP {r.status_code} {r.text[:200]}")
            denied = await tok.get(f"/api/cameras/cam{(target_user + GRANT) % args.cameras:04d}")
            assert denied.status_code == 404, "a camera outside the grant was served"
            parts = await _parts(runtime, raw, user.id)

    base_med = statistics.median(server["no checks"])
    print(f"\nAuthorization cost per request: GET /api/cameras/<name>, {args.cameras} cameras, "
          f"{args.users} users, {args.users + 1} tokens, {args.requests} interleaved rounds "
          f"(setup {setup_s:.1f} s, load average {_load()})")
    print("server µs: from the app's first byte in to the response's last byte out; round trip adds "
          "the in-process httpx client")
    print(f"{'request':<18}{'server µs':>11}{'p90 µs':>9}{'checks µs':>11}{'round trip µs':>15}")
    for name, values in server.items():
        med = statistics.median(values)
        extra = "–" if name == "no checks" else f"{med - base_med:+.0f}"
        print(f"{name:<18}{med:>11.0f}{_pct(values, 0.9):>9.0f}{extra:>11}{statistics.median(trip[name]):>15.0f}")
    print("what the checks are made of (median µs, measured alone in the same run):")
    for name, value in parts.items():
        print(f"  {name:<52}{value:>8.0f}")


async def _parts(runtime: Any, raw: str, user_id: int, n: int = 200) -> dict[str, float]:
    """The pieces of a checked request, each timed alone."""
    def timed(fn: Any) -> float:
        xs = []
        for _ in range(n):
            t = time.perf_counter_ns()
            fn()
            xs.append((time.perf_counter_ns() - t) / 1000)
        return statistics.median(xs)

    async def timed_async(fn: Any) -> float:
        xs = []
        for i in range(n):
            t = time.perf_counter_ns()
            await fn(i)
            xs.append((time.perf_counter_ns() - t) / 1000)
        return statistics.median(xs)

    value = msgspec.json.encode({"user_id": user_id})
    return {
        "token verify (SHA-256 + one indexed read)": timed(lambda: runtime.tokens.verify(raw)),
        "user read by id (session auth, on the loop)": timed(lambda: runtime.users.get_by_id(user_id)),
        "worker-thread hop (anyio.to_thread)": await timed_async(lambda i: anyio.to_thread.run_sync(int)),
        "session row read (store.get, worker thread)": await timed_async(
            lambda i: runtime.sessions.get(f"bench-{i % 10}")),
        "session row write (store.set: commit + fsync)": await timed_async(
            lambda i: runtime.sessions.set(f"bench-{i % 10}", value, expires_in=3600)),
    }


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024  # kB → MiB
    return 0


def _verify_ms(runs: int = 5) -> float:
    """One argon2 verify in this process, alone: what a login costs at the least."""
    stored = _hasher.hash(USER_PASSWORD)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        _hasher.verify(stored, USER_PASSWORD)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _verify_rate(threads: int, n: int) -> float:
    """Verifies per second through a pool of ``threads`` (anyio's default pool has 40)."""
    from concurrent.futures import ThreadPoolExecutor

    stored = _hasher.hash(USER_PASSWORD)
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: _hasher.verify(stored, USER_PASSWORD), range(n)))
    return n / (time.perf_counter() - t)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def part2(args: argparse.Namespace) -> None:
    from campy.db.database import open_db

    alone_ms, load_before = _verify_ms(), _load()

    with tempfile.TemporaryDirectory(prefix="auth-bench-login-") as tmp:
        d = Path(tmp)
        port = free_port()
        # One disabled camera: with none, `campy serve` would start the demo instead.
        idle = [{"name": "idle", "main": "rtsp://127.0.0.1:9/idle", "enabled": False}]
        cfg = write_config(d / "campy.yaml", idle, port=port, password_secret="unused")
        (d / "data").mkdir()
        db = open_db(d / "data" / "campy.db")
        _fill_users(db, users=args.users, cameras=1, now_ms=int(time.time() * 1000))
        db.close()
        proc = CampyProcess(cfg, port)
        try:
            pid = proc.proc.pid
            rss_before = _vm(pid, "VmHWM")
            latencies: list[float] = []
            statuses: dict[str, int] = {}

            async def client(n: int) -> None:
                async with httpx.AsyncClient(base_url=proc.base_url, timeout=120) as c:
                    await c.get("/login")
                    csrf = c.cookies["csrftoken"]
                    for k in range(args.logins):
                        name = f"user{(n + k * args.clients) % args.users:04d}"
                        t = time.perf_counter()
                        try:
                            r = await c.post("/login", data={"username": name, "password": USER_PASSWORD,
                                                             "_csrf_token": csrf})
                            key = str(r.status_code)
                        except httpx.HTTPError as err:
                            key = type(err).__name__
                        latencies.append(time.perf_counter() - t)
                        statuses[key] = statuses.get(key, 0) + 1
                        c.cookies.delete("campy_session")  # the next login starts logged out

            t0 = time.perf_counter()
            await asyncio.gather(*(client(n) for n in range(args.clients)))
            wall = time.perf_counter() - t0
            rss_after, rss_now = _vm(pid, "VmHWM"), _vm(pid, "VmRSS")
        finally:
            proc.stop()
    ok = statuses.get("303", 0)
    print(f"\nLogin throughput: {args.clients} parallel clients, {args.logins} logins each, against campy serve "
          f"({args.users} users in the DB; argon2id 64 MiB, t=3, p=4)")
    print(f"{'logins/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}  statuses")
    print(f"{ok / wall:>9.1f}{_pct(latencies, 0.5) * 1000:>9.0f}{_pct(latencies, 0.99) * 1000:>9.0f}"
          f"{len(latencies):>10}  {dict(sorted(statuses.items()))}")
    print(f"server peak RSS (VmHWM): {rss_before} MiB before, {rss_after} MiB after the logins "
          f"({rss_now} MiB resident at the end)")
    cores = len(os.sched_getaffinity(0))
    print(f"for scale: one argon2 verify alone took {alone_ms:.0f} ms here (ideal on {cores} cores: "
          f"{cores * 1000 / alone_ms:.1f} logins/s); load average {load_before} before, {_load()} after")
    for threads in (40, cores):
        print(f"argon2 verifies in this process, 40 of them through {threads} threads: "
              f"{_verify_rate(threads, 40):.1f}/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=2000, help="interleaved rounds in part 1")
    ap.add_argument("--clients", type=int, default=64, help="parallel login clients in part 2")
    ap.add_argument("--logins", type=int, default=2, help="logins per client in part 2")
    ap.add_argument("--only", choices=["checks", "logins"], help="run one part")
    args = ap.parse_args()
    if args.only != "logins":
        asyncio.run(part1(args))
    if args.only != "checks":
        asyncio.run(part2(args))


if __name__ == "__main__":
    main()
