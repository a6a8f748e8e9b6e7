"""The ``backup:`` section of campy.yaml: the nightly backup (docs/backup.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec


class BackupRaw(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    at: str = "03:15"  # local time (server.timezone), HH:MM
    keep_days: float = 14.0
    path: str | None = None  # default: <server.data_dir>/backups


class BackupConfig(msgspec.Struct, frozen=True):
    enabled: bool = True
    hour: int = 3
    minute: int = 15
    keep_days: float = 14.0
    path: Path | None = None  # None: <server.data_dir>/backups

    @property
    def at(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def build_backup(raw: BackupRaw, *, base: Path, issue: Any) -> BackupConfig:
    """The checked settings; problems go to ``issue(path, message)``."""
    hour, minute = 3, 15
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", raw.at.strip())
    if m and int(m[1]) < 24 and int(m[2]) < 60:
        hour, minute = int(m[1]), int(m[2])
    else:
        issue(["backup", "at"], "must be a time of day as HH:MM (local time), e.g. \"03:15\"")
    if not 0 < raw.keep_days <= 3650:
        issue(["backup", "keep_days"], "must be more than 0 and at most 3650 days")
    return BackupConfig(enabled=raw.enabled, hour=hour, minute=minute, keep_days=raw.keep_days,
                        path=(base / raw.path).resolve() if raw.path else None)
