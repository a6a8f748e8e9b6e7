"""``campy sim``: run simulated Reolink RLC-810A cameras until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal

from campy.sim.camera import SimCamera


async def _run(args: argparse.Namespace) -> None:
    cams = [SimCamera(f"cam{i}", username=args.username, password=args.password,
                      main_codec=args.main_codec, audio=not args.no_audio)
            for i in range(1, args.cameras + 1)]
    for cam in cams:
        await cam.start()
    for cam in cams:
        print(f"{cam.name}: main {cam.main_url}  sub {cam.sub_url}  "
              f"rtsps port {cam.rtsps_port}  http http://127.0.0.1:{cam.http_port}/cgi-bin/api.cgi  "
              f"(user {args.username})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for cam in cams:
        await cam.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="campy sim", description="simulated Reolink RLC-810A cameras")
    ap.add_argument("--cameras", type=int, default=1)
    ap.add_argument("--main-codec", choices=["h264", "h265"], default="h265")
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--username", default="admin")
    ap.add_argument("--password", default="password")
    args = ap.parse_args(argv)
    asyncio.run(_run(args))
    return 0
