"""Simulated cameras for a first run, kept apart from the user's config.

``campy serve`` with no camera in campy.yaml (or with ``--with-sim``) starts simulated
Reolink RLC-810A cameras and hands them to the Runtime as a read-only overlay
(``ConfigStore(overlay=...)``): they are shown and recorded like any camera, but they are
never written to campy.yaml, so cameras the user adds there stay theirs. Once campy.yaml
has a camera, the next start runs without simulated cameras.

``campy demo`` does the same in a data dir of its own (a generated campy.yaml there).
"""

from __future__ import annotations

import asyncio

import io
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from campy.config.loader import build_config, parse_text
from campy.config.model import CameraConfig, CampyConfig

# Simulated 4K cameras write ~1 MB/s each: recordings are capped at this while they run,
# unless recording.max_size is set.
SIM_MAX_BYTES = 2 * 1024**3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sim_name(i: int) -> str:
    return f"sim{i}"


def simulated_cameras(cams: list[tuple[str, str, str | None]], *, username: str,
                      password: str) -> dict[str, CameraConfig]:
    """Validated camera settings for simulators at (name, main, sub), the same way a
    campy.yaml entry is validated."""
    out = io.StringIO()
    out.write("cameras:\n")
    for i, (name, main, sub) in enumerate(cams, start=1):
        out.write(f"  {name}:\n    title: Simulated camera {i}\n    main: {main}\n")
        if sub:
            out.write(f"    sub: {sub}\n")
        out.write(f"    username: {username}\n    detect: {{}}\n")
    file = Path("<simulated cameras>")
    doc, data = parse_text(out.getvalue(), file=file)
    # The password goes in as data, never through YAML text.
    for name, _, _ in cams:
        data["cameras"][name]["password"] = password
    cfg = build_config(doc, data, file=file)
    return {n: msgspec.structs.replace(c, password_ref="(simulated)") for n, c in cfg.cameras.items()}


def overlay_for(cameras: dict[str, CameraConfig]) -> Callable[[CampyConfig], CampyConfig]:
    """What the ConfigStore applies to every loaded campy.yaml: the simulated cameras
    (the user's own cameras keep their names) and a recording cap while they run."""

    def apply(cfg: CampyConfig) -> CampyConfig:
        merged = {**cfg.cameras, **{n: c for n, c in cameras.items() if n not in cfg.cameras}}
        rec = cfg.recording
        if rec.max_bytes is None:
            rec = msgspec.structs.replace(rec, max_bytes=SIM_MAX_BYTES)
        return msgspec.structs.replace(cfg, cameras=merged, recording=rec)

    return apply


class Simulators:
    """Running simulated cameras (``async with``): their camera settings and overlay."""

    def __init__(self, count: int, *, main_codec: str = "h265") -> None:
        from campy.sim.camera import SimCamera

        self.password = secrets.token_urlsafe(9)
        # Even-numbered cameras show a figure walking across a street on their sub stream,
        # so detection has something to find.
        self.sims = [SimCamera(sim_name(i), username="admin", password=self.password,
                               main_codec=main_codec, sub_scene="walker" if i % 2 == 0 else "testsrc")
                     for i in range(1, count + 1)]
        self.cameras: dict[str, CameraConfig] = {}

    async def __aenter__(self) -> Simulators:
        print(f"Preparing {len(self.sims)} simulated camera(s) (the first run encodes test media; "
              "this can take a minute)...", flush=True)
        try:
            for sim in self.sims:
                await sim.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self.cameras = simulated_cameras([(s.name, s.main_url, s.sub_url) for s in self.sims],
                                         username="admin", password=self.password)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        # Ctrl-C: uvicorn shuts down and then raises the SIGINT again, which cancels the main
        # task while the simulators stop. Finish stopping them (their ffmpeg reaped before the
        # loop closes), then let the cancellation end the program.
        stopping = asyncio.ensure_future(self._stop_all())
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            await stopping
            raise

    async def _stop_all(self) -> None:
        for sim in self.sims:
            await sim.stop()

    def store_args(self) -> dict[str, Any]:
        """Keyword arguments for ``Runtime``/``ConfigStore``."""
        return {"overlay": overlay_for(self.cameras), "readonly": frozenset(self.cameras)}


def write_demo_config(data_dir: Path, *, host: str, port: int) -> Path:
    """``campy demo``'s own campy.yaml (no cameras: the simulated ones are an overlay).
    Kept when it exists, so cameras added to it survive."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    path = data_dir / "campy.yaml"
    if path.exists():
        return path
    lines = [
        "# Written once by `campy demo`; yours to edit. The simulated cameras are not in it.",
        "server:",
        f"  host: {host}",
        f"  port: {port}",
        "  data_dir: .",
        "  secrets_file: secrets.yaml",
        "go2rtc:",
        f"  api_port: {free_port()}",
        f"  rtsp_port: {free_port()}",
        f"  webrtc_port: {free_port()}",
        "  base_config: null",
        "recording:",
        "  max_size: 2GB",
        "cameras: {}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_demo(*, cameras: int = 2, port: int = 8080, host: str = "127.0.0.1",
             data_dir: Path | None = None, main_codec: str = "h265") -> int:
    from campy.cli import serve_main

    data_dir = (data_dir or Path("data/demo")).resolve()
    config = write_demo_config(data_dir, host=host, port=port)
    return serve_main(config, host=host, port=port, sim_cameras=cameras, main_codec=main_codec)
