"""Making go2rtc's streams match CamPy's specs, touching only the difference.

go2rtc's ``/api/streams`` masks registered secrets, so its URLs cannot be compared with
CamPy's. The reconciler therefore remembers the fingerprint of what it applied to each
stream (``mark_loaded_from_config`` after go2rtc loaded the generated file). A stream go2rtc
lacks, or whose fingerprint changed, is PUT; one go2rtc has but no spec wants is DELETEd,
unless ``keep`` claims it (the live view's per-viewer streams of this run, campy/web/viewers.py).
Preloads (kept-warm sub streams) follow the same rule. Safe to run again at any time; it
never restarts go2rtc.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from campy.go2rtc.client import Go2rtcError
from campy.streams import StreamSpec

log = logging.getLogger(__name__)


@dataclass
class ReconcileResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def wants_preload(spec: StreamSpec) -> bool:
    return spec.role == "sub"


class Reconciler:
    def __init__(self, client: Any, *, scrub: Callable[[str], str] = str,
                 keep: Callable[[str], bool] = lambda name: False) -> None:
        self._client = client
        self._scrub = scrub  # stream names carry a secret suffix
        self._keep = keep  # streams no spec wants that are not ours to remove (live viewers)
        self._applied: dict[str, str] = {}

    def mark_loaded_from_config(self, specs: Mapping[str, StreamSpec]) -> None:
        """go2rtc just (re)started from a generated config holding exactly ``specs``."""
        self._applied = {name: spec.fingerprint() for name, spec in specs.items()}

    async def reconcile(self, specs: Mapping[str, StreamSpec]) -> ReconcileResult:
        result = ReconcileResult()
        current = await self._client.streams()
        for name in sorted(set(current) - set(specs)):
            if self._keep(name):
                continue
            try:
                await self._client.delete_stream(name)
                self._applied.pop(name, None)
                result.removed.append(name)
            except Go2rtcError as err:
                result.errors[name] = str(err)
        for name, spec in sorted(specs.items()):
            fp = spec.fingerprint()
            if name in current and self._applied.get(name) == fp:
                continue
            try:
                await self._client.put_stream(name, spec.resolved())
                (result.changed if name in current else result.added).append(name)
                self._applied[name] = fp
            except Go2rtcError as err:
                result.errors[name] = str(err)
        await self._reconcile_preloads(specs, result)
        if result.touched or result.errors:
            log.info("%s", self._scrub(
                f"reconciled go2rtc: added {result.added}, changed {result.changed}, "
                f"removed {result.removed}, errors {list(result.errors)}"))
        return result

    async def _reconcile_preloads(self, specs: Mapping[str, StreamSpec], result: ReconcileResult) -> None:
        try:
            current = set(await self._client.preloads())
        except Go2rtcError as err:
            result.errors["preload"] = str(err)
            return
        wanted = {n for n, s in specs.items() if wants_preload(s)}
        # A replaced stream needs its preload consumer re-attached to the new producer.
        refresh = wanted & set(result.changed)
        for name in sorted((current - wanted) | (refresh & current)):
            try:
                await self._client.delete_preload(name)
                current.discard(name)
            except Go2rtcError as err:
                result.errors[f"preload {name}"] = str(err)
        for name in sorted(wanted - current):
            try:
                await self._client.put_preload(name, "video&audio")
            except Go2rtcError as err:
                result.errors[f"preload {name}"] = str(err)
