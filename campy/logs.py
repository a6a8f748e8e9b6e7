"""CamPy's logs: stderr and a rotating file in the data dir (``<data_dir>/logs/campy.log``),
plain text or JSON lines, with secrets masked in every record on every handler; the recent
warnings and errors stay in memory (``RecentLog``) for the system page.

``install`` wires this into the root logger for a running ``Runtime``; ``uninstall`` undoes it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FORMATS = ("plain", "json")
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

# Credentials in text whatever their value: URL userinfo, key=value parameters, bearer tokens.
_URL_CREDS = re.compile(r"([a-zA-Z][\w+.-]*://[^\s:/@]*):[^\s/@]+@")
_PARAMS = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|api_key|apikey|access_token)=[^\s&\"']+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
MAX_MESSAGE_CHARS = 4000  # what the in-memory list keeps of one message


def mask_patterns(text: str) -> str:
    """Mask credentials recognisable by their shape (the runtime masks the known values)."""
    # Cheap tests first: most lines hold none of these characters.
    if "@" in text:
        text = _URL_CREDS.sub(r"\1:***@", text)
    if "=" in text:
        text = _PARAMS.sub(r"\1=***", text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(r"\1***", text)
    return text


class ScrubFilter(logging.Filter):
    """Rewrites a record in place: message, exception text, stack and string extras pass
    through ``scrub`` (the runtime's secret values) and ``mask_patterns``. Runs on every
    handler; a record is cleaned once."""

    def __init__(self, scrub: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.scrub = scrub or (lambda s: s)

    def clean(self, text: str) -> str:
        try:
            text = self.scrub(text)
        except Exception:  # a scrubber that fails must not drop the record  # noqa: BLE001
            pass
        return mask_patterns(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_campy_clean", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad format arguments: keep what there is  # noqa: BLE001
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.clean(value))
        record._campy_clean = True
        return True


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller added with ``extra=`` (e.g. ``camera``)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the extras, exc when any."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"ts": iso_ms(record.created), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        doc.update({k: v for k, v in extras(record).items() if k not in doc})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return json.dumps(doc, default=str, ensure_ascii=False)


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are created 0600 whatever the umask."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
        except OSError:  # not ours to change (a file another user made)
            pass
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


@dataclass
class Entry:
    """One distinct warning or error; repeats add to ``count`` and move ``last``."""

    level: str
    levelno: int
    logger: str
    message: str
    camera: str | None
    exc: str | None
    first: float
    last: float
    count: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "logger": self.logger, "message": self.message,
                "camera": self.camera, "exc": self.exc, "count": self.count,
                "first_ms": int(self.first * 1000), "last_ms": int(self.last * 1000)}


class RecentLog(logging.Handler):
    """The last ``size`` distinct WARNING+ records, identical ones collapsed into one entry."""

    def __init__(self, size: int = 500, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.size = size
        self._entries: OrderedDict[tuple[int, str, str], Entry] = OrderedDict()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()[:MAX_MESSAGE_CHARS]
            exc = (record.exc_text or "").strip().splitlines()
            camera = getattr(record, "camera", None)
            key = (record.levelno, record.name, message)
            with self._guard:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.count += 1
                    entry.last = record.created
                    self._entries.move_to_end(key)
                    return
                self._entries[key] = Entry(record.levelname, record.levelno, record.name, message,
                                           str(camera) if camera is not None else None,
                                           exc[-1][:500] if exc else None, record.created, record.created)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        except Exception:  # noqa: BLE001
            self.handleError(record)

    def entries(self, *, level: str = "", logger: str = "", camera: str = "", q: str = "",
                limit: int = 200) -> list[Entry]:
        """Newest first. ``level``: the least level (warning, error, critical); ``logger``: a
        logger name or its prefix; ``camera``: the record's camera; ``q``: text anywhere
        (message, logger, camera, exception), case-insensitive."""
        least = logging.getLevelName(level.upper()) if level else logging.WARNING
        if not isinstance(least, int):
            least = logging.WARNING
        needle = q.lower()
        with self._guard:
            items = list(self._entries.values())
        out: list[Entry] = []
        for e in reversed(items):
            if e.levelno < least:
                continue
            if logger and not (e.logger == logger or e.logger.startswith(logger + ".")):
                continue
            if camera and e.camera != camera:
                continue
            if needle and needle not in " ".join(
                    (e.message, e.logger, e.camera or "", e.exc or "")).lower():
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out

    def loggers(self) -> list[str]:
        with self._guard:
            return sorted({e.logger for e in self._entries.values()})

    def cameras(self) -> list[str]:
        with self._guard:
            return sorted({e.camera for e in self._entries.values() if e.camera})


@dataclass
class Installed:
    """What ``install`` changed, so ``uninstall`` can put it back."""

    handlers: list[logging.Handler]
    formatters: list[tuple[logging.Handler, logging.Formatter | None]]
    scrub_filter: ScrubFilter
    path: Path | None


def log_path(data_dir: Path) -> Path:
    return data_dir / "logs" / "campy.log"


def install(*, data_dir: Path, log_format: str, max_bytes: int, files: int,
            scrub: Callable[[str], str], recent: RecentLog) -> Installed:
    """Add the file and the in-memory handlers to the root logger; give stderr's handler the
    format; mask secrets on all of them."""
    root = logging.getLogger()
    fmt: logging.Formatter = JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT)
    filt = ScrubFilter(scrub)
    streams: list[logging.Handler] = [h for h in root.handlers if type(h) is logging.StreamHandler]
    formatters = [(h, h.formatter) for h in streams]
    for h in streams:
        h.setFormatter(fmt)
        h.addFilter(filt)
    added: list[logging.Handler] = [recent]
    path: Path | None = log_path(data_dir)
    try:
        assert path is not None
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        # files = every file kept: campy.log and files - 1 rotated ones.
        fh = PrivateRotatingFileHandler(path, maxBytes=max_bytes, backupCount=max(1, files - 1),
                                        encoding="utf-8")
        fh.setFormatter(fmt)
        added.insert(0, fh)
    except OSError as err:  # stderr still works: never a reason not to start
        log.warning("cannot write the log file %s: %s", path, err)
        path = None
    for handler in added:
        handler.addFilter(filt)
        root.addHandler(handler)
    return Installed(added, formatters, filt, path)


def uninstall(done: Installed) -> None:
    root = logging.getLogger()
    for h in done.handlers:
        root.removeHandler(h)
        h.removeFilter(done.scrub_filter)
        if isinstance(h, logging.FileHandler):
            h.close()
    for h, old in done.formatters:
        h.removeFilter(done.scrub_filter)
        h.setFormatter(old)
