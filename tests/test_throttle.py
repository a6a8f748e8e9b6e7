"""The login limiter's window, with a fake clock."""

from __future__ import annotations

from campy.clock import ManualClock
from campy.web.throttle import LoginLimiter


def test_blocks_after_the_limit_and_releases_after_the_window():
    clock = ManualClock(100.0)
    lim = LoginLimiter(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        assert lim.blocked_for("1.2.3.4", "admin") == 0
        lim.failed("1.2.3.4", "admin")
        clock.t += 1
    assert lim.blocked_for("1.2.3.4", "admin") == 57
    assert lim.blocked_for("5.6.7.8", "admin") == 57  # the username is blocked from anywhere
    assert lim.blocked_for("1.2.3.4", "vera") == 57   # and the address for any username
    assert lim.blocked_for("5.6.7.8", "vera") == 0
    clock.t += 57
    assert lim.blocked_for("1.2.3.4", "admin") == 0
