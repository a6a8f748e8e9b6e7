"""``until_revoked``: however a live stream ends, its source is closed cleanly."""

from __future__ import annotations

import asyncio

import pytest

from campy.web.revoke import until_revoked


class Source:
    """An endless source that waits for items, like the events broadcast's ``listen()``."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.closed = False

    async def listen(self):
        try:
            while True:
                yield await self.queue.get()
        finally:
            self.closed = True


async def _consume(stream, got: list[int], first: asyncio.Event) -> None:
    async for item in stream:
        got.append(item)
        first.set()


def test_a_consumer_cancelled_while_waiting_closes_the_source_without_error():
    asyncio.run(_cancelled_while_waiting())


async def _cancelled_while_waiting():
    """What happens when a browser leaves the events page: the server cancels the response
    task while the stream waits for the next item (this raised "aclose(): asynchronous
    generator is already running" before)."""
    src, revoked, got, first = Source(), asyncio.Event(), [], asyncio.Event()
    task = asyncio.create_task(_consume(until_revoked(src.listen(), revoked), got, first))
    src.queue.put_nowait(1)
    await first.wait()  # the stream is now waiting for item 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == [1] and src.closed


def test_revocation_ends_the_stream_and_closes_the_source():
    asyncio.run(_revoked())


async def _revoked():
    src, revoked, got, first = Source(), asyncio.Event(), [], asyncio.Event()
    task = asyncio.create_task(_consume(until_revoked(src.listen(), revoked), got, first))
    src.queue.put_nowait(1)
    await first.wait()
    revoked.set()
    await task  # ends normally
    assert got == [1] and src.closed
