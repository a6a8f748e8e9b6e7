"""The one map between CamPy's public stream names and go2rtc's secret ones."""

from __future__ import annotations

from campy.runtime import webrtc_listen
from campy.streams import StreamNames, StreamSpec


def test_every_start_makes_a_new_secret_suffix():
    a, b = StreamNames(), StreamNames()
    assert a.suffix != b.suffix and len(a.suffix) == 22
    name = a.go2rtc("front_sub")
    assert name == f"front_sub__{a.suffix}"
    assert a.public(name) == "front_sub"
    assert a.public("front_sub") is None and b.public(name) is None


def test_specs_for_go2rtc_rename_streams_and_internal_ffmpeg_sources():
    names = StreamNames("S3cret")
    specs = {
        "front": StreamSpec("front", "front", "main", ("rtsp://admin:${PW}@10.0.0.2/main",), {"PW": "x"}),
        "front_h264": StreamSpec("front_h264", "front", "h264", ("ffmpeg:front#video=h264#width=1280",)),
    }
    out = names.for_go2rtc(specs)
    assert set(out) == {"front__S3cret", "front_h264__S3cret"}
    assert out["front__S3cret"].resolved() == ("rtsp://admin:x@10.0.0.2/main",)
    assert out["front__S3cret"].camera == "front"
    assert out["front_h264__S3cret"].sources == ("ffmpeg:front__S3cret#video=h264#width=1280",)


def test_webrtc_listen_address():
    assert webrtc_listen("", 8555) == ":8555"
    assert webrtc_listen("192.168.1.10", 8555) == "192.168.1.10:8555"
    assert webrtc_listen("::1", 8555) == "[::1]:8555"


def test_tighten_makes_loose_files_private_and_skips_what_it_cannot_reach(tmp_path):
    import os

    from campy.perms import tighten

    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "a.mp4").write_text("x")
    os.chmod(d, 0o755)
    os.chmod(d / "sub", 0o775)
    os.chmod(d / "sub" / "a.mp4", 0o664)
    (tmp_path / "file").write_text("x")
    os.symlink("/etc/passwd", d / "link")
    changed = tighten([d, tmp_path / "file" / "recordings", tmp_path / "missing"])
    assert sorted(changed) == sorted(map(str, [d, d / "sub", d / "sub" / "a.mp4"]))
    assert [oct(os.stat(p).st_mode & 0o777) for p in changed] == ["0o700", "0o700", "0o600"]
    assert tighten([d]) == []
