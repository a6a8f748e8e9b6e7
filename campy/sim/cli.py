"""``campy sim``: run simulated Reolink RLC-810A cameras until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from campy.sim.camera import SimCamera


async def _run(args: argparse.Namespace) -> None:
    cams = [SimCamera(f"{args.prefix}{i:0{args.digits}d}", username=args.username, password=args.password,
                      main_codec=args.main_codec, audio=not args.no_audio, sub_scene=args.sub_scene, clock=args.clock,
                      port_base=args.port_base + 3 * (i - args.first) if args.port_base else 0)
            for i in range(args.first, args.first + args.cameras)]
    for cam in cams:
        await cam.start()
    for cam in cams:
        if args.json:  # one line per camera, for programs that start the simulator (bench/soak.py)
            print(json.dumps({"name": cam.name, "main": cam.main_url, "sub": cam.sub_url,
                              "http_port": cam.http_port}), flush=True)
            continue
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
    ap.add_argument("--sub-scene", choices=["testsrc", "walker", "still"], default="testsrc",
                    help="what the sub stream shows (walker: a person crossing a street)")
    ap.add_argument("--prefix", default="cam", help="camera names: PREFIX + number")
    ap.add_argument("--first", type=int, default=1, help="number of the first camera")
    ap.add_argument("--digits", type=int, default=1, help="zero-pad camera numbers to this width")
    ap.add_argument("--port-base", type=int, default=0,
                    help="camera k listens on PORT_BASE+3k (RTSP), +1 (RTSPS), +2 (HTTP); 0: any free ports")
    ap.add_argument("--clock", action="store_true",
                    help="both streams: a live 640x360 H.264 clock (each frame carries its paint time, for latency)")
    ap.add_argument("--json", action="store_true", help="print one JSON line per camera")
    ap.add_argument("--username", default="admin")
    ap.add_argument("--password", default="password")
    args = ap.parse_args(argv)
    asyncio.run(_run(args))
    return 0
