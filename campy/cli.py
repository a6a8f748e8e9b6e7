"""``campy`` on the command line: serve, demo, sim, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

DEFAULT_CONFIG = Path("config/campy.yaml")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # Every request to go2rtc is routine; its failures are logged by CamPy itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def _serve(config_path: Path, *, host: str | None, port: int | None) -> None:
    import uvicorn

    from campy.runtime import Runtime
    from campy.web.app import create_app

    from campy.procs import start_guardian

    start_guardian()  # kills every child left behind if this process dies, kill -9 included
    runtime = Runtime(config_path, admin_password=os.environ.get("CAMPY_ADMIN_PASSWORD"))
    cfg = runtime.config
    app = create_app(runtime)
    bind_host = host or cfg.server.host
    bind_port = port or cfg.server.port
    server = uvicorn.Server(
        uvicorn.Config(app, host=bind_host, port=bind_port, log_level="warning",
                       timeout_graceful_shutdown=3, ws="websockets-sansio")
    )
    print(f"CamPy serving http://{bind_host}:{bind_port}", flush=True)
    await server.serve()


def cmd_serve(args: argparse.Namespace) -> int:
    from campy.config import ConfigError, load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    if not cfg.cameras:
        print("No cameras configured: starting simulated Reolink cameras (campy demo).", flush=True)
        from campy.demo import run_demo

        return run_demo(cameras=args.sim_cameras, port=args.port or cfg.server.port,
                        host=args.host or cfg.server.host,
                        data_dir=cfg.server.data_dir / "demo")
    from campy.go2rtc import InstallError

    try:
        asyncio.run(_serve(args.config, host=args.host, port=args.port))
    except (InstallError, OSError) as err:
        print(f"campy: {err}", file=sys.stderr)
        return 1
    return 0


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
    from campy.recording.check import check_recordings, find_gaps
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
                                          max_bytes=cfg.recording.max_bytes, gap_tolerance_ms=tolerance)
    print(f"recordings {cfg.recording.path}: {counts['rows']} index rows, {counts['files']} files"
          f"{' (each probed)' if args.deep else ''}")
    gaps = find_gaps(index, min_ms=tolerance)
    print(f"{len(gaps)} gap(s) longer than {args.gap_tolerance:g} s between consecutive segments")
    for g in gaps:
        print(f"  gap {g.camera} {_utc(g.start_ms)} → {_utc(g.end_ms)} ({g.seconds:.1f} s): {g.label}"
              f"{' — ' + g.detail if g.detail else ''}")
    for v in violations:
        print(v, file=sys.stderr)
    if violations:
        print(f"{len(violations)} violation(s); see docs/recording.md", file=sys.stderr)
        return 1
    print("all recording invariants hold")
    return 0


def _utc(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def cmd_user(args: argparse.Namespace) -> int:
    """Add a user or set a password; the password comes from CAMPY_USER_PASSWORD or a prompt."""
    import getpass

    from campy.config import ConfigError, load_config
    from campy.db.database import open_db
    from campy.db.users import UserError, UserStore

    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    password = os.environ.get("CAMPY_USER_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    users = UserStore(open_db(cfg.server.data_dir / "campy.db"))
    try:
        if args.action == "add":
            users.create(username=args.username, password=password, role=args.role)
            print(f"added {args.role} {args.username}")
        else:
            if users.get(args.username) is None:
                print(f"no user {args.username}", file=sys.stderr)
                return 1
            users.set_password(args.username, password)
            print(f"password set for {args.username}")
    except UserError as err:
        print(err, file=sys.stderr)
        return 1
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
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="simulated cameras + go2rtc + CamPy in a data dir")
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--data-dir")
    p.add_argument("--main-codec", choices=["h264", "h265"], default="h265")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check-config", help="validate campy.yaml and print every issue")
    p.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("check", help="validate campy.yaml and verify the recording invariants")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--deep", action="store_true", help="also probe every segment with ffprobe")
    p.add_argument("--gap-tolerance", type=float, default=0.5, metavar="SECONDS",
                   help="report gaps between consecutive segments longer than this (default 0.5)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("user", help="add a user or set a password")
    p.add_argument("action", choices=["add", "passwd"])
    p.add_argument("username")
    p.add_argument("--role", choices=["admin", "viewer"], default="viewer")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_user)

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
