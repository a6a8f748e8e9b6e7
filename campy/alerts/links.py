"""Signed, expiring links: one object (an event's snapshot or clip) opened without a login.

A link reads ``<path>?exp=<unix seconds>&sig=<signature>``, the signature being
HMAC-SHA256 over ``path`` and ``exp`` with a key made once per install and kept in
``<data_dir>/links.secret`` (mode 0600). It opens only that path (an event id is part of
the path), only until ``exp``. Deleting the key file invalidates every link given out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from campy.clock import Clock

KEY_FILE = "links.secret"
DEFAULT_TTL_S = 24 * 3600


def snapshot_path(event_id: int) -> str:
    return f"/signed/events/{event_id}/snapshot.jpg"


def clip_path(event_id: int) -> str:
    return f"/signed/events/{event_id}/clip.mp4"


def _load_key(path: Path) -> bytes:
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


class LinkSigner:
    """Signs and checks links with the install's key (made on first use)."""

    def __init__(self, data_dir: Path, *, clock: Clock | None = None) -> None:
        self._key = _load_key(data_dir / KEY_FILE)
        self._clock = clock or Clock()

    def _sig(self, path: str, exp: int) -> str:
        mac = hmac.new(self._key, f"{path}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign(self, path: str, *, ttl_s: int = DEFAULT_TTL_S) -> tuple[str, int]:
        """``(path with exp and sig, expiry in epoch ms)``."""
        exp = self._clock.now_ms() // 1000 + int(ttl_s)
        return f"{path}?exp={exp}&sig={self._sig(path, exp)}", exp * 1000

    def refusal(self, path: str, exp: str | None, sig: str | None) -> str | None:
        """Why the link may not be opened, or None when it may."""
        if not exp or not sig:
            return "this link is not signed (exp and sig are missing); use the link from the alert as sent"
        try:
            exp_s = int(exp)
        except ValueError:
            return "this link's signature does not match; use the link from the alert as sent"
        if not hmac.compare_digest(self._sig(path, exp_s).encode(), sig.encode()):
            return "this link's signature does not match; use the link from the alert as sent"
        if exp_s * 1000 <= self._clock.now_ms():
            return "this link has expired; open the event in CamPy (log in) or wait for a new alert"
        return None
