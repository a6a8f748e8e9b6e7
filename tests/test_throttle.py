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
    attempts = [lim.try_reserve("1.2.3.4", "admin") for _ in range(5)]  # five at once
    assert [type(a).__name__ for a in attempts] == ["Attempt"] * 3 + ["NoneType"] * 2  # two must wait
    lim._settle(attempts[0], ok=False)
    lim._settle(attempts[1], ok=False)
    assert lim.try_reserve("1.2.3.4", "admin") is None  # 2 failures + 1 in flight
    lim._settle(attempts[2], ok=False)
    assert lim.try_reserve("1.2.3.4", "admin") == 60  # 3 failures: refused outright
    assert lim.blocked_for("9.9.9.9", "vera") == 0


def test_parallel_wrong_guesses_verify_at_most_the_limit_and_right_ones_all_get_in():
    import asyncio

    async def main(passwords: list[bool]) -> list[str]:
        lim = LoginLimiter(limit=10, window_s=300, clock=ManualClock(100.0))

        async def login(ok: bool) -> str:
            got = await lim.acquire("1.2.3.4", "admin")
            if isinstance(got, int):
                return "429"
            await asyncio.sleep(0.01)  # argon2
            await lim.settle(got, ok=ok)
            return "303" if ok else "401"

        return await asyncio.gather(*(login(ok) for ok in passwords))

    wrong = asyncio.run(main([False] * 40))
    assert (wrong.count("401"), wrong.count("429")) == (10, 30)
    right = asyncio.run(main([True] * 40))
    assert right == ["303"] * 40


def test_a_device_cookie_holder_has_its_own_limit():
    lim = LoginLimiter(limit=3, window_s=60, clock=ManualClock(100.0))
    for _ in range(3):
        lim.failed("6.6.6.6", "admin")
    assert lim.blocked_for("7.7.7.7", "admin") > 0             # the username, from anywhere else
    assert lim.blocked_for("7.7.7.7", "admin", device="d1") == 0  # but not for admin's own browser
    for _ in range(3):
        lim.failed("8.8.8.8", "admin", device="d1")
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
