"""The DESCRIBE answer, in the shape newer Reolink firmware sends.

Codec parameters (sprop-parameter-sets / sprop-vps/sps/pps, AAC config) come from the SDP
ffmpeg writes for the clip; the rest mirrors a captured Reolink answer: the "BC Streaming
Media" tool line, ``track1``/``track2`` controls, and the AAC fmtp's trailing ``;``.
"""

from __future__ import annotations

import time

TOOL = "BC Streaming Media v202210012022.10.01"


def _media_sections(sdp: str) -> list[list[str]]:
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            sections.append([line])
        elif sections and line:
            sections[-1].append(line)
    return sections


def reolink_sdp(ffmpeg_sdp: str, *, host: str = "127.0.0.1", video_kbps: int = 8192) -> str:
    session_id = int(time.time() * 1000)
    out = [
        "v=0",
        f"o=- {session_id} 1 IN IP4 {host}",
        's=Session streamed by "preview"',
        "t=0 0",
        f"a=tool:{TOOL}",
        "a=type:broadcast",
        "a=control:*",
        "a=range:npt=now-",
    ]
    track = 0
    for section in _media_sections(ffmpeg_sdp):
        kind, _, rest = section[0][2:].partition(" ")
        pt = rest.split()[-1]
        track += 1
        out.append(f"m={kind} 0 RTP/AVP {pt}")
        out.append("c=IN IP4 0.0.0.0")
        if kind == "video":
            out.append(f"b=AS:{video_kbps}")
        for line in section[1:]:
            if line.startswith("a=rtpmap:"):
                if "MPEG4-GENERIC" in line:
                    line = line.split("/", 2)[0] + "/" + line.split("/")[1]  # drop "/1" channels
                out.append(line)
            elif line.startswith("a=fmtp:"):
                params = ";".join(p.strip() for p in line.split(" ", 1)[1].split(";") if p.strip())
                head = line.split(" ", 1)[0]
                if kind == "audio":
                    # AAC-LC 16 kHz mono is config=1408 on the camera; ffmpeg appends an
                    # explicit "no SBR" extension (56E500) that the camera does not send.
                    params = params.replace("config=140856E500", "config=1408")
                    params = "streamtype=5;" + params + ";"  # Reolink leaves a trailing ';'
                out.append(f"{head} {params}")
        out.append(f"a=control:track{track}")
    return "\r\n".join(out) + "\r\n"
