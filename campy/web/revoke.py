"""Ending open streams when access is withdrawn.

A live WebSocket or an SSE stream is authorised once, when it opens. To end it when its
user is disabled or changes password, or its token or embed is revoked, the stream
``watch``es keys (``user:<id>``, ``token:<id>``, ``embed:<id>``) and stops when one of them
is revoked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio.to_thread

from campy.db.users import User

T = TypeVar("T")


def keys_for(user: User) -> list[str]:
    return [f"token:{user.token_id}"] if user.token_id else [f"user:{user.id}"]


class Revocations:
    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Event]] = {}

    @contextmanager
    def watch(self, keys: list[str]) -> Iterator[asyncio.Event]:
        """An event set when any of ``keys`` is revoked while the block runs."""
        event = asyncio.Event()
        for key in keys:
            self._watchers.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            for key in keys:
                watchers = self._watchers.get(key)
                if watchers is not None:
                    watchers.discard(event)
                    if not watchers:
                        del self._watchers[key]

    def revoke(self, key: str) -> int:
        """End every stream watching ``key``; returns how many there were. Loop thread only."""
        watchers = self._watchers.pop(key, set())
        for event in watchers:
            event.set()
        return len(watchers)

    def open_count(self, key: str) -> int:
        return len(self._watchers.get(key, ()))


async def until_revoked(source: AsyncIterator[T], revoked: asyncio.Event) -> AsyncIterator[T]:
    """Items of ``source`` until ``revoked`` is set (then the stream simply ends).

    However it ends (revoked, source exhausted, or the consumer cancelled because the client
    went away), a pending ``anext`` is cancelled and awaited before ``source`` is closed:
    closing a generator that is still running raises RuntimeError."""
    stop = asyncio.create_task(revoked.wait())
    nxt: asyncio.Future[T] | None = None
    try:
        while True:
            nxt = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                return
            try:
                item = nxt.result()
            except StopAsyncIteration:
                return
            nxt = None
            yield item
    finally:
        stop.cancel()
        if nxt is not None and not nxt.done():
            nxt.cancel()
            await asyncio.gather(nxt, return_exceptions=True)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def end_user_access(runtime: Any, user_id: int) -> tuple[int, int]:
    """End a user's sessions and close their open streams; returns (sessions, streams)."""
    sessions = await anyio.to_thread.run_sync(runtime.sessions.delete_for_user, user_id)
    streams = runtime.revocations.revoke(f"user:{user_id}")
    return sessions, streams
