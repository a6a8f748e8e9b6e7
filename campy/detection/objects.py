"""Object detectors: YOLO-format ONNX models on the CPU, keyed by type like Frigate's plugins.

Two output layouts are understood (``../shared/reference/detection.md`` §3):

* ``yolov8`` (Ultralytics YOLOv8/YOLO11 export): input RGB/255, letterbox *centred*, pad 114;
  output ``[1, 4 + nc, N]`` of ``cx, cy, w, h`` in input pixels and ``nc`` class scores.
* ``yolox`` (Megvii export): input BGR 0-255, letterbox at the *top-left*, pad 114; output
  ``[1, N, 5 + nc]`` of raw grid offsets, objectness and class scores, decoded on the grids of
  strides 8, 16 and 32.

``N`` is ``(S/8)² + (S/16)² + (S/32)²`` for a square input of ``S`` px; ``layout="auto"`` tells
the two apart from the output shape. Scores under ``score_threshold`` are dropped *before*
NMS (NMS over thousands of random candidates costs tens of ms), then NMS runs per class and
boxes are mapped back to frame pixels and clipped to the frame.

Regions (motion gating). ``detect(frame, regions)`` runs the model on square crops around the
motion boxes instead of the whole frame, as Frigate does. Each crop is at least
``input_size`` px (or the region's longer side), centred on the region and shifted or
shrunk to stay inside the frame; overlapping crops are merged first so no pixel is looked at
twice. A crop of ``input_size`` px reaches the model unscaled, so small or distant objects
keep their full resolution, whereas the whole 640×360 frame is shrunk to fit. The model cost
per run is the same either way (the input is always ``S``×``S``): regions save time only by
letting frames without motion skip the model, and cost one run per separate crop. An object
cut by a crop edge comes back cut; crops centred on the motion make that rare. All boxes
from all crops are merged by one class-wise NMS. ``regions=None`` means the whole frame,
``regions=[]`` means nothing moved, so nothing is detected.

Errors: everything about an unusable model or detector config raises :class:`ModelError`,
at load time.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import cv2
import msgspec
import numpy as np

from campy.detection.shipped import COCO80
from campy.detection.types import Box, Detection

log = logging.getLogger(__name__)

Layout = Literal["auto", "yolov8", "yolox"]
STRIDES = (8, 16, 32)
PAD_VALUE = 114

class ModelError(Exception):
    """The detector's model, labels or type cannot be used (raised when loading)."""


class DetectorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One object detector; ``type`` picks the entry of :data:`DETECTORS`."""

    type: str = "onnxruntime"
    model: str
    input_size: Annotated[int, msgspec.Meta(ge=32, multiple_of=32)] | None = None
    layout: Layout = "auto"
    labels: list[str] | str | None = None
    threads: Annotated[int, msgspec.Meta(ge=1)] = 1
    score_threshold: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.4
    nms_iou: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.45


# Candidates: boxes (k, 4) x1 y1 x2 y2 float in image px, scores (k,), class ids (k,).
Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]


def _no_candidates() -> Candidates:
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)


class ObjectDetector(ABC):
    """Finds objects in BGR frames. Subclasses supply :meth:`_candidates` for one image.

    ``last_ms`` is the model time of the last :meth:`detect` call (summed over its crops),
    ``last_total_ms`` the whole call including pre- and post-processing, ``last_runs`` the
    number of model runs it made.
    """

    input_size: int
    labels: list[str]
    backend: str
    layout: str
    score_threshold: float
    nms_iou: float
    last_ms: float = 0.0
    last_total_ms: float = 0.0
    last_runs: int = 0

    def detect(self, frame: np.ndarray, regions: Sequence[Box] | None = None) -> list[Detection]:
        """Objects in ``frame`` (whole, or only around ``regions``), best score first."""
        t0 = time.perf_counter()
        img = _as_bgr(frame)
        h, w = img.shape[:2]
        crops = [(0, 0, w, h)] if regions is None else region_crops(regions, w, h, self.input_size)
        dets, self.last_ms = self.detect_crops([(c, img[c[1]:c[3], c[0]:c[2]]) for c in crops], w, h)
        self.last_runs = len(crops)
        self.last_total_ms = (time.perf_counter() - t0) * 1000.0
        return dets

    def detect_crops(self, crops: Sequence[tuple[Box, np.ndarray]], width: int,
                     height: int) -> tuple[list[Detection], float]:
        """Objects in the ``crops`` (each with its box in a ``width``×``height`` frame) and the
        model time in ms. Keeps no state, so threads may share one detector (the inference
        service does); the crops are what :func:`region_crops` gives, cut out of the frame."""
        model_ms = 0.0
        parts = []
        for (x1, y1, _x2, _y2), image in crops:
            boxes, scores, cls, ms = self._candidates(_as_bgr(image))
            model_ms += ms
            parts.append((boxes + np.array([x1, y1, x1, y1], np.float32), scores, cls))
        dets: list[Detection] = []
        if parts:
            boxes = np.concatenate([p[0] for p in parts])
            scores = np.concatenate([p[1] for p in parts])
            cls = np.concatenate([p[2] for p in parts])
            for i in nms_classwise(boxes, scores, cls, self.nms_iou):
                box = _clip_box(boxes[i], width, height)
                if box is not None:
                    dets.append(Detection(self.labels[int(cls[i])], float(scores[i]), box))
        dets.sort(key=lambda d: -d.score)
        return dets, model_ms

    @abstractmethod
    def _candidates(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Scored boxes above ``score_threshold`` in ``image`` pixels (before NMS), and the
        model time in ms."""


class YoloDetector(ObjectDetector):
    """A YOLOv8- or YOLOX-layout ONNX model behind a ``run(blob) -> output`` function."""

    def __init__(self, cfg: DetectorConfig, run: Callable[[np.ndarray], np.ndarray],
                 model_size: int | None, *, backend: str) -> None:
        size = cfg.input_size or model_size
        if size is None:
            raise ModelError(f"{cfg.model}: the model's input size is dynamic; set input_size")
        if cfg.input_size and model_size and cfg.input_size != model_size:
            raise ModelError(f"{cfg.model}: input_size is {cfg.input_size} but the model "
                             f"takes {model_size}×{model_size}")
        if size % 32:
            raise ModelError(f"{cfg.model}: input size {size} is not a multiple of 32")
        self.input_size, self.backend, self._run = size, backend, run
        self.score_threshold, self.nms_iou = cfg.score_threshold, cfg.nms_iou
        probe = np.full((1, 3, size, size), PAD_VALUE, np.float32)  # also warms the runtime up
        try:
            shape = tuple(np.asarray(run(probe)).shape)
        except Exception as err:  # runtimes raise their own types for a broken graph
            raise ModelError(f"{cfg.model}: the model fails on a {size}×{size} input: "
                             f"{_first_line(err)}") from err
        self.layout, nc = detect_layout(shape, size, cfg.layout)
        self.labels = _load_labels(cfg.labels, nc)
        grids, strides = [], []
        for s in STRIDES:  # YOLOX anchor order: stride by stride, row-major, x fastest
            yv, xv = np.mgrid[0:size // s, 0:size // s]
            grids.append(np.stack([xv.ravel(), yv.ravel()], 1))
            strides.append(np.full(xv.size, s))
        self._grid = np.concatenate(grids).astype(np.float32)
        self._stride = np.concatenate(strides).astype(np.float32)

    def _candidates(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        yolov8 = self.layout == "yolov8"
        canvas, r, left, top = letterbox(image, self.input_size, centred=yolov8)
        if yolov8:
            blob = canvas[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        else:
            blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        t0 = time.perf_counter()
        out = np.asarray(self._run(np.ascontiguousarray(blob)))
        ms = (time.perf_counter() - t0) * 1000.0
        thr = self.score_threshold
        boxes, scores, cls = (decode_yolov8(out, thr) if yolov8
                              else decode_yolox(out, thr, self._grid, self._stride))
        boxes -= np.array([left, top, left, top], np.float32)
        boxes /= r
        return boxes, scores, cls, ms


def letterbox(image: np.ndarray, size: int, *, centred: bool) -> tuple[np.ndarray, float, int, int]:
    """Scale ``image`` to fit ``size``² keeping its aspect, pad with 114.

    Returns the canvas, the scale ``r`` and the pad offsets ``left, top`` (0 when not centred).
    """
    h, w = image.shape[:2]
    r = min(size / h, size / w)
    if centred:  # Ultralytics rounds; YOLOX truncates
        nw, nh = min(size, max(1, round(w * r))), min(size, max(1, round(h * r)))
    else:
        nw, nh = min(size, max(1, int(w * r))), min(size, max(1, int(h * r)))
    resized = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh),
                                                          interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    left, top = ((size - nw) // 2, (size - nh) // 2) if centred else (0, 0)
    canvas[top:top + nh, left:left + nw] = resized
    return canvas, r, left, top


def decode_yolov8(out: np.ndarray, thr: float) -> Candidates:
    """``[1, 4 + nc, N]`` → candidates scoring at least ``thr``, in input pixels."""
    p = out[0]
    conf = p[4:].max(0)
    keep = np.flatnonzero(conf >= thr)
    if not keep.size:
        return _no_candidates()
    cx, cy, bw, bh = p[:4, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    return boxes.astype(np.float32), conf[keep], p[4:, keep].argmax(0)


def decode_yolox(out: np.ndarray, thr: float, grid: np.ndarray, stride: np.ndarray) -> Candidates:
    """``[1, N, 5 + nc]`` raw grid form → candidates scoring at least ``thr``, input pixels."""
    p = out[0]
    cand = np.flatnonzero(p[:, 4] >= thr)  # obj × cls ≤ obj, as both are sigmoid outputs
    scores = p[cand, 4:5] * p[cand, 5:]
    conf = scores.max(1)
    ok = conf >= thr
    idx = cand[ok]
    if not idx.size:
        return _no_candidates()
    s = stride[idx]
    cx, cy = (p[idx, 0] + grid[idx, 0]) * s, (p[idx, 1] + grid[idx, 1]) * s
    bw, bh = np.exp(p[idx, 2]) * s, np.exp(p[idx, 3]) * s
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    return boxes.astype(np.float32), conf[ok], scores[ok].argmax(1)


def detect_layout(shape: tuple[int, ...], size: int, layout: str) -> tuple[str, int]:
    """The layout and class count of a model output ``shape`` for an input of ``size``."""
    n = sum((size // s) ** 2 for s in STRIDES)
    a, b = (shape[1], shape[2]) if len(shape) == 3 and shape[0] == 1 else (0, 0)
    v8, yx = a > 4 and b == n, b > 5 and a == n
    if layout == "auto":
        layout = "yolov8" if v8 else "yolox" if yx else "auto"
    if layout == "yolov8" and v8:
        return layout, a - 4
    if layout == "yolox" and yx:
        return layout, b - 5
    want = {"auto": f"[1, 4+nc, {n}] (yolov8) or [1, {n}, 5+nc] (yolox)",
            "yolov8": f"[1, 4+nc, {n}] (yolov8)", "yolox": f"[1, {n}, 5+nc] (yolox)"}
    if layout not in want:
        raise ModelError(f"unknown layout {layout!r}; known: auto, yolov8, yolox")
    raise ModelError(f"model output shape {list(shape)} is not {want[layout]} for a "
                     f"{size}×{size} input")


def nms_classwise(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                  iou: float) -> list[int]:
    """Indices kept by per-class NMS of x1 y1 x2 y2 ``boxes``, best score first."""
    if not len(boxes):
        return []
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(float)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.astype(float).tolist(),
                                   [int(c) for c in class_ids], 0.0, float(iou))
    return [int(i) for i in np.asarray(keep).reshape(-1)]


def region_crops(regions: Sequence[Box], width: int, height: int, min_side: int) -> list[Box]:
    """Square crops (at least ``min_side``) around ``regions``, inside the frame, merged."""
    crops: list[Box] = []
    for x1, y1, x2, y2 in regions:
        x1, x2 = max(0, min(width, x1)), max(0, min(width, x2))
        y1, y2 = max(0, min(height, y1)), max(0, min(height, y2))
        if x2 > x1 and y2 > y1:
            crops.append(_square((x1, y1, x2, y2), width, height, min_side))
    merged = True
    while merged:  # each merge removes one crop, so this ends
        merged = False
        for i in range(len(crops)):
            for j in range(i + 1, len(crops)):
                a, b = crops[i], crops[j]
                if min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                    union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    crops[i] = _square(union, width, height, min_side)
                    del crops[j]
                    merged = True
                    break
            if merged:
                break
    return crops


def _square(box: Box, width: int, height: int, min_side: int) -> Box:
    x1, y1, x2, y2 = box
    side = max(min_side, x2 - x1, y2 - y1)
    sw, sh = min(side, width), min(side, height)
    nx = min(max(0, round((x1 + x2 - sw) / 2)), width - sw)
    ny = min(max(0, round((y1 + y2 - sh) / 2)), height - sh)
    return (nx, ny, nx + sw, ny + sh)


def _clip_box(b: np.ndarray, width: int, height: int) -> Box | None:
    x1, x2 = (min(max(0, round(float(v))), width) for v in (b[0], b[2]))
    y1, y2 = (min(max(0, round(float(v))), height) for v in (b[1], b[3]))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 BGR, got {frame.dtype}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be H×W×3 BGR, got shape {frame.shape}")
    return frame


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def _load_labels(spec: list[str] | str | None, nc: int) -> list[str]:
    if spec is None:
        names, source = list(COCO80), "the built-in COCO-80 list"
    elif isinstance(spec, str):
        path = Path(spec).expanduser()
        try:
            names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        except OSError as err:
            raise ModelError(f"cannot read labels file {path}: {err.strerror}") from err
        names, source = [n for n in names if n], f"labels file {path}"
    else:
        names, source = list(spec), "the labels list"
    if len(names) != nc:
        raise ModelError(f"{source} has {len(names)} labels but the model outputs {nc} classes")
    return names


def _model_path(cfg: DetectorConfig) -> Path:
    path = Path(cfg.model).expanduser()
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    return path


def _input_size(shape: Sequence[Any], path: Path) -> int | None:
    """``S`` of an NCHW ``[1, 3, S, S]`` input; None where H or W is dynamic."""
    if len(shape) != 4 or shape[1] not in (3, "3"):
        raise ModelError(f"{path}: input shape {list(shape)} is not [1, 3, S, S]")
    h, w = shape[2], shape[3]
    if not (isinstance(h, int) and isinstance(w, int)):
        return None
    if h != w:
        raise ModelError(f"{path}: input {h}×{w} is not square")
    return h


def _load_onnxruntime(cfg: DetectorConfig) -> ObjectDetector:
    path = _model_path(cfg)
    import onnxruntime as ort  # imported here: it writes a telemetry cache on import

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = cfg.threads, 1
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises several pybind11 types for bad files
        raise ModelError(f"cannot load ONNX model {path}: {_first_line(err)}") from err
    inp = sess.get_inputs()[0]
    name = inp.name

    def run(blob: np.ndarray) -> np.ndarray:
        return np.asarray(sess.run(None, {name: blob})[0])

    return YoloDetector(cfg, run, _input_size(inp.shape, path), backend="onnxruntime")


def _load_opencv(cfg: DetectorConfig) -> ObjectDetector:
    path = _model_path(cfg)
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as err:
        raise ModelError(f"cannot load ONNX model {path}: {_first_line(err)}") from err
    if net.empty():
        raise ModelError(f"cannot load ONNX model {path}: OpenCV returned an empty network")
    cv2.setNumThreads(cfg.threads)  # process-wide: one detector per worker process
    size = cfg.input_size
    if size is None:  # cv2.dnn does not expose input shapes; onnxruntime reads them
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ModelError(f"{path}: set input_size (onnxruntime is not there to read "
                             "it from the model)") from err
        shape = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]
                                     ).get_inputs()[0].shape
        size = _input_size(shape, path)

    def run(blob: np.ndarray) -> np.ndarray:
        net.setInput(blob)
        return np.asarray(net.forward())

    return YoloDetector(cfg, run, size, backend="opencv")


def _load_ultralytics(cfg: DetectorConfig) -> ObjectDetector:
    from campy.detection.ultralytics_backend import load_ultralytics  # optional extra: import late

    return load_ultralytics(cfg)


DETECTORS: dict[str, Callable[[DetectorConfig], ObjectDetector]] = {
    "onnxruntime": _load_onnxruntime,
    "opencv": _load_opencv,
    "ultralytics": _load_ultralytics,
}


def load_detector(cfg: DetectorConfig) -> ObjectDetector:
    """The detector ``cfg`` describes, loaded and probed once; :class:`ModelError` if unusable."""
    factory = DETECTORS.get(cfg.type)
    if factory is None:
        raise ModelError(f"unknown detector type {cfg.type!r}; known types: "
                         f"{', '.join(sorted(DETECTORS))}")
    if cfg.layout not in ("auto", "yolov8", "yolox"):
        raise ModelError(f"unknown layout {cfg.layout!r}; known: auto, yolov8, yolox")
    if cfg.threads < 1 or not 0.0 <= cfg.score_threshold <= 1.0 or not 0.0 < cfg.nms_iou <= 1.0:
        raise ModelError("threads must be ≥ 1, score_threshold in [0, 1], nms_iou in (0, 1]")
    det = factory(cfg)
    log.info("detector %s loaded: %s, input %d, %d labels", cfg.type, cfg.model,
             det.input_size, len(det.labels))
    return det
