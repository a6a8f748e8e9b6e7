"""Picking up edits made to campy.yaml while CamPy runs (a cheap stat poll)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from campy.config.errors import ConfigError
from campy.config.store import ConfigChange, ConfigStore

log = logging.getLogger(__name__)


def _stamp(path: os.PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


async def watch(store: ConfigStore, on_change: Callable[[ConfigChange], Awaitable[None]], *,
                interval: float = 1.0, settle: float = 0.25,
                on_error: Callable[[ConfigError], Awaitable[None]] | None = None) -> None:
    """Poll the file; on a valid change call ``on_change``, on a broken one ``on_error``.

    Polls stat (mtime, size) every ``interval`` s and re-reads only when it moved and then
    held still for ``settle`` s; the store compares content hashes, so touching the file
    without changing it does nothing.
    """
    last = _stamp(store.path)
    last_error_fp: str | None = None
    while True:
        await asyncio.sleep(interval)
        now = _stamp(store.path)
        if now == last:
            continue
        # An editor that truncates and then writes leaves a short (maybe valid, e.g. with no
        # cameras) file for a moment: read only once the file has stopped changing.
        for _ in range(8):
            await asyncio.sleep(settle)
            again = _stamp(store.path)
            if again == now:
                break
            now = again
        last = now
        try:
            change = store.reload()
        except Exception:
            log.exception("reloading %s failed", store.path)
            continue
        if change is not None:
            last_error_fp = None
            try:
                await on_change(change)
            except Exception:
                log.exception("applying the config change failed")
        elif store.error is not None and on_error is not None and store.fingerprint() != last_error_fp:
            last_error_fp = store.fingerprint()
            try:
                await on_error(store.error)
            except Exception:
                log.exception("config error callback failed")
