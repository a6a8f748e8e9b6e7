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


def test_state_stays_bounded_with_many_distinct_keys():
    clock = ManualClock(100.0)
    lim = LoginLimiter(limit=10, window_s=300, max_keys=10_000, clock=clock)
    for i in range(100_000):
        lim.failed(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", f"user-{i}-" + "x" * 500)
    assert len(lim) <= 10_000
    # keys are cut: a 500-character username is not kept whole
    assert max(len(k) for k in lim._hits) <= 70


def test_an_attempt_is_counted_before_the_password_is_checked():
    lim = LoginLimiter(limit=3, window_s=60, clock=ManualClock(100.0))
    attempts = [lim.reserve("1.2.3.4", "admin") for _ in range(5)]  # five in flight at once
    assert [isinstance(a, int) for a in attempts] == [False, False, False, True, True]
    # a right password gives its reservation back (and clears the address)
    lim.succeeded(attempts[0])
    assert lim.blocked_for("9.9.9.9", "admin") == 0
    assert lim.blocked_for("1.2.3.4", "vera") == 0


def test_a_device_cookie_holder_has_its_own_limit():
    lim = LoginLimiter(limit=3, window_s=60, clock=ManualClock(100.0))
    for _ in range(3):
        lim.reserve("6.6.6.6", "admin")
    assert lim.blocked_for("7.7.7.7", "admin") > 0             # the username, from anywhere else
    assert lim.blocked_for("7.7.7.7", "admin", device="d1") == 0  # but not for admin's own browser
    for _ in range(3):
        lim.reserve("8.8.8.8", "admin", device="d1")
    assert lim.blocked_for("5.5.5.5", "admin", device="d1") > 0  # a stolen cookie is limited too


def test_device_cookies_are_signed_and_name_their_user(tmp_path):
    from campy.web.throttle import DeviceCookies

    dc = DeviceCookies.from_file(tmp_path / "device.secret")
    assert (tmp_path / "device.secret").stat().st_mode & 0o777 == 0o600
    cookie = dc.issue("Admin")
    assert dc.device_for(cookie, "admin")
    assert dc.device_for(cookie, "vera") is None
    name, device, mac = cookie.split(".")
    assert dc.device_for(f"{name}.{device}x.{mac}", "admin") is None
    assert DeviceCookies.from_file(tmp_path / "device.secret").device_for(cookie, "admin")  # survives restart
