"""Config errors: every issue names the key path and the YAML line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: ``path`` like ``cameras.front_door.main``, ``line`` 1-based or None."""

    path: str
    line: int | None
    message: str
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else (self.file or "config")
        return f"{where}: {self.path or '(top)'}: {self.message}"


class ConfigError(Exception):
    """campy.yaml (or a write-back) is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue], file: Path | str | None = None) -> None:
        self.file = str(file) if file else ""
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))
