"""Slowing down password guessing, without letting a guesser lock the real user out.

Counts, per key, the failed logins of the last ``window_s`` seconds. A login *reserves*
an attempt on its keys before the password is hashed (``acquire``) and settles it after
(``settle``): failures plus attempts in flight never exceed ``limit`` on a key, so parallel
requests cannot get more than ``limit`` wrong guesses verified per window. A login that
finds the limit taken up by attempts still in flight waits for them (right passwords in
parallel all get in); one that finds it taken up by failures gets a 429 at once.

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

import asyncio
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
    """A reserved login attempt: the keys it counts against."""

    keys: tuple[str, ...]


class LoginLimiter:
    def __init__(self, *, limit: int = 10, window_s: float = 300.0, max_keys: int = 10_000,
                 clock: Clock | None = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock or Clock()
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()  # failure times per key
        self._inflight: dict[str, int] = {}  # attempts being verified, per key
        self._changed: asyncio.Condition | None = None

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
        """Seconds until another attempt is allowed by the failures alone (0 = allowed now)."""
        now = self._clock.monotonic()
        waits = []
        for key in self.keys(client, username, device):
            q = self._recent(key, now)
            if q is not None and len(q) >= self.limit:
                waits.append(q[0] + self.window_s - now)
        return max(1, math.ceil(max(waits))) if waits else 0

    def try_reserve(self, client: str, username: str, device: str | None = None) -> Attempt | int | None:
        """An attempt reserved now; or the seconds to wait (429); or None: the limit is
        taken up by attempts still being verified, so try again when one settles."""
        wait = self.blocked_for(client, username, device)
        if wait:
            return wait
        keys = self.keys(client, username, device)
        if any(len(self._hits.get(k, ())) + self._inflight.get(k, 0) >= self.limit for k in keys):
            return None
        for key in keys:
            self._inflight[key] = self._inflight.get(key, 0) + 1
        return Attempt(keys)

    async def acquire(self, client: str, username: str, device: str | None = None, *,
                      timeout_s: float = 30.0) -> Attempt | int:
        """``try_reserve``, waiting (at most ``timeout_s``) while attempts are in flight."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._changed:
            while True:
                got = self.try_reserve(client, username, device)
                if got is not None:
                    return got
                left = deadline - loop.time()
                if left <= 0:
                    return 5
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass

    def _settle(self, attempt: Attempt, *, ok: bool) -> None:
        for key in attempt.keys:
            n = self._inflight.get(key, 0) - 1
            if n > 0:
                self._inflight[key] = n
            else:
                self._inflight.pop(key, None)
        if ok:
            # A typo or two from a shared address does not linger after a good login.
            self._hits.pop(attempt.keys[0], None)
        else:
            self._record(attempt.keys)

    async def settle(self, attempt: Attempt, *, ok: bool) -> None:
        """The password was checked: count a failure, or clear the address's failures."""
        self._settle(attempt, ok=ok)
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    def _record(self, keys: tuple[str, ...]) -> None:
        now = self._clock.monotonic()
        for key in keys:
            q = self._hits.get(key)
            if q is None:
                q = self._hits[key] = deque(maxlen=self.limit)
            else:
                self._hits.move_to_end(key)
            q.append(now)
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)

    def failed(self, client: str, username: str, device: str | None = None) -> None:
        """Count a failed login (without a reservation)."""
        self._record(self.keys(client, username, device))


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
