"""ffprobe and ffmpeg helpers for segment files (duration, codecs, repair)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import msgspec

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
# fMP4: every fragment is self-contained, so a file cut short by a crash still plays up
# to its last complete fragment (docs/recording.md, "Container").
FRAG_FLAGS = "+frag_keyframe+empty_moov+default_base_moof"


class ProbeResult(msgspec.Struct, frozen=True):
    duration_ms: int
    codec: str
    audio: bool


def ffmpeg_bin() -> str:
    return shutil.which(FFMPEG) or FFMPEG


def ffprobe_bin() -> str:
    return shutil.which(FFPROBE) or FFPROBE


def _parse(out: bytes) -> ProbeResult | None:
    try:
        data = json.loads(out or b"{}")
    except ValueError:
        return None
    streams = data.get("streams") or []
    video = [s for s in streams if s.get("codec_type") == "video"]
    try:
        duration = float((data.get("format") or {}).get("duration") or 0)
    except ValueError:
        duration = 0.0
    if not video or duration <= 0:
        return None
    return ProbeResult(duration_ms=int(round(duration * 1000)), codec=str(video[0].get("codec_name", "")),
                       audio=any(s.get("codec_type") == "audio" for s in streams))


_PROBE_ARGS = ["-v", "error", "-show_entries", "format=duration:stream=codec_type,codec_name", "-of", "json"]


async def probe(path: Path) -> ProbeResult | None:
    """Duration, video codec and audio of a media file; None if it does not play."""
    proc = await asyncio.create_subprocess_exec(
        ffprobe_bin(), *_PROBE_ARGS, str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return _parse(out) if proc.returncode == 0 else None


def probe_sync(path: Path) -> ProbeResult | None:
    import subprocess

    res = subprocess.run([ffprobe_bin(), *_PROBE_ARGS, str(path)], capture_output=True, check=False)
    return _parse(res.stdout) if res.returncode == 0 else None


async def remux(src: Path, dst: Path) -> bool:
    """Copy ``src`` into a clean fMP4 at ``dst`` (drops a torn last fragment); True on success."""
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_bin(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-err_detect", "ignore_err", "-i", str(src), "-map", "0", "-c", "copy",
        "-movflags", FRAG_FLAGS, "-f", "mp4", str(dst),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await proc.wait()
    return proc.returncode == 0 and dst.exists() and dst.stat().st_size > 0


async def keyframes(path: Path) -> list[float]:
    """Presentation times (s) of the video keyframes of a file, in order."""
    proc = await asyncio.create_subprocess_exec(
        ffprobe_bin(), "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
        "-of", "csv=p=0", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    times: list[float] = []
    for line in out.decode(errors="replace").splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags:
            try:
                times.append(float(pts))
            except ValueError:
                continue
    return sorted(times)
