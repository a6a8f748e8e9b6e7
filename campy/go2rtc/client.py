"""The one client for go2rtc's HTTP API.

Every call goes through one ``asyncio.Lock``: go2rtc reads and deletes its stream map
without a lock in some handlers (reference sheet §3.6), so CamPy never sends two calls at
once. Transport, status and decoding failures all become ``Go2rtcError``, with any camera
secret masked from the text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import httpx
import msgspec

from campy.go2rtc.models import ApiInfo, Stream
from campy.streams import scrub


class Go2rtcError(Exception):
    """A go2rtc API call failed; ``status`` is the HTTP status (0 for transport errors)."""

    def __init__(self, message: str, *, status: int = 0, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class Go2rtcClient:
    def __init__(self, base_url: str, *, auth: tuple[str, str] | None = None, timeout: float = 5.0,
                 secrets: Callable[[], list[str]] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, auth=auth, timeout=timeout)
        self._lock = asyncio.Lock()
        self._secrets = secrets or list

    async def aclose(self) -> None:
        await self._http.aclose()

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets())

    async def _call(self, method: str, path: str, *, params: Iterable[tuple[str, str]] = (),
                    timeout: float | None = None) -> httpx.Response:
        async with self._lock:
            try:
                r = await self._http.request(
                    method, path, params=list(params),
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
            except httpx.HTTPError as err:
                raise Go2rtcError(f"go2rtc {method} {path}: {self._scrub(str(err)) or type(err).__name__}") from err
        if r.status_code >= 400:
            detail = self._scrub(r.text.strip())[:500]
            raise Go2rtcError(f"go2rtc {method} {path}: HTTP {r.status_code}: {detail}",
                              status=r.status_code, detail=detail)
        return r

    @staticmethod
    def _decode(r: httpx.Response, typ: type) -> object:
        try:
            return msgspec.json.decode(r.content, type=typ)
        except msgspec.DecodeError as err:
            raise Go2rtcError(f"go2rtc answered {r.request.url.path} with unexpected JSON: {err}") from err

    async def info(self) -> ApiInfo:
        return self._decode(await self._call("GET", "/api"), ApiInfo)  # type: ignore[return-value]

    async def streams(self) -> dict[str, Stream]:
        r = await self._call("GET", "/api/streams")
        if not r.content.strip() or r.content.strip() == b"null":
            return {}
        return self._decode(r, dict[str, Stream])  # type: ignore[return-value]

    async def stream(self, name: str) -> Stream:
        return self._decode(await self._call("GET", "/api/streams", params=[("src", name)]), Stream)  # type: ignore[return-value]

    async def probe(self, name: str, *, timeout: float = 6.0) -> Stream:
        """Connect to the camera behind ``name`` now (an active probe) and report it.

        Raises ``Go2rtcError`` with go2rtc's reason when the camera cannot be reached or
        refuses the credentials.
        """
        r = await self._call("GET", "/api/streams",
                             params=[("src", name), ("video", "all"), ("audio", "all")], timeout=timeout)
        return self._decode(r, Stream)  # type: ignore[return-value]

    async def put_stream(self, name: str, sources: Iterable[str]) -> None:
        params = [("name", name)] + [("src", s) for s in sources]
        await self._call("PUT", "/api/streams", params=params)

    async def delete_stream(self, name: str) -> None:
        try:
            await self._call("DELETE", "/api/streams", params=[("src", name)])
        except Go2rtcError as err:
            # go2rtc removes the stream from memory first, then from its first config file.
            # CamPy makes that file /dev/null (see server.py), where the key never exists,
            # so go2rtc answers 400 "path not exist" after a successful removal (verified).
            if not (err.status == 400 and "path not exist" in err.detail):
                raise

    async def preloads(self) -> dict[str, object]:
        r = await self._call("GET", "/api/preload")
        if not r.content.strip() or r.content.strip() == b"null":
            return {}
        return self._decode(r, dict[str, object])  # type: ignore[return-value]

    async def put_preload(self, name: str, query: str = "video&audio") -> None:
        params = [("src", name)] + [(k, "") for k in query.split("&") if k]
        # go2rtc dials the camera inside this request (its dial timeout is 5 s), then waits
        # for the session to start: allow for both.
        await self._call("PUT", "/api/preload", params=params, timeout=12.0)

    async def delete_preload(self, name: str) -> None:
        await self._call("DELETE", "/api/preload", params=[("src", name)])

    async def schemes(self) -> list[str]:
        return self._decode(await self._call("GET", "/api/schemes"), list[str])  # type: ignore[return-value]

    async def get_text(self, path: str) -> bytes:
        """A static file of go2rtc's (the player modules)."""
        return (await self._call("GET", path)).content
