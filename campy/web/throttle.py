"""Slowing down password guessing: failed logins per client address and per username.

After ``limit`` failures within ``window_s`` seconds, from one address or against one
username, further attempts are refused (429) until the window has passed. Counts live in
memory: a restart forgets them, which costs a guesser a restart of CamPy, not much else.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque

from campy.clock import Clock


class LoginLimiter:
    def __init__(self, *, limit: int = 10, window_s: float = 300.0, clock: Clock | None = None) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock or Clock()
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        q = self._failures[key]
        cutoff = self._clock.monotonic() - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def blocked_for(self, client: str, username: str) -> int:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        waits = []
        for key in (f"ip:{client}", f"user:{username.lower()}"):
            q = self._recent(key)
            if len(q) >= self.limit:
                waits.append(q[0] + self.window_s - self._clock.monotonic())
        return max(0, math.ceil(max(waits))) if waits else 0

    def failed(self, client: str, username: str) -> None:
        now = self._clock.monotonic()
        self._recent(f"ip:{client}").append(now)
        self._recent(f"user:{username.lower()}").append(now)

    def succeeded(self, client: str, username: str) -> None:
        self._failures.pop(f"ip:{client}", None)
