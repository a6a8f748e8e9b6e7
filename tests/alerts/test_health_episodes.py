"""The health alert state machine: hold times, one firing and one resolve per episode,
flap damping (campy/alerts/health.py). Pure: no clock, no I/O."""

from __future__ import annotations

from campy.alerts.health import Episodes, Problem, RestartWindow

KEY = ("camera_offline", "front")


def _run(eps: Episodes, present: bool, t: float, hold: float = 3.0):
    return eps.step({KEY: Problem("front is offline", hold)} if present else {}, now_s=t,
                    now_ms=int(t * 1000))


def test_fires_after_hold_once_and_resolves_once():
    eps = Episodes(clear_after_s=2)
    assert _run(eps, True, 0) == [] and _run(eps, True, 2.9) == []
    fired = _run(eps, True, 3.0)
    assert [(t.kind, t.scope, t.state, t.since_ms) for t in fired] == [("camera_offline", "front", "firing", 0)]
    assert all(_run(eps, True, 3 + i * 0.5) == [] for i in range(1, 200))  # no storm while it lasts
    assert _run(eps, False, 110) == [] and _run(eps, False, 111.9) == []
    resolved = _run(eps, False, 112)
    assert [(t.state, t.since_ms) for t in resolved] == [("resolved", 0)]
    assert _run(eps, False, 200) == []


def test_a_blip_shorter_than_the_hold_never_fires():
    eps = Episodes(clear_after_s=2)
    assert _run(eps, True, 0) == [] and _run(eps, False, 1) == []
    assert _run(eps, True, 2) == [] and _run(eps, True, 4.9) == []  # the hold starts again
    assert [t.state for t in _run(eps, True, 5)] == ["firing"]


def test_flapping_within_clear_after_continues_the_same_episode():
    eps = Episodes(clear_after_s=5)
    _run(eps, True, 0, hold=0)
    out = []
    for i in range(1, 40):  # gone for 1 s, back for 1 s, 20 times over
        out += _run(eps, i % 2 == 0, float(i), hold=0)
    assert out == []
    assert [t.state for t in _run(eps, False, 45, hold=0)] == ["resolved"]


def test_resumed_episode_does_not_fire_again():
    eps = Episodes(clear_after_s=1)
    eps.resume(*KEY, since_ms=5, message="left open", now_s=0)
    assert _run(eps, True, 10) == []
    assert _run(eps, False, 11) == []
    assert [(t.state, t.since_ms) for t in _run(eps, False, 12)] == [("resolved", 5)]


def test_restart_window_counts_recent_restarts_only():
    w = RestartWindow()
    assert w.update(0, 0, 10) == 0
    assert w.update(1, 0.5, 10) == 1  # counters start at 0: a restart before the first look counts
    assert w.update(3, 2, 10) == 3
    assert w.update(3, 11, 10) == 2
    assert w.update(3, 12.5, 10) == 0


def test_health_config_is_checked_like_the_rest_of_alerts(tmp_path):
    import pytest

    from campy.config import ConfigError, load_config

    p = tmp_path / "campy.yaml"
    base = "cameras:\n  front:\n    main: rtsp://192.168.1.21/Preview_01_main\nalerts:\n"
    p.write_text(base + "  webhooks: {ops: {url: 'http://127.0.0.1:9/x'}}\n  health: {offline_after_s: 5, webhooks: [ops]}\n")
    h = load_config(p, environ={}).alerts.health
    assert h.enabled and h.offline_after_s == 5 and h.webhooks == ["ops"] and h.clear_after_s == 30
    p.write_text(base + "  health: {webhooks: [nosuch], tick_s: 0, surprise: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, environ={})
    assert "surprise" in str(err.value)
    p.write_text(base + "  health: {webhooks: [nosuch], tick_s: 0}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, environ={})
    issues = {i.path: i.message for i in err.value.issues}
    assert "no webhook named 'nosuch'" in issues["alerts.health.webhooks"]
    assert "alerts.health.tick_s" in issues


def test_system_alerts_partial_renders(tmp_path):
    """templates/_system_alerts.html, included by the system page, with a real store."""
    from types import SimpleNamespace

    import jinja2

    from campy.alerts.healthrun import HealthAlerts
    from campy.clock import Clock
    from campy.db.database import open_db

    rt = SimpleNamespace(db=open_db(tmp_path / "campy.db"), clock=Clock(),
                         config=SimpleNamespace(alerts=SimpleNamespace(health=SimpleNamespace(enabled=True))))
    ha = HealthAlerts(rt)
    nid = ha.store.open("disk_pressure", "system", 1_000, "disk pressure: free space is below the floor")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader("templates"), autoescape=True)
    env.filters["local"] = lambda ms, short=False: f"t{ms}"
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(health_alerts=ha))))
    html = env.get_template("_system_alerts.html").render(request=request)
    assert 'data-kind="disk_pressure"' in html and "open" in html and "below the floor" in html
    ha.store.resolve("disk_pressure", "system", 2_000)
    assert ha.store.get(nid)["resolved_ms"] == 2_000 and ha.store.open_count() == 0
    assert "t2000" in env.get_template("_system_alerts.html").render(request=request)
