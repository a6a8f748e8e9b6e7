"""The `recording` section and per-camera `record` settings: defaults, sizes, errors with lines."""

from __future__ import annotations

import textwrap

import pytest

from campy.config import ConfigError, load_config
from campy.config.units import parse_size, parse_size_or_percent


def write(tmp_path, text: str):
    p = tmp_path / "campy.yaml"
    p.write_text(textwrap.dedent(text).lstrip())
    return p


def test_defaults_record_everything_continuously_under_the_data_dir(tmp_path):
    cfg = load_config(write(tmp_path, """
        server:
          data_dir: data
        cameras:
          yard:
            main: rtsp://192.0.2.1/main
    """))
    assert cfg.recording.path == (tmp_path / "data" / "recordings").resolve()
    assert (cfg.recording.segment_seconds, cfg.recording.max_bytes) == (10, None)
    assert (cfg.recording.min_free_bytes, cfg.recording.min_free_percent) == (None, 5.0)
    rec = cfg.cameras["yard"].record
    assert (rec.enabled, rec.mode, rec.days, rec.event_days) == (True, "continuous", 7.0, 30.0)


def test_fractional_and_explicit_values(tmp_path):
    cfg = load_config(write(tmp_path, """
        recording:
          path: /mnt/nvr
          segment_seconds: 6
          max_size: 1.5TB
          min_free: 20GiB
        cameras:
          yard:
            main: rtsp://192.0.2.1/main
            record:
              mode: events
              days: 1.5
              event_days: 60
              pre_roll_seconds: 2.5
              post_roll_seconds: 0
    """))
    assert str(cfg.recording.path) == "/mnt/nvr"
    assert cfg.recording.max_bytes == 1_500_000_000_000
    assert (cfg.recording.min_free_bytes, cfg.recording.min_free_percent) == (20 * 1024**3, None)
    rec = cfg.cameras["yard"].record
    assert (rec.mode, rec.days, rec.pre_roll_seconds, rec.post_roll_seconds) == ("events", 1.5, 2.5, 0)


@pytest.mark.parametrize("snippet,path,line,words", [
    ("recording:\n  max_size: lots\n", "recording.max_size", 2, "not a size"),
    ("recording:\n  min_free: 120%\n", "recording.min_free", 2, "between 0 and 100"),
    ("recording:\n  segment_seconds: 1\n", "recording.segment_seconds", 2, "between 2 and 600"),
    ("recording:\n  keep: 3\n", "recording.keep", 2, "unknown key"),
    ("cameras:\n  yard:\n    main: rtsp://192.0.2.1/m\n    record:\n      mode: sometimes\n",
     "cameras.yard.record.mode", 5, "continuous"),
    ("cameras:\n  yard:\n    main: rtsp://192.0.2.1/m\n    record:\n      days: -1\n",
     "cameras.yard.record.days", 5, "negative"),
    ("cameras:\n  yard:\n    main: rtsp://192.0.2.1/m\n    record:\n      forever: true\n",
     "cameras.yard.record.forever", 5, "unknown key"),
])
def test_errors_name_the_key_and_line(tmp_path, snippet, path, line, words):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, snippet))
    issue = next(i for i in exc.value.issues if i.path == path)
    assert issue.line == line and words in issue.message, issue


@pytest.mark.parametrize("text,expected", [
    ("500GB", 500_000_000_000), ("1.5 TiB", int(1.5 * 1024**4)), ("800000000", 800_000_000),
    (123, 123), ("10kb", 10_000), ("2M", 2_000_000),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


def test_size_or_percent():
    assert parse_size_or_percent("5%") == (None, 5.0)
    assert parse_size_or_percent("10GB") == (10_000_000_000, None)
    for bad in ("-5GB", "5 parsecs", True):
        with pytest.raises(ValueError):
            parse_size_or_percent(bad)  # type: ignore[arg-type]
