"""Slowing down password guessing, without letting a guesser lock the real user out.

Counts, per key, the failed logins of the last ``window_s`` seconds. A login *reserves*
an attempt on its keys before the password is hashed and gives it back on success, so
parallel requests cannot get more than ``limit`` wrong guesses verified per window.

Keys (docs/security.md, "Login throttling"):

- ``ip:<address>``: every attempt from that client address;
- ``user:<name>``: attempts against a username from clients that do **not** hold a valid
  device cookie for it (a guesser from anywhere);
- ``dev:<id>``: attempts from a browser that holds a device cookie for that username
  (set at each successful login), so guessing elsewhere does not lock that browser out.

State is bounded: at most ``max_keys`` keys (the least recently used is evicted), each
holding at most ``limit`` times, and keys are short (usernames are cut to 64 characters).
Counts live in memory: a restart forgets them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from campy.clock import Clock

MAX_USERNAME_CHARS = 64
MAX_PASSWORD_BYTES = 1024
MAX_LOGIN_BODY_BYTES = 16 * 1024
DEVICE_COOKIE = "campy_device"
DEVICE_COOKIE_MAX_AGE_S = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved login attempt: the keys it counts against and its time."""

    keys: tuple[str, ...]
    at: float


class LoginLimiter:
    def __init__(self, *, limit: int = 10, window_s: float = 300.0, max_keys: int = 10_000,
                 clock: Clock | None = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock or Clock()
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._hits)

    @staticmethod
    def keys(client: str, username: str, device: str | None = None) -> tuple[str, ...]:
        """The keys of an attempt; ``device`` is the id of a valid device cookie for ``username``."""
        second = f"dev:{device}" if device else f"user:{username.lower()[:MAX_USERNAME_CHARS]}"
        return (f"ip:{client[:64]}", second)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        q = self._hits.get(key)
        if q is None:
            return None
        cutoff = now - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        if not q:
            del self._hits[key]
            return None
        return q

    def blocked_for(self, client: str, username: str, device: str | None = None) -> int:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        now = self._clock.monotonic()
        waits = []
        for key in self.keys(client, username, device):
            q = self._recent(key, now)
            if q is not None and len(q) >= self.limit:
                waits.append(q[0] + self.window_s - now)
        return max(1, math.ceil(max(waits))) if waits else 0

    def reserve(self, client: str, username: str, device: str | None = None) -> Attempt | int:
        """Count an attempt now (before the password is checked); or the seconds to wait."""
        wait = self.blocked_for(client, username, device)
        if wait:
            return wait
        now = self._clock.monotonic()
        keys = self.keys(client, username, device)
        for key in keys:
            q = self._hits.get(key)
            if q is None:
                q = self._hits[key] = deque(maxlen=self.limit)
            else:
                self._hits.move_to_end(key)
            q.append(now)
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: give the attempt back and forget the address's failures
        (a typo or two from a shared address does not linger)."""
        self._hits.pop(attempt.keys[0], None)
        for key in attempt.keys[1:]:
            q = self._hits.get(key)
            if q is not None:
                try:
                    q.remove(attempt.at)
                except ValueError:
                    pass
                if not q:
                    del self._hits[key]

    # The old two-call interface, kept for callers that verify before counting.
    def failed(self, client: str, username: str, device: str | None = None) -> None:
        self.reserve(client, username, device)


class DeviceCookies:
    """HMAC-signed ``<username>.<device id>.<mac>`` values naming a browser that logged in."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_file(cls, path: Path) -> DeviceCookies:
        """The secret kept in ``path`` (made at first use, mode 0600)."""
        if path.exists():
            return cls(bytes.fromhex(path.read_text().strip()))
        value = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value.hex())
        return cls(value)

    def _mac(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, username: str) -> str:
        name = base64.urlsafe_b64encode(username.lower().encode()).decode().rstrip("=")
        payload = f"{name}.{secrets.token_hex(12)}"
        return f"{payload}.{self._mac(payload)}"

    def device_for(self, cookie: str | None, username: str) -> str | None:
        """The device id if ``cookie`` is valid and names ``username``, else None."""
        if not cookie or len(cookie) > 300:
            return None
        parts = cookie.split(".")
        if len(parts) != 3:
            return None
        name, device, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{name}.{device}")):
            return None
        try:
            named = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return device if named == username.lower() else None
