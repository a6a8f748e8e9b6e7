"""campy.yaml: parsing, every kind of error with its key path and line, secrets, specs."""

from __future__ import annotations

import os
import textwrap

import pytest

from campy.config import ConfigError, Secret, load_config, validate_camera_url


def write(tmp_path, text: str, secrets: str | None = "front_password: 'p@ss:w/rd#%'\n"):
    p = tmp_path / "campy.yaml"
    p.write_text(textwrap.dedent(text).lstrip())
    if secrets is not None:
        (tmp_path / "secrets.yaml").write_text(secrets)
    return p


GOOD = """
# comment at the top
server:
  port: 8099
cameras:
  front:
    title: Front
    main: rtsp://192.168.1.21:554/h265Preview_01_main
    sub: rtsp://192.168.1.21:554/Preview_01_sub
    username: admin
    password: !secret front_password
  back:
    main: rtsps://cam.local/Preview_01_main
    username: ad min
    password: ${BACK_PW}
    h265_fallback: transcode
    enabled: true
  side:
    main: rtspx://10.0.0.5/Preview_01_main
    enabled: false
"""


def test_valid_config_and_its_stream_specs(tmp_path, monkeypatch):
    monkeypatch.setenv("BACK_PW", "env-pw")
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.server.port == 8099 and cfg.server.data_dir == (tmp_path / "../data").resolve()
    front = cfg.cameras["front"]
    assert front.password == Secret("p@ss:w/rd#%") and front.password_ref == "!secret front_password"
    assert "p@ss" not in repr(front) and repr(front.password) == "Secret('***')"
    specs = cfg.stream_specs()
    assert set(specs) == {"front", "front_sub", "back", "back_h264"}  # side is disabled
    assert specs["front"].sources == ("rtsp://admin:${CAMPY_CAM_FRONT_PASSWORD}@192.168.1.21:554/h265Preview_01_main",)
    assert specs["front"].env == {"CAMPY_CAM_FRONT_PASSWORD": "p%40ss%3Aw%2Frd%23%25"}
    assert specs["front"].resolved() == ("rtsp://admin:p%40ss%3Aw%2Frd%23%25@192.168.1.21:554/h265Preview_01_main",)
    assert specs["back"].sources[0].startswith("rtsps://ad%20min:${CAMPY_CAM_BACK_PASSWORD}@cam.local/")
    assert specs["back_h264"].sources == ("ffmpeg:back#video=h264#width=1280",)
    assert specs["front_sub"].role == "sub"


def _issues(tmp_path, text, **kw):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text, **kw), environ={})
    return [(i.path, i.line, i.message) for i in err.value.issues]


def test_unknown_keys_name_path_and_line(tmp_path):
    issues = _issues(tmp_path, """
        server:
          port: 8080
          colour: red
        cameras:
          front:
            main: rtsp://h/a
            zoom: 3
        """)
    assert ("server.colour", 3, "unknown key 'colour'") in issues
    assert ("cameras.front.zoom", 7, "unknown key 'zoom'") in issues


def test_unknown_top_level_key(tmp_path):
    issues = _issues(tmp_path, "cameras: {}\nrecordings: {}\n")
    assert issues == [("recordings", 2, "unknown key 'recordings'")]


def test_wrong_types_and_ranges(tmp_path):
    issues = _issues(tmp_path, """
        server:
          port: 99999
        cameras:
          front:
            main: rtsp://h/a
            enabled: "yes"
          back:
            main: rtsp://h/b
            h265_fallback: magic
        """)
    paths = {(p, line) for p, line, _ in issues}
    assert ("server.port", 2) in paths
    assert ("cameras.front.enabled", 6) in paths
    assert ("cameras.back.h265_fallback", 9) in paths


@pytest.mark.parametrize("url, words", [
    ("exec:ffmpeg -i rtsp://x", "scheme 'exec'"),
    ("ffmpeg:front#video=h264", "scheme 'ffmpeg'"),
    ("echo:rtsp://x", "scheme 'echo'"),
    ("expr:let x", "scheme 'expr'"),
    ("/dev/video0", "not a camera URL"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("rtsp://admin:pw@10.0.0.2/x", "credentials"),
    ("rtsp://10.0.0.2/x#backchannel=1", "'#'"),
    ("rtsp:///nohost", "needs a host"),
    ("rtsp://evil.example/${CAMPY_GO2RTC_API_PASS}", "'$'"),
    ("rtsp://10.0.0.2/$x", "'$'"),
])
def test_forbidden_urls_are_rejected_with_the_field(tmp_path, url, words):
    issues = _issues(tmp_path, f"cameras:\n  front:\n    main: '{url}'\n")
    assert len(issues) == 1
    path, line, message = issues[0]
    assert path == "cameras.front.main" and line == 3 and words in message
    assert validate_camera_url(url)  # the same check the forms and API use


def test_missing_env_var_and_missing_secret(tmp_path):
    issues = _issues(tmp_path, """
        cameras:
          a:
            main: rtsp://h/a
            username: u
            password: ${NOT_SET_ANYWHERE}
          b:
            main: rtsp://h/b
            username: u
            password: !secret nope
        """)
    assert ("cameras.a.password", 5, "environment variable NOT_SET_ANYWHERE is not set") in issues
    assert any(p == "cameras.b.password" and line == 9 and "'nope'" in m for p, line, m in issues)


def test_missing_secrets_file(tmp_path):
    issues = _issues(tmp_path, "cameras:\n  a:\n    main: rtsp://h/a\n    username: u\n"
                               "    password: !secret x\n", secrets=None)
    assert issues[0][0] == "cameras.a.password" and "does not exist" in issues[0][2]


def test_yaml_syntax_error_has_a_line(tmp_path):
    issues = _issues(tmp_path, "cameras:\n  a:\n    main: [unclosed\n  b: 1\n")
    assert issues[0][1] in (3, 4) and "YAML syntax" in issues[0][2]


def test_bad_names_and_stream_name_clashes(tmp_path):
    issues = _issues(tmp_path, """
        cameras:
          Front-Door:
            main: rtsp://h/a
          x:
            main: rtsp://h/x
          x_sub:
            main: rtsp://h/y
        """)
    assert ("cameras.Front-Door", 2, "camera names use lower-case letters, digits and '_' only") in issues
    assert any(p == "cameras.x_sub" and "clashes" in m for p, _, m in issues)


def test_every_broken_camera_is_reported_at_once(tmp_path):
    issues = _issues(tmp_path, "cameras:\n  a:\n    main: exec:x\n  b:\n    main: echo:y\n  c:\n    main: rtsp://ok/c\n")
    assert [p for p, _, _ in issues] == ["cameras.a.main", "cameras.b.main"]


def test_check_config_command(tmp_path, capsys):
    from campy.config import check_config_main

    good = write(tmp_path, "cameras:\n  a:\n    main: rtsp://h/a\n    username: u\n    password: plain\n")
    assert check_config_main([str(good)]) == 0
    out = capsys.readouterr()
    assert "OK: 1 camera" in out.out and "plain text" in out.err and "password: plain" not in out.err
    bad = write(tmp_path, "cameras:\n  a:\n    main: exec:x\n")
    assert check_config_main([str(bad)]) == 1
    assert f"{bad.resolve()}:3: cameras.a.main" in capsys.readouterr().err


def test_committed_example_config_is_valid():
    here = os.path.dirname(__file__)
    cfg = load_config(os.path.join(here, "..", "..", "config", "campy.yaml"))
    assert cfg.cameras == {}


def test_audit_days_defaults_to_90_and_must_be_positive(tmp_path, monkeypatch):
    monkeypatch.setenv("BACK_PW", "env-pw")
    assert load_config(write(tmp_path, GOOD)).server.audit_days == 90
    cfg = load_config(write(tmp_path, GOOD.replace("port: 8099", "port: 8099\n  audit_days: 7.5")))
    assert cfg.server.audit_days == 7.5
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD.replace("port: 8099", "port: 8099\n  audit_days: 0")))
    assert any(i.path == "server.audit_days" and "more than 0" in i.message for i in err.value.issues)
def test_dollar_in_username_is_refused_but_not_in_password(tmp_path):
    issues = _issues(tmp_path, "cameras:\n  front:\n    main: rtsp://10.0.0.2/x\n    username: 'a${B}'\n",
                     secrets=None)
    assert [(p, line) for p, line, _ in issues] == [("cameras.front.username", 4)]
    cfg = load_config(write(tmp_path, "cameras:\n  front:\n    main: rtsp://10.0.0.2/x\n    username: admin\n"
                                      "    password: !secret front_password\n",
                            secrets="front_password: 'p$w${HOME}'\n"), environ={})
    spec = cfg.stream_specs()["front"]
    assert spec.resolved() == ("rtsp://admin:p%24w%24%7BHOME%7D@10.0.0.2/x",)


@pytest.mark.parametrize("host, ok", [("", True), ("127.0.0.1", True), ("192.168.1.10", True), ("::1", True),
                                      ("localhost", False), ("0.0.0.0:8555", False), ("10.0.0.300", False)])
def test_webrtc_host_is_an_ip_address_or_empty(tmp_path, host, ok):
    text = f"go2rtc:\n  webrtc_host: '{host}'\ncameras: {{}}\n"
    if ok:
        assert load_config(write(tmp_path, text, secrets=None), environ={}).go2rtc.webrtc_host == host
    else:
        assert [p for p, _, _ in _issues(tmp_path, text, secrets=None)] == ["go2rtc.webrtc_host"]


def test_timezone_is_an_iana_name_defaulting_to_the_hosts(tmp_path, monkeypatch):
    text = "server:\n  port: 8099\n  timezone: Europe/Berlin\ncameras: {}\n"
    assert load_config(write(tmp_path, text, secrets=None), environ={}).server.timezone == "Europe/Berlin"
    monkeypatch.setenv("TZ", "America/New_York")  # the host's zone, as the process sees it
    plain = load_config(write(tmp_path, "cameras: {}\n", secrets=None), environ={})
    assert plain.server.timezone == "America/New_York"
    issues = _issues(tmp_path, text.replace("Europe/Berlin", "Europe/Berlinn"), secrets=None)
    assert [(p, line) for p, line, _ in issues] == [("server.timezone", 3)]
    assert "unknown time zone 'Europe/Berlinn'" in issues[0][2] and "IANA" in issues[0][2]
