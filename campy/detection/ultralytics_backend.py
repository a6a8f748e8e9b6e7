"""Ultralytics ``.pt`` models (the optional ``ultralytics`` extra: AGPL-3.0, pulls torch).

Kept apart from :mod:`campy.detection.objects` so that nothing here is imported unless a
camera asks for ``type: ultralytics`` or a model is exported.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from campy.detection.objects import (
    DetectorConfig,
    ModelError,
    ObjectDetector,
    _first_line,
    _load_labels,
    _load_onnxruntime,
    _model_path,
)

ULTRALYTICS_MISSING = (
    "ultralytics is not installed; it is an optional extra (AGPL-3.0, pulls torch): "
    "pip install 'campy[ultralytics]'"
)


def _import_yolo() -> Any:
    try:
        from ultralytics import YOLO
    except ImportError as err:
        raise ModelError(ULTRALYTICS_MISSING) from err
    return YOLO


class UltralyticsDetector(ObjectDetector):
    """A ``.pt`` model run by ultralytics itself (optional extra, AGPL-3.0)."""

    def __init__(self, cfg: DetectorConfig, yolo: Any, path: Path) -> None:
        try:
            self._model = yolo(str(path), task="detect")
        except Exception as err:  # ultralytics/torch raise many types for a bad file
            raise ModelError(f"cannot load {path} with ultralytics: {_first_line(err)}") from err
        names = self._model.names
        nc = len(names)
        self.labels = ([str(names[i]) for i in range(nc)] if cfg.labels is None
                       else _load_labels(cfg.labels, nc))
        self.input_size = cfg.input_size or 640
        self.score_threshold, self.nms_iou = cfg.score_threshold, cfg.nms_iou
        self.backend, self.layout = "ultralytics", "yolov8"

    def _candidates(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        t0 = time.perf_counter()
        res = self._model.predict(image, imgsz=self.input_size, conf=self.score_threshold,
                                  iou=self.nms_iou, verbose=False)[0]
        ms = (time.perf_counter() - t0) * 1000.0
        b = res.boxes
        return (b.xyxy.cpu().numpy().astype(np.float32), b.conf.cpu().numpy(),
                b.cls.cpu().numpy().astype(np.int64), ms)


def load_ultralytics(cfg: DetectorConfig) -> ObjectDetector:
    yolo = _import_yolo()
    path = _model_path(cfg)
    if path.suffix != ".pt":  # an exported ONNX needs no torch at run time
        return _load_onnxruntime(cfg)
    return UltralyticsDetector(cfg, yolo, path)


def export_onnx(pt_path: str | Path, out_path: str | Path, imgsz: int = 640) -> Path:
    """Export an Ultralytics ``.pt`` model to a YOLOv8-layout ONNX file (needs the extra)."""
    yolo = _import_yolo()
    try:
        produced = Path(yolo(str(pt_path)).export(format="onnx", imgsz=imgsz, opset=17,
                                                  dynamic=False, simplify=False))
    except Exception as err:  # torch/ultralytics errors: bad file, missing export deps
        raise ModelError(f"cannot export {pt_path} to ONNX: {_first_line(err)}") from err
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if produced.resolve() != out.resolve():
        shutil.move(str(produced), out)
    return out
