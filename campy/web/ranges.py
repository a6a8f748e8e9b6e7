"""Serving files (recorded segments, exports) with HTTP Range support (RFC 9110 §14).

Litestar's own ``File`` response ignores ``Range`` and ``If-Range`` (it always answers
200 with the whole file), but a browser's ``<video>`` seeks with Range requests and an
interrupted download resumes with one. ``file_response`` answers them:

* no Range, an ignored Range (malformed, multi-range, another unit, a failed
  ``If-Range``) or a HEAD request → 200 with the whole file;
* one satisfiable byte range → 206 with ``Content-Range: bytes a-b/size``;
* an unsatisfiable range → 416 with ``Content-Range: bytes */size``.

The file is opened once, before the response starts (a missing file is a clean 404), and
its body is streamed in chunks read off the event loop; it is never read whole.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from litestar import Request, Response
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_206_PARTIAL_CONTENT,
    HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
)
from litestar.utils.helpers import get_enum_string_value

from campy.errors import NotFound

# The wall clock that judges whether a Last-Modified date is old enough to be a strong
# validator (a module attribute so a test can pin it).
_now = time.time

if TYPE_CHECKING:
    from litestar.app import Litestar
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures.cookie import Cookie
    from litestar.enums import MediaType
    from litestar.types import Receive, Scope, Send, TypeEncodersMap

__all__ = ["CHUNK_SIZE", "file_response", "parse_range"]

CHUNK_SIZE = 256 * 1024
"""Bytes read from disk and sent per body event."""

_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_HUGE = 10**19  # larger than any file; stands in for positions with more than 18 digits


def _number(digits: str) -> int:
    """An ASCII digit string as an int; one too long for any file becomes ``_HUGE``."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _HUGE


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | Literal["unsatisfiable"]:
    """Parse a ``Range`` header value against a representation of ``size`` bytes.

    Understands one byte range (RFC 9110 §14.1.2): ``bytes=a-b``, ``bytes=a-`` and the
    suffix form ``bytes=-n``; the unit is case-insensitive. Returns the inclusive
    ``(start, end)`` with ``end`` clamped to ``size - 1``, or ``"unsatisfiable"`` when
    ``start >= size`` or the suffix length is 0, or ``None`` when the header is absent,
    malformed (``b < a``, non-digits, …), names another unit or asks for several ranges —
    the caller then serves the whole file, as the RFC allows a server to ignore Range.
    A non-zero suffix of an empty file is also ``None``: it is satisfiable in the RFC's
    terms but has no bytes a ``Content-Range`` could name.
    """
    if header is None or size < 0:
        return None
    unit, sep, spec_list = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs = [s.strip() for s in spec_list.split(",")]
    specs = [s for s in specs if s]  # a list may carry empty elements (RFC 9110 §5.6.1)
    if len(specs) != 1:
        return None
    match = _SPEC.fullmatch(specs[0])
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = _number(first)
        end = _number(last) if last else None
        if end is not None and end < start:
            return None
        if start >= size:
            return "unsatisfiable"
        return start, size - 1 if end is None else min(end, size - 1)
    if not last:
        return None  # "bytes=-"
    suffix = _number(last)
    if suffix == 0:
        return "unsatisfiable"
    if size == 0:
        return None
    return max(0, size - suffix), size - 1


def _etag(st: os.stat_result) -> str:
    """A strong entity tag from inode, mtime and size (as nginx and Apache make them).

    Strong, not weak, because ``If-Range`` only ever matches a strong tag (RFC 9110
    §13.1.5): with a weak one a resumed download would always restart from byte 0.
    """
    return f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'


def _if_range_holds(value: str, etag: str, mtime: int, now: float) -> bool:
    """Whether the ``If-Range`` validator still describes the file (RFC 9110 §13.1.5)."""
    value = value.strip()
    if value.startswith('"'):
        return value == etag  # strong comparison
    if value.startswith("W/"):
        return False  # a weak tag never matches in If-Range
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # A Last-Modified date is only a strong validator once the file is a full second older
    # than the moment it was sent; a file still being written fails safe (whole file).
    return int(when.timestamp()) == mtime and now - mtime >= 1


def _content_disposition(filename: str | None) -> str:
    """``inline``, or ``attachment`` with an ASCII fallback and an RFC 6266 ``filename*``."""
    if not filename:
        return "inline"
    cleaned = "".join(c for c in filename if c.isprintable())  # no CR/LF or other controls
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in cleaned)
    value = f'attachment; filename="{fallback}"'
    if fallback != cleaned:
        value += f"; filename*=UTF-8''{quote(cleaned, safe='')}"
    return value


async def _read_slice(file: IO[bytes], start: int, end: int, chunk_size: int) -> AsyncIterator[bytes]:
    """Yield bytes ``start..end`` (inclusive) of ``file`` in chunks, reading in a worker thread.

    Closes ``file`` when done, failed or cancelled (a client that disconnects).
    """
    fd = file.fileno()
    position, remaining = start, end - start + 1
    try:
        while remaining > 0:
            data = await anyio.to_thread.run_sync(os.pread, fd, min(chunk_size, remaining), position)
            if not data:  # the file shrank under us; the server cuts the response short
                return
            position += len(data)
            remaining -= len(data)
            yield data
    finally:
        file.close()


class _ClosingStreamingResponse(ASGIStreamingResponse):
    """An ASGI streaming response that closes its file however the exchange ends."""

    def __init__(self, *, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._file = file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._file.close()  # idempotent; covers a body that never started


class _FileStream(Stream):
    """A ``Stream`` over an open file that the file's ASGI response will close."""

    def __init__(self, content: AsyncIterator[bytes], *, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._file = file

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        """Build the low-level response (same merging rules as ``Stream``)."""
        merged_headers = {**headers, **self.headers} if headers is not None else self.headers
        merged_cookies = list(self.cookies) + list(cookies or ())
        return _ClosingStreamingResponse(
            file=self._file,
            background=self.background or background,
            content_length=0,
            cookies=merged_cookies,
            encoded_headers=encoded_headers,
            encoding=self.encoding,
            headers=dict(merged_headers),
            is_head_response=is_head_response,
            iterator=self.iterator,
            media_type=get_enum_string_value(self.media_type or media_type or "application/octet-stream"),
            status_code=self.status_code or status_code,
        )


def _open(path: Path) -> tuple[IO[bytes], os.stat_result]:
    """Open ``path`` for reading and stat the open file; anything but a regular file is 404."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        # Open first, then fstat the descriptor: size, mtime and bytes all belong to the
        # same file, even if it is replaced or removed meanwhile. O_NONBLOCK keeps a FIFO
        # from blocking the event loop; it changes nothing for a regular file.
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
        raise NotFound("file not found") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a directory opens fine on Linux; refuse it here
            raise NotFound("file not found")
        return os.fdopen(fd, "rb", buffering=0), st
    except BaseException:
        os.close(fd)
        raise


def file_response(
    request: Request[Any, Any, Any],
    path: Path,
    *,
    media_type: str,
    filename: str | None = None,
    cache_seconds: int = 0,
) -> Response[Any]:
    """Answer a GET or HEAD for the file at ``path``, honouring ``Range`` and ``If-Range``.

    Every answer carries ``Accept-Ranges: bytes``; 200 and 206 also carry ``ETag``,
    ``Last-Modified``, ``Content-Length``, ``Content-Disposition`` (``attachment`` with
    ``filename`` when one is given, else ``inline``) and ``Cache-Control`` (``private,
    max-age=cache_seconds`` when positive, else ``private, no-cache``). A Range is honoured
    only on GET (RFC 9110 §14.2), and only when an ``If-Range`` — if sent — matches the
    strong ETag or the Last-Modified date exactly. HEAD gets the headers a plain GET would.

    The file is opened here, so a missing one (or a directory) raises
    :class:`campy.errors.NotFound` before any byte is sent; the body is streamed in
    ``CHUNK_SIZE`` pieces from that one open file, which is closed when the response ends.
    """
    file, st = _open(path)
    size = st.st_size
    mtime = int(st.st_mtime)
    etag = _etag(st)
    headers = {
        "accept-ranges": "bytes",
        "etag": etag,
        "last-modified": formatdate(mtime, usegmt=True),
        "content-disposition": _content_disposition(filename),
        "cache-control": f"private, max-age={cache_seconds}" if cache_seconds > 0 else "private, no-cache",
    }

    wanted: tuple[int, int] | None | Literal["unsatisfiable"] = None
    if request.method == "GET":
        range_values = request.headers.getall("range", [])
        if_range = request.headers.get("if-range")
        if range_values and (if_range is None or _if_range_holds(if_range, etag, mtime, _now())):
            wanted = parse_range(", ".join(range_values), size)

    if wanted == "unsatisfiable":
        file.close()
        return Response(
            b"",
            status_code=HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
            media_type="text/plain",
            headers={"accept-ranges": "bytes", "content-range": f"bytes */{size}"},
        )

    if wanted is None:
        start, end, status = 0, size - 1, HTTP_200_OK
    else:
        start, end = wanted
        status = HTTP_206_PARTIAL_CONTENT
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(end - start + 1)

    if request.method == "HEAD" or start > end:  # HEAD, or an empty file: no body to send
        file.close()
        return Response(b"", status_code=status, media_type=media_type, headers=headers)

    return _FileStream(
        _read_slice(file, start, end, CHUNK_SIZE),
        file=file,
        status_code=status,
        media_type=media_type,
        headers=headers,
    )
