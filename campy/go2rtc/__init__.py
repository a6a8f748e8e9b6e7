"""go2rtc, owned by CamPy: install, generated config, supervisor, API client, reconcile.

Names are imported lazily so ``python -m campy.go2rtc.install`` runs with the standard
library alone (before CamPy's dependencies are installed).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Go2rtcClient": "campy.go2rtc.client",
    "Go2rtcError": "campy.go2rtc.client",
    "Go2rtcServer": "campy.go2rtc.server",
    "InstallError": "campy.go2rtc.install",
    "find_binary": "campy.go2rtc.install",
    "Reconciler": "campy.go2rtc.reconcile",
    "ReconcileResult": "campy.go2rtc.reconcile",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
