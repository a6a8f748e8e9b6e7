"""``detection.detector`` of campy.yaml: the model (the shipped YOLOX-Nano unless told
otherwise), its labels file resolved from campy.yaml's folder and read at load, so that a
missing file or a label the model does not have is a config error with its line."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import msgspec

from campy.config.model import DetectionConfig, DetectionRaw, DetectorRaw, DetectorSettings
from campy.detection.shipped import COCO80, SHIPPED_LABELS, SHIPPED_MODEL


def detection_config(raw: DetectionRaw, *, base: Path, convert: Any, issue: Any) -> DetectionConfig:
    det = convert(raw.detector or {}, DetectorRaw, ["detection", "detector"]) or DetectorRaw()
    at = ["detection", "detector"]
    model: Path | None = None
    labels = det.labels
    names: tuple[str, ...] | None = None
    if det.model is msgspec.UNSET or (isinstance(det.model, str) and det.model.lower() == "shipped"):
        model = SHIPPED_MODEL  # the default: YOLOX-Nano travels inside the package
        if labels is None:
            labels = str(SHIPPED_LABELS)
    elif isinstance(det.model, str) and det.model and det.model.lower() not in ("none", "off"):
        model = (base / det.model).resolve()
        if not model.is_file():
            issue(at + ["model"], f"model file {model} does not exist "
                  "(CamPy never downloads models: put the .onnx file there)")
    if isinstance(labels, str):  # a labels file, one label a line, relative to campy.yaml
        path = (base / Path(labels).expanduser()).resolve()
        labels = str(path)
        try:
            names = tuple(n for n in (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()) if n)
        except (OSError, UnicodeDecodeError) as err:
            issue(at + ["labels"], f"labels file {path} cannot be read ({getattr(err, 'strerror', None) or err}): "
                  "give a text file with one label a line, or a list of labels")
        else:
            if not names:
                issue(at + ["labels"], f"labels file {path} has no labels")
                names = None  # reported once, here, not again for every label that uses it
    elif isinstance(labels, list):
        names = tuple(labels)
    elif model is not None and det.type != "ultralytics":  # a .pt model carries its own names
        names = COCO80
    if det.threads < 1:
        issue(at + ["threads"], "must be at least 1")
    if det.input_size is not None and not 32 <= det.input_size <= 2048:
        issue(at + ["input_size"], "must be between 32 and 2048")
    return DetectionConfig(
        detector=DetectorSettings(type=det.type, model=model, input_size=det.input_size, layout=det.layout,
                                  labels=labels, threads=det.threads, score_threshold=det.score_threshold,
                                  label_names=names if model is not None else None),
        snapshot_days=raw.snapshot_days)


def unknown_labels(wanted: Any, names: tuple[str, ...] | None) -> list[str]:
    if names is None:
        return []
    return [w for w in wanted if w not in names]


def label_hint(bad: list[str], names: tuple[str, ...]) -> str:
    near = {b: difflib.get_close_matches(b, names, n=1, cutoff=0.5) for b in bad}
    said = ", ".join(f"'{b}'" + (f" (did you mean '{near[b][0]}'?)" if near[b] else "") for b in bad)
    return (f"the detector's model has no label {said}; its labels: {', '.join(names)} "
            "(set detection.detector.labels if your model's names differ)")
