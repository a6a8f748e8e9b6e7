"""HTTP Range support for served files: ``parse_range`` and ``file_response`` (campy.web.ranges)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar import Litestar, Request, Response, route
from litestar.exceptions import LitestarException
from litestar.params import FromPath, FromQuery
from litestar.testing import TestClient

from campy.web import ranges
from campy.web.errors import HANDLERS
from campy.web.ranges import CHUNK_SIZE, file_response, parse_range

SIZE = 1_000_003  # ~1 MB, not a multiple of CHUNK_SIZE
OLD = 1_700_000_000  # the fixture file's mtime: well in the past, so its date is a strong validator


# ---------------------------------------------------------------------------- parse_range

@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        # the three forms
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=100-", 1000, (100, 999)),
        ("bytes=-500", 1000, (500, 999)),
        ("bytes=0-0", 1000, (0, 0)),
        ("bytes=999-999", 1000, (999, 999)),
        ("bytes=0-", 1000, (0, 999)),
        # end clamped; suffix longer than the file is the whole file
        ("bytes=990-5000", 1000, (990, 999)),
        ("bytes=0-999", 1000, (0, 999)),
        ("bytes=-1000", 1000, (0, 999)),
        ("bytes=-5000", 1000, (0, 999)),
        ("bytes=5-" + "9" * 40, 1000, (5, 999)),
        ("bytes=-" + "9" * 40, 1000, (0, 999)),
        ("bytes=0005-0009", 1000, (5, 9)),
        # the unit is case-insensitive; an empty list element is not a second range
        ("Bytes=1-2", 1000, (1, 2)),
        ("BYTES=1-2", 1000, (1, 2)),
        ("bytes=1-2, ", 1000, (1, 2)),
        # unsatisfiable
        ("bytes=1000-", 1000, "unsatisfiable"),
        ("bytes=1000-2000", 1000, "unsatisfiable"),
        ("bytes=5000-", 1000, "unsatisfiable"),
        ("bytes=" + "9" * 40 + "-", 1000, "unsatisfiable"),
        ("bytes=-0", 1000, "unsatisfiable"),
        ("bytes=0-", 0, "unsatisfiable"),
        ("bytes=0-0", 0, "unsatisfiable"),
        # ignored: absent, malformed, multi-range, other units
        (None, 1000, None),
        ("", 1000, None),
        ("bytes", 1000, None),
        ("bytes=", 1000, None),
        ("bytes=-", 1000, None),
        ("0-99", 1000, None),
        ("items=0-99", 1000, None),
        ("bytes=99-0", 1000, None),
        ("bytes=abc", 1000, None),
        ("bytes=a-b", 1000, None),
        ("bytes=1-2-3", 1000, None),
        ("bytes=+1-2", 1000, None),
        ("bytes=1_0-20", 1000, None),
        ("bytes=0 - 9", 1000, None),
        ("bytes=0x1-2", 1000, None),
        ("bytes=\u0661-\u0662", 1000, None),  # Arabic-Indic digits are not DIGIT
        ("bytes=0-99,200-299", 1000, None),
        ("bytes=0-99, 200-299", 1000, None),
        ("bytes=0-1,0-1", 1000, None),
        ("bytes=-5", 0, None),  # a suffix of an empty file: serve the (empty) whole
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


# ------------------------------------------------------------------ file_response via an app

@pytest.fixture
def data() -> bytes:
    return random.Random(9110).randbytes(SIZE)


@pytest.fixture
def video(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "segment.mp4"
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))
    return path


def make_app(files: dict[str, Path]) -> Litestar:
    """A tiny app: ``/api/files/{key}`` serves ``files[key]`` (GET and HEAD)."""

    @route("/api/files/{key:str}", http_method=["GET", "HEAD"], sync_to_thread=False)
    def serve(request: Request[Any, Any, Any], key: FromPath[str],
              name: FromQuery[str | None] = None, cache: FromQuery[int] = 0) -> Response[Any]:
        return file_response(request, files[key], media_type="video/mp4", filename=name,
                             cache_seconds=cache)

    return Litestar([serve], exception_handlers=HANDLERS, openapi_config=None)


@pytest.fixture
def client(video: Path, tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    (tmp_path / "adir").mkdir()
    files = {"video": video, "missing": tmp_path / "nope.mp4", "dir": tmp_path / "adir"}
    with TestClient(make_app(files)) as c:
        yield c


def get(client: TestClient[Litestar], **headers: str) -> Any:
    return client.get("/api/files/video", headers=headers)


def test_full_get(client: TestClient[Litestar], data: bytes) -> None:
    r = get(client)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-length"] == str(SIZE)
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["last-modified"] == formatdate(OLD, usegmt=True)
    assert r.headers["etag"].startswith('"') and r.headers["etag"].endswith('"')
    assert r.headers["content-disposition"] == "inline"
    assert r.headers["cache-control"] == "private, no-cache"
    assert "content-range" not in r.headers


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        (f"bytes={SIZE - 10}-{SIZE + 1000}", SIZE - 10, SIZE - 1),  # end beyond the size: clamped
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1),
        ("bytes=0-0", 0, 0),
        (f"bytes={CHUNK_SIZE - 5}-{2 * CHUNK_SIZE + 7}", CHUNK_SIZE - 5, 2 * CHUNK_SIZE + 7),
        (f"bytes=-{SIZE * 3}", 0, SIZE - 1),
    ],
)
def test_partial_get(client: TestClient[Litestar], data: bytes, header: str, start: int,
                     end: int) -> None:
    r = get(client, range=header)
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "video/mp4"
    assert len(r.content) == end - start + 1
    assert r.content == data[start:end + 1]


def test_random_ranges_return_the_exact_slice(client: TestClient[Litestar], data: bytes) -> None:
    rng = random.Random(206)
    for _ in range(25):
        a = rng.randrange(SIZE)
        b = rng.randrange(a, SIZE)
        r = get(client, range=f"bytes={a}-{b}")
        assert r.status_code == 206
        assert r.content == data[a:b + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE}-{SIZE + 5}", "bytes=-0"])
def test_unsatisfiable_range_is_416(client: TestClient[Litestar], header: str) -> None:
    r = get(client, range=header)
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{SIZE}"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.content == b""


@pytest.mark.parametrize(
    "header",
    ["bytes=abc", "bytes=99-0", "bytes=-", "items=0-9", "0-99", "bytes=0-99,200-299",
     "bytes=0-0,-1"],
)
def test_malformed_or_multi_range_serves_the_whole_file(client: TestClient[Litestar],
                                                        data: bytes, header: str) -> None:
    r = get(client, range=header)
    assert r.status_code == 200
    assert "content-range" not in r.headers
    assert r.headers["content-length"] == str(SIZE)
    assert r.content == data


def test_if_range(client: TestClient[Litestar], data: bytes) -> None:
    etag = get(client).headers["etag"]
    last_modified = formatdate(OLD, usegmt=True)

    matching = [etag, last_modified]
    for value in matching:
        r = get(client, range="bytes=10-19", **{"if-range": value})
        assert (value, r.status_code) == (value, 206)
        assert r.content == data[10:20]

    mismatching = ['"something-else"', "W/" + etag, formatdate(OLD - 10, usegmt=True),
                   formatdate(OLD + 10, usegmt=True), "not a date"]
    for value in mismatching:
        r = get(client, range="bytes=10-19", **{"if-range": value})
        assert (value, r.status_code) == (value, 200)
        assert "content-range" not in r.headers
        assert r.content == data

    # If-Range without Range changes nothing
    r = get(client, **{"if-range": etag})
    assert r.status_code == 200
    assert r.content == data


def test_if_range_date_of_a_file_modified_just_now_is_not_trusted(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "live.mp4"
    path.write_bytes(b"x" * 1000)
    modified = int(ranges.time.time()) - 100  # a whole second, so "just now" is unambiguous
    os.utime(path, (modified, modified))
    with TestClient(make_app({"live": path})) as c:
        r = c.get("/api/files/live")
        assert r.status_code == 200
        # Half a second after the modification the date is a weak validator: Range ignored.
        # (Pinned, not read from the wall clock: a test that crossed a second boundary
        # between writing the file and asking would see a strong date.)
        monkeypatch.setattr(ranges, "_now", lambda: modified + 0.5)
        fresh = c.get("/api/files/live", headers={"range": "bytes=0-9",
                                                  "if-range": r.headers["last-modified"]})
        assert fresh.status_code == 200
        assert len(fresh.content) == 1000
        by_etag = c.get("/api/files/live", headers={"range": "bytes=0-9",
                                                    "if-range": r.headers["etag"]})
        assert by_etag.status_code == 206
        assert by_etag.content == b"x" * 10
        # Two seconds on, the same date is strong and the Range is honoured.
        monkeypatch.setattr(ranges, "_now", lambda: modified + 2.0)
        later = c.get("/api/files/live", headers={"range": "bytes=0-9",
                                                  "if-range": r.headers["last-modified"]})
        assert later.status_code == 206 and later.content == b"x" * 10


def test_content_disposition(client: TestClient[Litestar]) -> None:
    r = client.get("/api/files/video", params={"name": "front-2024-05-01.mp4"})
    assert r.headers["content-disposition"] == 'attachment; filename="front-2024-05-01.mp4"'

    r = client.get("/api/files/video", params={"name": "Garten Ost ü.mp4"})
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"Garten Ost _.mp4\"; filename*=UTF-8''Garten%20Ost%20%C3%BC.mp4"
    )

    r = client.get("/api/files/video", params={"name": 'a"b\\c\r\nSet-Cookie: x=1.mp4'})
    value = r.headers["content-disposition"]
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="a_b_cSet-Cookie: x=1.mp4"')
    assert "set-cookie" not in r.headers


def test_cache_control(client: TestClient[Litestar]) -> None:
    r = client.get("/api/files/video", params={"cache": 3600}, headers={"range": "bytes=0-0"})
    assert r.status_code == 206
    assert r.headers["cache-control"] == "private, max-age=3600"


def test_etag_is_stable_and_follows_the_file(client: TestClient[Litestar], video: Path) -> None:
    first = get(client).headers["etag"]
    assert get(client).headers["etag"] == first
    assert get(client, range="bytes=0-9").headers["etag"] == first

    video.write_bytes(b"new content")
    os.utime(video, (OLD + 60, OLD + 60))
    changed = get(client)
    assert changed.headers["etag"] != first
    assert changed.content == b"new content"
    # the old tag no longer validates a range
    r = get(client, range="bytes=0-2", **{"if-range": first})
    assert r.status_code == 200
    assert r.content == b"new content"


def test_head(client: TestClient[Litestar]) -> None:
    full = get(client)
    r = client.head("/api/files/video")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(SIZE)
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == full.headers["etag"]
    assert r.headers["last-modified"] == full.headers["last-modified"]
    # Range handling is defined only for GET (RFC 9110 §14.2): HEAD ignores it
    r = client.head("/api/files/video", headers={"range": "bytes=0-99"})
    assert r.status_code == 200
    assert r.headers["content-length"] == str(SIZE)
    assert "content-range" not in r.headers


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with TestClient(make_app({"empty": path})) as c:
        r = c.get("/api/files/empty")
        assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
        r = c.get("/api/files/empty", headers={"range": "bytes=0-"})
        assert r.status_code == 416
        assert r.headers["content-range"] == "bytes */0"


@pytest.mark.parametrize("key", ["missing", "dir"])
def test_missing_file_or_directory_is_404(client: TestClient[Litestar], key: str) -> None:
    r = client.get(f"/api/files/{key}", headers={"range": "bytes=0-9"})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "file not found"


def test_file_vanishing_before_open_is_404(client: TestClient[Litestar], video: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def open_after_removal(path: Any, flags: int, *args: Any) -> int:
        if Path(path) == video:
            video.unlink()  # gone between the handler choosing it and the open
        return real_open(path, flags, *args)

    monkeypatch.setattr(ranges.os, "open", open_after_removal)
    r = get(client)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "file not found"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every file object ``file_response`` opens, kept referenced so that garbage
    collection cannot close one the code forgot to close."""
    files: list[Any] = []
    real_fdopen = os.fdopen

    def tracking_fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        f = real_fdopen(fd, *args, **kwargs)
        files.append(f)
        return f

    monkeypatch.setattr(ranges.os, "fdopen", tracking_fdopen)
    return files


def test_every_opened_file_is_closed(client: TestClient[Litestar], opened: list[Any]) -> None:
    for headers in [{}, {"range": "bytes=0-9"}, {"range": f"bytes={SIZE}-"}, {"range": "x"},
                    {"range": "bytes=0-9", "if-range": '"stale"'}]:
        assert get(client, **headers).status_code in (200, 206, 416)
        assert client.head("/api/files/video", headers=headers).status_code == 200
    assert client.get("/api/files/dir").status_code == 404
    assert len(opened) == 10
    assert [f.closed for f in opened] == [True] * 10


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """An ASGI scope for ``GET /api/files/video``."""
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/api/files/video", "raw_path": b"/api/files/video",
        "root_path": "", "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 1234), "server": ("testserver", 80), "state": {},
    }


def _raw_get(app: Litestar, headers: list[tuple[bytes, bytes]],
             disconnect_after: int | None = None) -> list[dict[str, Any]]:
    """Drive the ASGI app directly and return every message it sends.

    Like a server, ``receive`` reports ``http.disconnect`` once the response is complete —
    or, with ``disconnect_after``, once that many body messages have been sent.
    """
    sent: list[dict[str, Any]] = []
    gone = anyio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        bodies = [m for m in sent if m["type"] == "http.response.body"]
        if (message["type"] == "http.response.body" and not message.get("more_body")) or (
                disconnect_after is not None and len(bodies) >= disconnect_after):
            gone.set()
        await anyio.sleep(0)

    scope = _scope(headers)

    async def main() -> None:
        with anyio.fail_after(20):
            await app(scope, receive, send)  # type: ignore[arg-type]

    anyio.run(main)
    return sent


def test_body_is_streamed_in_chunks(video: Path, data: bytes) -> None:
    app = make_app({"video": video})
    sent = _raw_get(app, [(b"range", b"bytes=10-")])
    start = sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 206
    chunks = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert all(len(c) <= CHUNK_SIZE for c in chunks)
    assert len([c for c in chunks if c]) == -(-(SIZE - 10) // CHUNK_SIZE)  # ceil
    assert b"".join(chunks) == data[10:]


def test_client_disconnect_stops_the_stream_and_closes_the_file(video: Path,
                                                                 opened: list[Any]) -> None:
    sent = _raw_get(make_app({"video": video}), [], disconnect_after=1)
    body = b"".join(m["body"] for m in sent if m["type"] == "http.response.body")
    assert 0 < len(body) < SIZE
    assert len(opened) == 1 and opened[0].closed


def test_file_is_closed_when_the_response_cannot_even_start(video: Path,
                                                            opened: list[Any]) -> None:
    class Gone(Exception):
        pass

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        raise Gone  # the client went away before the headers could be sent

    scope = _scope([])

    async def main() -> None:
        with anyio.fail_after(20):
            await make_app({"video": video})(scope, receive, send)  # type: ignore[arg-type]

    with pytest.raises(LitestarException) as failure:  # Litestar wraps what send raised
        anyio.run(main)
    assert isinstance(failure.value.__cause__, Gone)
    assert len(opened) == 1 and opened[0].closed
