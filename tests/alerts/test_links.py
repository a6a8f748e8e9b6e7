"""Signed links (pure parts): signing, every way a link is refused, the key file, the base URL."""

from __future__ import annotations

import stat

import pytest

from campy.alerts.links import KEY_FILE, LinkSigner, clip_path, snapshot_path
from campy.alerts.wiring import base_url
from campy.clock import ManualClock
from campy.config import ConfigError, load_config


def _q(link: str) -> tuple[str, str, str]:
    path, _, query = link.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    return path, params["exp"], params["sig"]


def test_a_link_opens_its_own_path_until_it_expires(tmp_path):
    clock = ManualClock(1_800_000_000)
    signer = LinkSigner(tmp_path, clock=clock)
    link, expires_ms = signer.sign(snapshot_path(7), ttl_s=60)
    path, exp, sig = _q(link)
    assert path == "/signed/events/7/snapshot.jpg" and expires_ms == 1_800_000_060_000
    assert signer.refusal(path, exp, sig) is None
    for p, e, s, why in ((snapshot_path(8), exp, sig, "does not match"),       # another event
                         (clip_path(7), exp, sig, "does not match"),           # another object
                         (path, str(int(exp) + 3600), sig, "does not match"),  # a longer life
                         (path, exp, sig[:-1] + ("A" if sig[-1] != "A" else "B"), "does not match"),
                         (path, "soon", sig, "does not match"),
                         (path, None, sig, "not signed"), (path, exp, None, "not signed"), (path, exp, "", "not signed")):
        reason = signer.refusal(p, e, s)
        assert reason is not None and why in reason, (p, e, s, reason)
    clock.advance(60)
    assert "expired" in (signer.refusal(path, exp, sig) or "")


def test_the_key_is_made_once_kept_0600_and_shared_by_restarts(tmp_path):
    a = LinkSigner(tmp_path, clock=ManualClock(1_800_000_000))
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600, oct(mode)
    link, _ = a.sign(clip_path(1))
    b = LinkSigner(tmp_path, clock=ManualClock(1_800_000_001))  # CamPy restarted
    assert b.refusal(*_q(link)) is None
    other = LinkSigner(tmp_path / "elsewhere", clock=ManualClock(1_800_000_001))  # another install
    assert other.refusal(*_q(link)) is not None


def _config(tmp_path, server: str = "", alerts: str = ""):
    path = tmp_path / "campy.yaml"
    path.write_text(f"server:\n  port: 8123\n  data_dir: data\n{server}"
                    f"go2rtc:\n  base_config: null\ncameras: {{}}\n{alerts}")
    return load_config(path)


def test_public_url_is_the_base_of_alert_links(tmp_path, monkeypatch):
    monkeypatch.delenv("CAMPY_PUBLIC_URL", raising=False)
    assert base_url(_config(tmp_path)) == "http://127.0.0.1:8123"
    monkeypatch.setenv("CAMPY_PUBLIC_URL", "https://env.example")
    assert base_url(_config(tmp_path)) == "https://env.example"
    cfg = _config(tmp_path, server="  public_url: https://nvr.example.net/campy/\n")
    assert base_url(cfg) == "https://nvr.example.net/campy"


@pytest.mark.parametrize("server,alerts,where", [
    ("  public_url: nvr.example.net\n", "", "server.public_url"),
    ("  public_url: https://nvr.example.net/?a=1\n", "", "server.public_url"),
    ("", "alerts:\n  link_ttl_s: 5\n", "alerts.link_ttl_s"),
])
def test_bad_link_settings_are_refused(tmp_path, server, alerts, where):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, server=server, alerts=alerts)
    assert any(i.path == where for i in err.value.issues), err.value.issues


def test_alert_events_carry_signed_links_for_webhooks_and_mqtt(tmp_path, monkeypatch):
    """The bridge turns an event as the API shows it into the payload both senders use."""
    from campy.alerts.rules import event_payload
    from campy.alerts.wiring import AlertsBridge

    monkeypatch.delenv("CAMPY_PUBLIC_URL", raising=False)
    cfg = _config(tmp_path, server="  public_url: https://nvr.example.net\n",
                  alerts="alerts:\n  link_ttl_s: 600\n  mqtt: {host: 127.0.0.1}\n")
    clock = ManualClock(1_800_000_000)
    signer = LinkSigner(tmp_path, clock=clock)
    bridge = AlertsBridge(cfg, key=b"", clock=clock, scrub=str, links=signer)
    sent = []
    monkeypatch.setattr(bridge.dispatcher, "submit", sent.append)
    view = {"id": 42, "camera": "front", "label": "person", "score": 0.9, "start_ms": 1_800_000_000_000,
            "end_ms": None, "zones": [], "snapshot_url": "/api/events/42/snapshot.jpg",
            "clip_url": "/api/cameras/front/export.mp4?start=1&end=2"}
    bridge.submit_event(view, kind="start")
    bridge.submit_event({**view, "snapshot_url": None}, kind="update")
    first, second = (event_payload(e) for e in sent)
    assert first["snapshot_url"].startswith("https://nvr.example.net/signed/events/42/snapshot.jpg?exp=")
    assert first["clip_url"].startswith("https://nvr.example.net/signed/events/42/clip.mp4?exp=")
    assert first["links_expire_ms"] == 1_800_000_600_000
    for url in (first["snapshot_url"], first["clip_url"]):
        assert signer.refusal(*_q(url.removeprefix("https://nvr.example.net"))) is None
    assert second["snapshot_url"] == "" and second["clip_url"].startswith("https://nvr.example.net/signed/")
