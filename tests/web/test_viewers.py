"""The per-viewer streams' bookkeeping and relay (campy/web/viewers.py), with a fake go2rtc
API and a plain TCP server standing in for go2rtc's RTSP server."""

from __future__ import annotations

import asyncio

from campy.go2rtc.models import Connection, Stream
from campy.go2rtc.reconcile import Reconciler
from campy.streams import StreamSpec
from campy.web.revoke import Revocations
from campy.web.viewers import Viewers


class FakeApi:
    def __init__(self) -> None:
        self.streams_: dict[str, Stream] = {}
        self.sources: dict[str, list[str]] = {}

    async def streams(self) -> dict[str, Stream]:
        return dict(self.streams_)

    async def put_stream(self, name, sources) -> None:
        self.sources[name] = list(sources)
        self.streams_[name] = Stream()

    async def delete_stream(self, name) -> None:
        self.streams_.pop(name, None)

    def consume(self, name) -> None:
        self.streams_[name] = Stream(consumers=[Connection(format_name="webrtc")])


async def _echo_upstream():
    """A TCP server that answers every chunk with b"<" + chunk."""
    async def handle(r, w):
        while data := await r.read(1024):
            w.write(b"<" + data)
            await w.drain()
        w.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _url_of(api, v):
    return api.sources[v.name][0]


async def _dial(url: str):
    hostport = url.split("//", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    w.write(f"OPTIONS {url} RTSP/1.0\r\n".encode())
    await w.drain()
    return r, w


def test_relay_serves_only_live_tokens_and_revocation_cuts_it():
    async def run():
        up, port = await _echo_upstream()
        api, rev = FakeApi(), Revocations()
        vs = Viewers(api, rev, upstream=lambda: ("127.0.0.1", port))
        await vs.start()
        v = await vs.open("back_sub", "back_sub__S", ["user:7"])
        url = _url_of(api, v)
        assert url.endswith("/back_sub__S?viewer=" + v.token) and vs.owns(v.name) and vs.count() == 1
        r, w = await _dial(url)
        assert (await r.readuntil(b"\r\n")).startswith(b"<OPTIONS")
        # A wrong token, or the right token for another stream's path, gets nothing.
        for bad in (url.replace(v.token, "x" * len(v.token)), url.replace("/back_sub__S?", "/front__S?")):
            r2, w2 = await _dial(bad)
            assert await r2.read() == b""
            w2.close()
        rev.revoke("user:7")
        assert await asyncio.wait_for(r.read(), 5) == b""  # the viewer's producer is cut off
        for _ in range(50):
            if v.name not in api.streams_:
                break
            await asyncio.sleep(0.02)
        assert v.name not in api.streams_ and not vs.owns(v.name) and vs.count() == 0
        r3, w3 = await _dial(url)  # go2rtc's reconnect is refused
        assert await r3.read() == b""
        # go2rtc logs the relay URL when the cut input drops: the ended viewer's token is
        # still among the values the log scrubber masks.
        from campy.streams import scrub
        assert v.token not in scrub(f"rtsp error: {url}: EOF", vs.recent_tokens())
        await vs.stop()
        up.close()
    asyncio.run(run())


def test_reaper_keeps_watched_streams_and_ends_idle_ones_after_grace():
    async def run():
        api = FakeApi()
        vs = Viewers(api, Revocations(), upstream=lambda: ("127.0.0.1", 9), grace=10)
        await vs.start()
        a = await vs.open("back_sub", "back_sub__S", ["user:1"])
        b = await vs.open("back_sub", "back_sub__S", ["user:2"])
        # While the WebSocket is open nothing is reaped, consumers or not.
        assert await vs.reap_once(now=0) == 0 and await vs.reap_once(now=100) == 0
        vs.socket_closed(a)
        vs.socket_closed(b)
        api.consume(a.name)  # a's player went WebRTC and closed its socket; b left
        assert await vs.reap_once(now=200) == 0
        assert await vs.reap_once(now=209) == 0
        assert await vs.reap_once(now=210) == 1
        assert vs.owns(a.name) and not vs.owns(b.name) and b.name not in api.streams_
        api.streams_[a.name] = Stream()  # the WebRTC peer went away
        assert await vs.reap_once(now=300) == 0 and await vs.reap_once(now=310) == 1
        assert vs.count() == 0
        await vs.stop()
    asyncio.run(run())


def test_reconciler_leaves_this_runs_viewer_streams_and_removes_old_ones():
    async def run():
        api = FakeApi()
        vs = Viewers(api, Revocations(), upstream=lambda: ("127.0.0.1", 9))
        await vs.start()
        spec = StreamSpec("back__S", "back", "main", ("rtsp://cam/x",))
        api.streams_["back__S"] = Stream()
        v = await vs.open("back", "back__S", ["user:1"])
        api.streams_["back__OLD__vleftover"] = Stream()  # a viewer stream of an earlier CamPy

        async def preloads():
            return {}
        api.preloads = preloads  # type: ignore[attr-defined]
        rec = Reconciler(api, keep=vs.owns)
        rec.mark_loaded_from_config({"back__S": spec})
        result = await rec.reconcile({"back__S": spec})
        assert result.removed == ["back__OLD__vleftover"]
        assert v.name in api.streams_
        await vs.stop()
        assert v.name not in api.streams_
    asyncio.run(run())


def test_reaper_reads_a_fresh_health_snapshot_and_ends_viewers_of_removed_streams():
    import time

    async def run():
        api = FakeApi()
        calls = []
        orig = api.streams

        async def counted():
            calls.append(1)
            return await orig()
        api.streams = counted  # type: ignore[method-assign]
        snap: list = [None]
        configured = {"back_sub"}
        vs = Viewers(api, Revocations(), upstream=lambda: ("127.0.0.1", 9), grace=10,
                     snapshot=lambda: snap[0], wanted=lambda s: s in configured)
        await vs.start()
        v = await vs.open("back_sub", "back_sub__S", ["user:1"])
        vs.socket_closed(v)
        # A snapshot older than the viewer stream would show it missing: asked afresh instead.
        snap[0] = (v.added_at - 1, {})
        assert await vs.reap_once(now=0) == 0 and len(calls) == 1 and vs.owns(v.name)
        api.consume(v.name)
        snap[0] = (time.monotonic(), dict(api.streams_))
        assert await vs.reap_once(now=100) == 0 and len(calls) == 1  # the snapshot served
        configured.clear()  # the camera was removed from the config
        assert await vs.reap_once(now=101) == 1 and vs.count() == 0
        await vs.stop()
    asyncio.run(run())


def test_external_go2rtc_loses_leftover_viewer_streams_at_start_and_keeps_live_ones(tmp_path, monkeypatch):
    """An external go2rtc (the compose deployment) still holds a viewer stream of an earlier
    CamPy run: CamPy's start removes it. With CAMPY_RELAY_HOST, live views get viewer
    streams there too, which reconciles leave alone and stop removes."""
    import subprocess

    import httpx

    from campy.go2rtc import find_binary
    from campy.runtime import Runtime
    from tests.helpers import free_port, wait_until, write_config

    api, rtsp, rtc = free_port(), free_port(), free_port()
    g2r_conf = tmp_path / "go2rtc.yaml"
    g2r_conf.write_text(
        f"api: {{listen: '127.0.0.1:{api}', username: ext, password: ext-pass, local_auth: true}}\n"
        f"rtsp: {{listen: '127.0.0.1:{rtsp}'}}\nwebrtc: {{listen: '127.0.0.1:{rtc}', ice_servers: []}}\n")
    g = subprocess.Popen([str(find_binary()), "-c", "/dev/null", "-c", str(g2r_conf)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base, auth = f"http://127.0.0.1:{api}", ("ext", "ext-pass")
        wait_until(lambda: httpx.get(base + "/api", auth=auth).status_code == 200, timeout=10,
                   what="external go2rtc")
        leftover = "yard__EarlierRunSecret__vOldToken"
        httpx.put(base + "/api/streams", auth=auth,
                  params={"name": leftover, "src": f"rtsp://127.0.0.1:{rtsp}/yard__EarlierRunSecret"})
        assert leftover in httpx.get(base + "/api/streams", auth=auth).json()
        cfg = write_config(tmp_path / "campy.yaml", [
            {"name": "yard", "main": "rtsp://127.0.0.1:9/Preview_01_main", "sub": "rtsp://127.0.0.1:9/Preview_01_sub",
             "username": "admin", "password": "!secret sim_password"}],
            port=free_port(), password_secret="yard-pw")
        cfg.write_text(cfg.read_text().replace("  base_config: null", f"  base_config: null\n  url: {base}"))
        monkeypatch.setenv("CAMPY_GO2RTC_USERNAME", "ext")
        monkeypatch.setenv("CAMPY_GO2RTC_PASSWORD", "ext-pass")
        monkeypatch.setenv("CAMPY_RELAY_HOST", "127.0.0.1")

        async def scenario():
            rt = Runtime(cfg, admin_password="admin-password")
            await rt.start()
            try:
                assert leftover not in await rt.client.streams()
                assert rt.viewers.running
                v = await rt.viewers.open("yard_sub", rt.go2rtc_name("yard_sub"), ["user:1"])
                await rt.reconcile()
                assert v.name in await rt.client.streams()
                # go2rtc's RTSP server checks credentials of non-loopback clients: the relay
                # URL carries them, like the restream's.
                src = (await rt.client.stream(v.name)).producers[0].url
                assert "@127.0.0.1:" in src and src.endswith(f"/{rt.go2rtc_name('yard_sub')}?viewer={v.token}")
            finally:
                await rt.stop()
            assert not [n for n in await _names(base, auth) if "__v" in n]

        asyncio.run(scenario())
    finally:
        g.terminate()
        g.wait(10)


async def _names(base, auth):
    import httpx

    async with httpx.AsyncClient() as c:
        return list((await c.get(base + "/api/streams", auth=auth)).json() or {})
