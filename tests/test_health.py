"""Per-camera state from go2rtc's statistics, driven by a scripted client and a fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from campy.clock import ManualClock
from campy.go2rtc import Go2rtcError
from campy.go2rtc.models import Codec, Connection, Stream, Track
from campy.health import AUTH_FAILED, DISABLED, OFFLINE, ONLINE, UNKNOWN, HealthMonitor, classify_error
from campy.streams import StreamSpec


@pytest.mark.parametrize("text, state", [
    ("go2rtc GET /api/streams: HTTP 500: streams: wrong user/pass", AUTH_FAILED),
    ("streams: dial tcp 127.0.0.1:9: connect: connection refused", OFFLINE),
    ("streams: i/o timeout", OFFLINE),
    ("RTSP/1.0 401 Unauthorized", AUTH_FAILED),
    ("RTSP/1.0 403", AUTH_FAILED),
    # a port that contains "401" is not an authentication failure (seen in CI: flaky test)
    ("go2rtc GET /api/streams: HTTP 500: streams: dial tcp 127.0.0.1:40147: connect: connection refused", OFFLINE),
    ("dial tcp 127.0.0.1:14030: i/o timeout", OFFLINE),
])
def test_classify_error(text, state):
    assert classify_error(text) == state


@dataclass
class Cam:
    enabled: bool = True


class ScriptedClient:
    def __init__(self) -> None:
        self.bytes = 0
        self.down = False
        self.probe_error: str | None = None
        self.probes = 0

    async def streams(self):
        if self.down:
            raise Go2rtcError("connection refused")
        prod = Connection(id=1, bytes_recv=self.bytes,
                          receivers=[Track(codec=Codec(codec_name="H264", codec_type="video"))])
        return {"a_sub": Stream(producers=[prod], consumers=[Connection(format_name="mse/fmp4")]),
                "a": Stream(producers=[Connection(url="rtsp://x", receivers=[Track(codec=Codec(codec_name="H265"))])])}

    async def probe(self, name, timeout=6.0):
        self.probes += 1
        if self.probe_error:
            raise Go2rtcError(self.probe_error)
        return Stream(producers=[Connection(receivers=[Track(codec=Codec(codec_name="HEVC", codec_type="video"))])])


def _monitor(client, clock, cams):
    specs = {"a": StreamSpec("a", "a", "main", ("rtsp://x",)), "a_sub": StreamSpec("a_sub", "a", "sub", ("rtsp://y",))}
    return HealthMonitor(client, cameras=lambda: cams, specs=lambda: specs, scrub=lambda s: s, clock=clock)


def test_states_follow_bytes_probes_and_go2rtc():
    client, clock, cams = ScriptedClient(), ManualClock(1000.0), {"a": Cam()}
    mon = _monitor(client, clock, cams)

    async def step(advance=2.0):
        clock.t += advance
        await mon.poll_once()
        return mon.get("a")

    async def scenario():
        client.bytes = 1000
        h = await step()  # first sample: nothing to diff yet → active probe succeeds
        assert h.state == ONLINE and client.probes == 1
        client.bytes = 1000 + 64_000
        h = await step()
        assert h.state == ONLINE and h.bitrate_kbps == pytest.approx(256.0) and h.viewers == 1
        assert h.main_codec == "H265"
        # bytes stop, the camera refuses the credentials
        client.probe_error = "streams: wrong user/pass"
        h = await step()
        assert h.state == AUTH_FAILED and "wrong user/pass" in h.message
        probes = client.probes
        h = await step(0.5)  # within the backoff: no new probe
        assert client.probes == probes
        # unreachable instead
        client.probe_error = "dial tcp: connection refused"
        h = await step(5)
        assert h.state == OFFLINE
        # go2rtc itself down
        client.down = True
        assert (await step()).state == UNKNOWN
        client.down, client.probe_error = False, None
        client.bytes += 10
        assert (await step(30)).state == ONLINE
        cams["a"].enabled = False
        assert mon.get("a").state == DISABLED

    asyncio.run(scenario())


def test_frozen_counters_with_a_consumer_mean_offline_even_if_the_probe_answers():
    """go2rtc keeps a dead producer in its list while it retries, and a probe of that stream
    answers 200 with the stale producer: the stall itself must turn the camera offline."""
    client, clock, cams = ScriptedClient(), ManualClock(1000.0), {"a": Cam()}
    mon = _monitor(client, clock, cams)

    async def stale_probe(name, timeout=6.0):  # go2rtc answers with the same dead producer
        client.probes += 1
        return (await client.streams())[name]

    async def step(advance=2.0):
        clock.t += advance
        await mon.poll_once()
        return mon.get("a")

    async def scenario():
        client.bytes = 1000
        await step()
        client.probe = stale_probe
        client.bytes += 50_000
        assert (await step()).state == ONLINE
        # the camera vanishes: counters freeze, the probe keeps answering (stale)
        assert (await step()).state == ONLINE
        assert (await step()).state == ONLINE
        h = await step(4)
        assert h.state == OFFLINE and "no data from the camera" in h.message
        client.bytes += 10
        assert (await step()).state == ONLINE

    asyncio.run(scenario())


def test_frozen_counters_and_a_probe_that_reconnects_mean_online():
    """An idle stream's producer is stopped with its old counters; a probe that makes go2rtc
    dial again shows a new connection (a new id): the camera is fine."""
    client, clock, cams = ScriptedClient(), ManualClock(1000.0), {"a": Cam()}
    mon = _monitor(client, clock, cams)

    async def fresh_probe(name, timeout=6.0):
        client.probes += 1
        return Stream(producers=[Connection(id=2, bytes_recv=0)])

    async def scenario():
        client.bytes = 1000
        clock.t += 2
        await mon.poll_once()
        client.probe = fresh_probe
        for _ in range(6):  # 12 s of frozen counters, each probe reconnecting
            clock.t += 2
            await mon.poll_once()
            assert mon.get("a").state == ONLINE

    asyncio.run(scenario())
