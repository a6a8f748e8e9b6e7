"""``campy`` on the command line: serve, demo, sim, check-config, user, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("config/campy.yaml")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # Every request to go2rtc is routine; its failures are logged by CamPy itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler logs two INFO lines per job run (a retention pass every minute: ~2,900 lines a
    # day); the jobs registry keeps each run's time and result for the system page, and a
    # failed or missed run is still logged (ERROR/WARNING).
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


async def _serve(config_path: Path, *, host: str | None, port: int | None,
                 sim_cameras: int = 0, main_codec: str = "h265", env: Any = None) -> None:
    from campy.procs import start_guardian

    start_guardian()  # kills every child left behind if this process dies, kill -9 included
    if sim_cameras:
        from campy.demo import Simulators

        async with Simulators(sim_cameras, main_codec=main_codec) as sims:
            args = sims.store_args()
            sim = args["overlay"]
            args["overlay"] = (lambda cfg: sim(env(cfg))) if env else sim
            await _serve_runtime(config_path, host=host, port=port, store_args=args)
    else:
        await _serve_runtime(config_path, host=host, port=port, store_args={"overlay": env})


def _env_overlay() -> Any:
    """go2rtc in another container: CAMPY_GO2RTC_URL (and CAMPY_GO2RTC_RTSP_PORT) override
    go2rtc.url/rtsp_port of campy.yaml at run time, so one config serves both ways."""
    url = os.environ.get("CAMPY_GO2RTC_URL", "").strip()
    rtsp = os.environ.get("CAMPY_GO2RTC_RTSP_PORT", "").strip()
    if not url and not rtsp:
        return None
    import msgspec

    changes: dict[str, Any] = {}
    if url:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"CAMPY_GO2RTC_URL must be an http(s) URL of go2rtc's API, not {url!r}")
        changes["url"] = url
    if rtsp:
        if not rtsp.isdigit() or not 1 <= int(rtsp) <= 65535:
            raise ValueError(f"CAMPY_GO2RTC_RTSP_PORT must be a port number, not {rtsp!r}")
        changes["rtsp_port"] = int(rtsp)
    return lambda cfg: msgspec.structs.replace(cfg, go2rtc=msgspec.structs.replace(cfg.go2rtc, **changes))


async def _serve_runtime(config_path: Path, *, host: str | None, port: int | None,
                         store_args: dict[str, Any]) -> None:
    import uvicorn

    from campy.runtime import Runtime
    from campy.web.app import create_app

    runtime = Runtime(config_path, admin_password=os.environ.get("CAMPY_ADMIN_PASSWORD"), **store_args)
    cfg = runtime.config
    bind_host = host or cfg.server.host
    bind_port = port or cfg.server.port
    tls = _tls_files(cfg, bind_host)
    fingerprint = None
    if tls:
        from campy.tls import fingerprint as cert_fingerprint

        fingerprint = cert_fingerprint(tls[0])
    app = create_app(runtime, secure_cookies=tls is not None, tls_fingerprint=fingerprint)
    server = uvicorn.Server(
        # log_config=None: uvicorn's records go through CamPy's handlers (file, scrubbing).
        uvicorn.Config(app, host=bind_host, port=bind_port, log_level="warning", log_config=None,
                       timeout_graceful_shutdown=3, ws="websockets-sansio",
                       ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None,
                       # uvicorn trusts X-Forwarded-* from 127.0.0.1 by default: then any local
                       # client could pose as another address. Only behind a configured proxy.
                       proxy_headers=cfg.server.behind_proxy,
                       forwarded_allow_ips=list(cfg.server.trusted_proxies)
                       if cfg.server.behind_proxy else []))
    shown = f"[{bind_host}]" if ":" in bind_host else bind_host
    if fingerprint:
        print(f"CamPy serving https://{shown}:{bind_port} (certificate SHA-256 {fingerprint})", flush=True)
    else:
        print(f"CamPy serving http://{shown}:{bind_port}", flush=True)
    print(f"  config: {runtime.store.path}", flush=True)
    if runtime.simulated:
        print(f"  simulated cameras (not in the config): {', '.join(sorted(runtime.simulated))}", flush=True)
    await server.serve()


def _tls_files(cfg: Any, bind_host: str) -> tuple[Path, Path] | None:
    """(cert, key) to serve HTTPS with, making the self-signed pair on first use."""
    tls = cfg.server.tls
    if tls is None:
        return None
    if tls.self_signed:
        from campy.tls import ensure_self_signed, san_hosts

        return ensure_self_signed(cfg.server.data_dir, hosts=san_hosts(bind_host))
    return tls.cert, tls.key


def _no_demo() -> bool:
    return os.environ.get("CAMPY_NO_DEMO", "").strip().lower() in ("1", "true", "yes")


def serve_main(config: Path, *, host: str | None, port: int | None, sim_cameras: int = 0,
               main_codec: str = "h265") -> int:
    from campy.go2rtc import InstallError
    from campy.tls import TlsError

    try:
        env = _env_overlay()
    except ValueError as err:
        print(f"campy: {err}", file=sys.stderr)
        return 1
    try:
        asyncio.run(_serve(config, host=host, port=port, sim_cameras=sim_cameras, main_codec=main_codec,
                           env=env))
    except (InstallError, OSError, TlsError) as err:
        print(f"campy: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: everything has been stopped on the way out
        print("CamPy stopped", flush=True)
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when CamPy answers /healthz on loopback (http, else https): for containers."""
    import ssl
    import urllib.request

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # loopback, self-signed allowed
    for scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(f"{scheme}://127.0.0.1:{args.port}/healthz", timeout=5,
                                        context=ctx if scheme == "https" else None) as r:
                if r.status == 200:
                    return 0
        except Exception as err:  # noqa: BLE001 - any failure means "not healthy yet"
            last = err
    print(f"campy: not healthy: {last}", file=sys.stderr)
    return 1


def cmd_serve(args: argparse.Namespace) -> int:
    from campy.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    sims = 0
    if args.with_sim:
        sims = args.sim_cameras
    elif not cfg.cameras and not (args.no_demo or _no_demo()):
        print("No cameras in the config: starting simulated Reolink cameras beside CamPy. They are "
              "not written to the config; cameras you add are, and the simulated ones go away at the "
              "next start (keep them with `campy serve --with-sim`).", flush=True)
        sims = args.sim_cameras
    return serve_main(args.config, host=args.host, port=args.port, sim_cameras=sims)


def cmd_demo(args: argparse.Namespace) -> int:
    from campy.demo import run_demo

    return run_demo(cameras=args.cameras, port=args.port, host=args.host,
                    data_dir=Path(args.data_dir) if args.data_dir else None,
                    main_codec=args.main_codec)


def cmd_check_config(args: argparse.Namespace) -> int:
    from campy.config import check_config_main

    return check_config_main([str(args.config)])


def cmd_check(args: argparse.Namespace) -> int:
    """Config, then the recording invariants; exit 1 on any violation."""
    from campy.config import ConfigError, load_config
    from campy.db.database import open_db
    from campy.recording.check import check_recordings, find_gaps, local_ms
    from campy.recording.index import RecordingIndex

    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"config {args.config}: ok ({len(cfg.cameras)} cameras)")
    db_path = cfg.server.data_dir / "campy.db"
    if not db_path.exists():
        print(f"no database at {db_path} yet: nothing recorded")
        return 0
    index = RecordingIndex(open_db(db_path))
    tolerance = int(args.gap_tolerance * 1000)
    violations, counts = check_recordings(index, cfg.recording.path, deep=args.deep,
                                          max_bytes=cfg.recording.max_bytes, gap_tolerance_ms=tolerance,
                                          timezone=cfg.server.timezone)
    print(f"recordings {cfg.recording.path}: {counts['rows']} index rows, {counts['files']} files"
          f"{' (each probed)' if args.deep else ''}")
    gaps = find_gaps(index, min_ms=tolerance)
    print(f"{len(gaps)} gap(s) longer than {args.gap_tolerance:g} s between consecutive segments"
          + (f" (times in {cfg.server.timezone}, server.timezone)" if gaps else ""))
    for g in gaps:
        a, b = (local_ms(ms, timezone=cfg.server.timezone) for ms in (g.start_ms, g.end_ms))
        print(f"  gap {g.camera} {a} → {b} ({g.seconds:.1f} s): {g.label}"
              f"{' — ' + g.detail if g.detail else ''}")
    for v in violations:
        print(v, file=sys.stderr)
    if violations:
        print(f"{len(violations)} violation(s); see docs/recording.md", file=sys.stderr)
        return 1
    print("all recording invariants hold")
    return 0


def _password(username: str) -> str | None:
    """From CAMPY_USER_PASSWORD, else typed twice at a terminal; None when neither is possible."""
    import getpass

    env = os.environ.get("CAMPY_USER_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        print("campy: no password: set CAMPY_USER_PASSWORD or run this in a terminal to type it",
              file=sys.stderr)
        return None
    first = getpass.getpass(f"password for {username}: ")
    if getpass.getpass("again: ") != first:
        print("campy: the passwords differ; nothing changed", file=sys.stderr)
        return None
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """Users in the configured data dir's campy.db; safe while CamPy runs (SQLite locking)."""
    from campy.config import ConfigError, load_config
    from campy.db.audit import AuditLog
    from campy.db.database import open_db
    from campy.db.users import UserError, UserStore

    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    db = open_db(cfg.server.data_dir / "campy.db")
    users = UserStore(db)
    if args.action == "list":
        rows = users.list_users()
        print(f"{'NAME':<20} {'ROLE':<9} {'STATE':<9} CAMERAS")
        for r in rows:
            text = "all" if r["role"] == "admin" or r["cameras"] is None else ",".join(r["cameras"]) or "(none)"
            print(f"{r['username']:<20} {r['role']:<9} {'disabled' if r['disabled'] else 'enabled':<9} {text}")
        return 0
    name = args.username
    try:
        if args.action == "add":
            cams: list[str] | None = None
            if args.cameras is not None:
                cams = [c.strip() for c in args.cameras.split(",") if c.strip()]
                from campy.db.users import check_grant

                check_grant(cams, set(cfg.cameras))
            password = _password(name)
            if password is None:
                return 1
            users.create(username=name, password=password, role=args.role, cameras=cams)
            detail, done = f"role={args.role}", f"added {args.role} {name}"
        elif args.action == "passwd":
            if users.row(name) is None:
                raise UserError(f"no user {name!r}")
            password = _password(name)
            if password is None:
                return 1
            users.update(name, password=password)
            detail, done = None, f"password set for {name}; their sessions were ended"
        else:
            changed = users.update(name, disabled=args.action == "disable")[1]
            detail = None
            done = f"{name} {args.action}d" + ("" if changed else " already")
    except UserError as err:
        print(f"campy: {err}", file=sys.stderr)
        return 1
    row = users.row(name)
    if row is not None and args.action in ("passwd", "disable"):
        # A running CamPy refuses the user's next request (the session rows are gone);
        # streams it has open end when they next check (see docs/security.md).
        with db.write():
            db.execute("DELETE FROM sessions WHERE user_id = ?", [row["id"]])
    action = {"add": "user.add", "passwd": "user.password"}.get(args.action, f"user.{args.action}")
    AuditLog(db).record("cli", action, target=name, detail=detail, address="local")
    print(done)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A backup archive of the configured instance; safe while CamPy runs and records."""
    from campy.backup import BackupError, create_backup
    from campy.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
        result = create_backup(cfg, args.to)
    except (ConfigError, BackupError) as err:
        print(f"campy: {err}", file=sys.stderr)
        return 1
    print(f"backup written: {result.path} ({result.size} bytes: {', '.join(result.files)}; "
          f"{result.seconds:.1f} s)")
    for p in result.pruned:
        print(f"pruned (older than {cfg.backup.keep_days:g} days): {p}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Check a backup archive and put its files in place for a stopped CamPy."""
    from campy.backup import BackupError, restore

    def verified(manifest: dict[str, Any]) -> None:
        print(f"archive ok: made {manifest.get('created')} by CamPy {manifest.get('campy_version')}, "
              f"schema {manifest.get('schema', {}).get('latest')}; checksums and database integrity "
              "verified")

    try:
        result = restore(args.archive, args.config, force=args.force, on_verified=verified)
    except BackupError as err:
        print(f"campy: {err}", file=sys.stderr)
        return 1
    for name, path in result.placed.items():
        print(f"restored {name} → {path}")
    for path in result.kept:
        print(f"kept the previous file as {path}")
    print(f"start CamPy with: campy serve --config {args.config}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="campy", description="CamPy network video recorder")
    parser.add_argument("--log-level", default=os.environ.get("CAMPY_LOG_LEVEL", "info"))
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("serve", help="run CamPy with config/campy.yaml")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--sim-cameras", type=int, default=2,
                   help="simulated cameras to start when none are configured")
    p.add_argument("--with-sim", action="store_true",
                   help="start the simulated cameras even when cameras are configured")
    p.add_argument("--no-demo", action="store_true",
                   help="never start simulated cameras (also: CAMPY_NO_DEMO=1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="simulated cameras + go2rtc + CamPy in a data dir of their own")
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--data-dir")
    p.add_argument("--main-codec", choices=["h264", "h265"], default="h265")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("healthcheck", help="exit 0 when CamPy answers /healthz on this machine")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_healthcheck)

    p = sub.add_parser("check-config", help="validate campy.yaml and print every issue")
    p.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("check", help="validate campy.yaml and verify the recording invariants")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--deep", action="store_true", help="also probe every segment with ffprobe")
    p.add_argument("--gap-tolerance", type=float, default=0.5, metavar="SECONDS",
                   help="report gaps between consecutive segments longer than this (default 0.5)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("user", help="manage users: add, passwd, disable, enable, list")
    usub = p.add_subparsers(dest="action", required=True)
    for action, text in (("add", "add a user (password from CAMPY_USER_PASSWORD or a prompt)"),
                         ("passwd", "set a user's password and end their sessions"),
                         ("disable", "disable a user and end their sessions"),
                         ("enable", "enable a disabled user"), ("list", "list users")):
        up = usub.add_parser(action, help=text)
        if action != "list":
            up.add_argument("username", metavar="NAME")
        if action == "add":
            up.add_argument("--role", choices=["viewer", "operator", "admin"], required=True)
            up.add_argument("--cameras", metavar="A,B",
                            help="the cameras this user may see (default: every camera)")
        up.add_argument("-c", "--config", type=Path, default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("backup", help="write a backup archive of the database and config "
                                      "(safe while CamPy runs)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--to", type=Path, metavar="DIR",
                   help="the folder for the archive (default: backup.path or <data_dir>/backups)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="check a backup archive and restore it into a stopped CamPy")
    p.add_argument("archive", type=Path, metavar="ARCHIVE")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="where campy.yaml goes; its data_dir and secrets_file place the rest")
    p.add_argument("--force", action="store_true",
                   help="replace existing files (kept beside them as *.before-restore)")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("sim", help="run simulated Reolink RLC-810A cameras", add_help=False)
    p.set_defaults(func=None)

    if argv is None:
        argv = sys.argv[1:]
    # `campy sim …` hands its arguments to the simulator's own parser.
    rest = list(argv)
    while rest and rest[0].startswith("--log-level"):
        rest = rest[2:] if rest[0] == "--log-level" else rest[1:]
    if rest and rest[0] == "sim":
        _setup_logging(os.environ.get("CAMPY_LOG_LEVEL", "info"))
        from campy.sim.cli import main as sim_main

        return sim_main(rest[1:])
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    from campy.perms import set_private_umask

    # Footage, sessions and secrets are private (0600/0700); ffmpeg and go2rtc inherit it.
    set_private_umask()
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
