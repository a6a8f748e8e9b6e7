"""detection.detector: the shipped model is the default, ``null`` turns objects off, and the
labels are checked at load like the model path (missing file, labels the model lacks)."""

from __future__ import annotations

import textwrap

import pytest

from campy.config import ConfigError, check_config_main, load_config
from campy.detection.shipped import SHIPPED_LABELS, SHIPPED_MODEL

CAM = """
cameras:
  front:
    main: rtsp://192.168.1.21/Preview_01_main
    detect: {labels: [person, car]}
"""


def write(tmp_path, *parts: str):
    p = tmp_path / "campy.yaml"
    p.write_text("".join(textwrap.dedent(t).lstrip("\n") for t in parts))
    return p


def _issues(path):
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    return [(i.path, i.line, i.message) for i in err.value.issues]


def test_the_shipped_model_is_the_default(tmp_path):
    det = load_config(write(tmp_path, CAM)).detection.detector
    assert det.model == SHIPPED_MODEL and det.model.is_file()
    assert det.labels == str(SHIPPED_LABELS)
    assert det.label_names and det.label_names[:4] == ("person", "bicycle", "car", "motorbike")
    again = load_config(write(tmp_path, "detection: {detector: {model: shipped}}\n" + CAM)).detection.detector
    assert again.model == SHIPPED_MODEL


@pytest.mark.parametrize("value", ["null", "none", "None", "~"])
def test_null_or_none_turns_objects_off(tmp_path, value):
    det = load_config(write(tmp_path, f"detection: {{detector: {{model: {value}}}}}\n" + CAM)).detection.detector
    assert det.model is None
    # Nothing to check camera labels against: motion only.
    text = f"detection: {{detector: {{model: {value}}}}}\n" + CAM.replace("person, car", "anything")
    assert load_config(write(tmp_path, text)).cameras["front"].detect is not None


def test_a_missing_labels_file_is_an_error_with_its_line(tmp_path):
    path = write(tmp_path, """
        detection:
          detector:
            labels: models/labels.txt
        """, CAM)
    [(key, line, msg)] = _issues(path)
    assert (key, line) == ("detection.detector.labels", 3)
    assert str(tmp_path / "models" / "labels.txt") in msg and "cannot be read" in msg


def test_a_labels_file_resolves_from_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "labels.txt").write_text("person\ncar\n\n")
    monkeypatch.chdir("/")  # not from the working directory
    path = write(tmp_path, "detection:\n  detector:\n    labels: models/labels.txt\n" + CAM)
    det = load_config(path).detection.detector
    assert det.labels == str(tmp_path / "models" / "labels.txt") and det.label_names == ("person", "car")
    # An empty file is refused too.
    (tmp_path / "models" / "labels.txt").write_text("\n")
    [(key, _, msg)] = _issues(path)
    assert key == "detection.detector.labels" and "has no labels" in msg


def test_an_alert_label_the_model_lacks_is_an_error(tmp_path):
    path = write(tmp_path, CAM, """
        alerts:
          webhooks:
            hook: {url: "http://127.0.0.1:9/x"}
          rules:
            bikes:
              labels: [person, motorcycle]
              webhooks: [hook]
        """)
    [(key, line, msg)] = _issues(path)
    assert (key, line) == ("alerts.rules.bikes.labels", 10)
    assert "'motorcycle'" in msg and "did you mean 'motorbike'" in msg and "never fire" in msg


def test_a_camera_label_the_model_lacks_is_an_error(tmp_path):
    [(key, line, msg)] = _issues(write(tmp_path, CAM.replace("person, car", "person, aeroplane, airplane")))
    assert (key, line) == ("cameras.front.detect.labels", 4)
    assert "'airplane'" in msg and "did you mean 'aeroplane'" in msg


def test_own_model_without_labels_uses_coco80_spelling(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"not checked here")
    base = "detection: {detector: {model: m.onnx}}\n"
    load_config(write(tmp_path, base + CAM.replace("person, car", "motorcycle")))
    [(key, _, msg)] = _issues(write(tmp_path, base + CAM.replace("person, car", "motorbike")))
    assert key == "cameras.front.detect.labels" and "did you mean 'motorcycle'" in msg
    # A labels list in the config is what the labels are checked against.
    load_config(write(tmp_path, "detection: {detector: {model: m.onnx, labels: [cat, motorbike]}}\n"
                      + CAM.replace("person, car", "motorbike")))


def test_check_config_reports_both(tmp_path, capsys):
    path = write(tmp_path, """
        detection:
          detector:
            labels: nowhere.txt
        """, CAM)
    assert check_config_main([str(path)]) == 1
    assert f"{path.resolve()}:3: detection.detector.labels" in capsys.readouterr().err
    path = write(tmp_path, CAM, """
        alerts:
          webhooks:
            hook: {url: "http://127.0.0.1:9/x"}
          rules:
            bikes: {labels: [motorcycle], webhooks: [hook]}
        """)
    assert check_config_main([str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path.resolve()}:9: alerts.rules.bikes.labels" in err and "motorbike" in err
