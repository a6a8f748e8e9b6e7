"""Test a camera stream before it is saved: reach it, authenticate, describe it.

Two steps per stream. For RTSP(S) URLs a small DESCRIBE client of our own says precisely
why a camera cannot be used (go2rtc folds a 404 into "wrong response on DESCRIBE"):
host not found, no route, timed out, refused, TLS, 401, 404. Then ``ffprobe`` reads the
stream for codec, resolution, frame rate and audio. The password goes only into those two
connections; every text that comes back is scrubbed of it.

TLS: ``rtsps://`` checks the camera's certificate (a self-signed one is a TLS error);
``rtspx://`` (go2rtc's name for RTSPS without the check) encrypts without checking.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import json
import re
import shutil
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from campy.streams import scrub

TIMEOUT_S = 8.0  # per stream, both steps; the two streams are tested at once
_PARAM_RE = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtspx": 322}


class ProbeFailed(Exception):
    """The stream cannot be used; ``kind`` names the reason for tests and styling."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class StreamReport:
    url: str  # without credentials
    ok: bool = False
    kind: str = ""  # ok, unreachable, timeout, refused, auth, not_found, tls, error
    message: str = ""
    video: str = ""  # e.g. "H265 3840×2160"
    codec: str = ""
    width: int = 0
    height: int = 0
    fps: str = ""
    audio: str = ""  # e.g. "AAC 16000 Hz mono", or "none"
    details: list[str] = field(default_factory=list)


def _digest(params: dict[str, str], method: str, uri: str, user: str, password: str) -> str:
    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()  # noqa: S324 - RTSP Digest is MD5

    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    qop = params.get("qop", "")
    if "auth" in qop.split(","):
        cnonce, nc = hashlib.sha256(nonce.encode()).hexdigest()[:16], "00000001"
        resp = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{resp}", qop=auth, nc={nc}, cnonce="{cnonce}"')
    resp = md5(f"{ha1}:{nonce}:{ha2}")
    return f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{resp}"'


def _authorization(challenge: str, uri: str, user: str, password: str) -> str | None:
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() == "digest":
        params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                  for m in _PARAM_RE.finditer(rest)}
        return _digest(params, "DESCRIBE", uri, user, password)
    if scheme.lower() == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return None


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str], str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/") or not parts[1].isdigit():
        raise ProbeFailed("error", f"the server did not answer as an RTSP server ({lines[0][:60]!r})")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers.setdefault(k.strip().lower(), v.strip())
    body = b""
    if int(headers.get("content-length", "0") or 0):
        body = await reader.readexactly(int(headers["content-length"]))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body.decode(errors="replace")


def _tls_context(scheme: str) -> ssl.SSLContext | None:
    if scheme == "rtsps":
        return ssl.create_default_context()
    if scheme == "rtspx":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return None


async def describe(url: str, username: str, password: str, *, timeout: float = 5.0) -> str:
    """DESCRIBE ``url`` (no credentials in it), authenticating if asked; the SDP.

    Raises ``ProbeFailed`` with the most precise reason it can tell.
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(scheme, 554)
    where = f"{host}:{port}"
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=_tls_context(scheme),
                                    server_hostname=host if scheme != "rtsp" else None), timeout)
    except TimeoutError as err:
        hint = "; or it does not speak TLS: try rtsp://" if scheme != "rtsp" else ""
        raise ProbeFailed("timeout", f"unreachable: {where} did not answer within {timeout:.0f} s "
                                     f"(timed out; is the camera on and the address right?{hint})") from err
    except socket.gaierror as err:
        raise ProbeFailed("unreachable", f"unreachable: the host name {host!r} is not known") from err
    except ssl.SSLCertVerificationError as err:
        raise ProbeFailed("tls", f"TLS error: the certificate of {where} is not trusted "
                                 f"({err.verify_message}); for a camera's self-signed certificate use "
                                 "rtspx:// (encrypted, certificate not checked)") from err
    except ssl.SSLError as err:
        raise ProbeFailed("tls", f"TLS error talking to {where}: {err.reason or err}") from err
    except ConnectionRefusedError as err:
        raise ProbeFailed("refused", f"connection refused by {where}: nothing listens there "
                                     "(is RTSP enabled on the camera, and the port right?)") from err
    except OSError as err:
        if err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise ProbeFailed("unreachable", f"unreachable: no route to {host}") from err
        raise ProbeFailed("unreachable", f"unreachable: {where}: {err.strerror or err}") from err
    try:
        auth: str | None = None
        for cseq in (1, 2):
            req = f"DESCRIBE {url} RTSP/1.0\r\nCSeq: {cseq}\r\nAccept: application/sdp\r\nUser-Agent: CamPy\r\n"
            if auth:
                req += f"Authorization: {auth}\r\n"
            writer.write((req + "\r\n").encode())
            await writer.drain()
            status, reason, headers, body = await asyncio.wait_for(_read_response(reader), timeout)
            if status == 401 and auth is None and username:
                auth = _authorization(headers.get("www-authenticate", ""), url, username, password)
                if auth:
                    continue
            if status == 200:
                return body
            if status in (401, 403):
                raise ProbeFailed("auth", f"wrong credentials: the camera answered {status} "
                                          f"{reason or 'Unauthorized'} to the username and password")
            if status == 404:
                raise ProbeFailed("not_found", f"no such path: the camera answered 404 for "
                                               f"{parts.path or '/'} (try the other path choice)")
            raise ProbeFailed("error", f"the camera answered {status} {reason}")
        raise ProbeFailed("auth", "wrong credentials: the camera asks again for them")
    except TimeoutError as err:
        raise ProbeFailed("timeout", f"unreachable: {where} accepted the connection but did not answer "
                                     f"within {timeout:.0f} s (timed out)") from err
    except (asyncio.IncompleteReadError, ConnectionError) as err:
        raise ProbeFailed("error", f"{where} closed the connection without an answer") from err
    except ssl.SSLError as err:
        raise ProbeFailed("tls", f"TLS error talking to {where}: {err.reason or err}") from err
    finally:
        writer.close()


def with_userinfo(url: str, username: str, password: str) -> str:
    if not username:
        return url
    p = urlsplit(url)
    info = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit((p.scheme, f"{info}@{p.netloc}", p.path, p.query, p.fragment))


def _fps(rate: str) -> str:
    num, _, den = rate.partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return ""
    return f"{value:g}" if value > 0 else ""


def _fill(report: StreamReport, streams: list[dict[str, object]]) -> None:
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video:
        name = str(video.get("codec_name", "")).lower()
        report.codec = {"hevc": "H265", "h264": "H264"}.get(name, name.upper())
        report.width, report.height = int(str(video.get("width") or 0)), int(str(video.get("height") or 0))
        report.fps = _fps(str(video.get("avg_frame_rate") or "")) or _fps(str(video.get("r_frame_rate") or ""))
        report.video = f"{report.codec} {report.width}×{report.height}" if report.width else report.codec
    if audio:
        layout = str(audio.get("channel_layout") or f"{audio.get('channels', '?')} ch")
        report.audio = f"{str(audio.get('codec_name', '')).upper()} {audio.get('sample_rate', '?')} Hz {layout}"
    else:
        report.audio = "none"


async def ffprobe(url: str, username: str, password: str, *, timeout: float) -> list[dict[str, object]]:
    binary = shutil.which("ffprobe") or "ffprobe"
    scheme = urlsplit(url).scheme.lower()
    target = with_userinfo(("rtsps" + url[5:]) if scheme == "rtspx" else url, username, password)
    args = [binary, "-v", "error", "-rw_timeout", str(int(timeout * 1_000_000))]
    if scheme.startswith("rtsp"):
        args += ["-rtsp_transport", "tcp"]
    args += ["-analyzeduration", "3000000", "-show_streams", "-of", "json", target]
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise ProbeFailed("timeout", f"the stream sent no usable media within {timeout:.0f} s") from exc
    text = scrub(err.decode(errors="replace"), [password, username + ":" + password]).strip()
    if proc.returncode != 0:
        low = text.lower()
        if "401" in low or "unauthorized" in low:
            raise ProbeFailed("auth", "wrong credentials: the camera answered 401 Unauthorized")
        if "404" in low or "not found" in low:
            raise ProbeFailed("not_found", "no such path: the camera answered 404")
        if "refused" in low:
            raise ProbeFailed("refused", "connection refused: nothing listens at that address and port")
        if "timed out" in low:
            raise ProbeFailed("timeout", "unreachable: the camera did not answer (timed out)")
        raise ProbeFailed("error", f"ffprobe could not read the stream: {text.splitlines()[-1] if text else '?'}")
    return list(json.loads(out or b"{}").get("streams") or [])


async def probe_stream(url: str, username: str, password: str, *, timeout: float = TIMEOUT_S) -> StreamReport:
    """Everything the Test button shows about one stream; never raises for a camera fault."""
    report = StreamReport(url=url)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        if urlsplit(url).scheme.lower() in _DEFAULT_PORTS:
            step = min(4.0, timeout)
            try:
                # Connecting and answering each have ``step`` seconds; together too.
                await asyncio.wait_for(describe(url, username, password, timeout=step), step + 1.0)
            except TimeoutError as err:
                raise ProbeFailed("timeout", f"unreachable: no answer within {step:.0f} s (timed out)") from err
        left = max(1.0, timeout - (loop.time() - start))
        _fill(report, await ffprobe(url, username, password, timeout=left))
    except ProbeFailed as err:
        report.kind, report.message = err.kind, scrub(err.message, [password])
        return report
    report.ok, report.kind = True, "ok"
    return report
