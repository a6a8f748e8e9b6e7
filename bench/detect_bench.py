"""How long does one object detection take? A program, not a test.

Times ``ObjectDetector.detect()`` on a 640×360 frame for each backend (onnxruntime, OpenCV DNN),
thread count (1, 2) and model:

* the real YOLOX-Nano at 416 (``../shared/models/yolox_nano.onnx`` beside the repo, or
  ``--model``), skipped with a note when absent;
* the synthetic bright-blob YOLOv8-layout model (``campy.detection.synthetic``, needs ``onnx``)
  at 320 and 640, to show how the pre/post-processing and runtime overhead scale with the
  input size. **Its cost is not representative of a real YOLOv8n**: it is a few fixed
  convolutions, while a real YOLOv8n costs about 14 ms at 320 and 55 ms at 640 with two
  onnxruntime threads (``../shared/reference/detection.md`` §2.2).

Each model/backend/threads row is measured twice: on the whole frame, and with one motion
region (a 100×100 box, so one square crop of the model's input size). "infer" is the model
run alone (``last_ms``), "detect" the whole call with letterbox, decode and NMS
(``last_total_ms``); both as median and p95 over ``--runs`` calls after ``--warmup``.
"× ORT-1" is the detect median against onnxruntime, 1 thread, whole frame, on the same model
in the same run. OpenCV's thread count is process-wide, so it is set per row for both
backends (it also drives the letterbox resize). Run from the repo root:

    .venv/bin/python bench/detect_bench.py
    .venv/bin/python bench/detect_bench.py --runs 50 --warmup 5 --model ../shared/models/yolox_nano.onnx
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from campy.detection.objects import DetectorConfig, ObjectDetector, load_detector  # noqa: E402
from campy.detection.types import Box  # noqa: E402

FRAME_W, FRAME_H = 640, 360
OBJECT: Box = (380, 160, 480, 260)  # a white 100×100 "object", also the motion region
BACKENDS = ("onnxruntime", "opencv")
THREADS = (1, 2)


def make_frame() -> np.ndarray:
    """A smooth dark gradient (no false blobs for the synthetic model) with one white square."""
    ramp = np.linspace(20, 110, FRAME_W, dtype=np.float32)[None, :] + np.linspace(
        0, 10, FRAME_H, dtype=np.float32)[:, None]
    frame = np.repeat(ramp[:, :, None], 3, axis=2).astype(np.uint8)
    x1, y1, x2, y2 = OBJECT
    frame[y1:y2, x1:x2] = 255
    return frame


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def measure(cfg: DetectorConfig, frame: np.ndarray, regions: list[Box] | None, runs: int,
            warmup: int) -> tuple[list[float], list[float], int, ObjectDetector]:
    cv2.setNumThreads(cfg.threads)
    det = load_detector(cfg)
    cv2.setNumThreads(cfg.threads)
    for _ in range(warmup):
        det.detect(frame, regions)
    infer, total = [], []
    for _ in range(runs):
        det.detect(frame, regions)
        infer.append(det.last_ms)
        total.append(det.last_total_ms)
    return infer, total, len(det.detect(frame, regions)), det


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--model", type=Path, default=REPO.parent / "shared/models/yolox_nano.onnx")
    args = ap.parse_args()

    import onnxruntime

    notes: list[str] = []
    models: list[tuple[str, Path]] = []
    if args.model.is_file():
        models.append(("YOLOX-Nano (real)", args.model))
    else:
        notes.append(f"real model absent: {args.model}")
    tmp = tempfile.TemporaryDirectory(prefix="campy-detect-bench-")
    try:
        from campy.detection.synthetic import make_synthetic_yolov8

        for size in (320, 640):
            path = make_synthetic_yolov8(Path(tmp.name) / f"blob_{size}.onnx", size=size)
            models.append((f"synthetic yolov8 {size}*", path))
    except ImportError:
        notes.append("onnx not installed: synthetic models skipped")

    frame = make_frame()
    print(f"detect bench: frame {FRAME_W}×{FRAME_H}, {args.runs} runs after {args.warmup} "
          f"warm-up, onnxruntime {onnxruntime.__version__}, OpenCV {cv2.__version__}, "
          f"{os.cpu_count()} CPUs\n")
    print("| model | input | backend | threads | frame | runs/call | dets | infer median ms "
          "| infer p95 ms | detect median ms | detect p95 ms | × ORT-1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, path in models:
        baseline: float | None = None
        for backend in BACKENDS:
            for threads in THREADS:
                cfg = DetectorConfig(type=backend, model=str(path), threads=threads)
                for label, regions in (("whole", None), ("1 region", [OBJECT])):
                    infer, total, ndet, det = measure(cfg, frame, regions, args.runs,
                                                      args.warmup)
                    med = statistics.median(total)
                    if baseline is None:
                        baseline = med
                    print(f"| {name} | {det.input_size} | {backend} | {threads} | {label} "
                          f"| {det.last_runs} "
                          f"| {ndet} | {statistics.median(infer):.2f} | {p95(infer):.2f} "
                          f"| {med:.2f} | {p95(total):.2f} | {med / baseline:.2f} |")
    tmp.cleanup()
    print("\n* synthetic: a few fixed convolutions, NOT the cost of a real YOLOv8n "
          "(≈14 ms at 320, ≈55 ms at 640, 2 ORT threads, reference §2.2); it shows the scaling "
          "of pre/post-processing and runtime overhead with input size.")
    print("One region costs one model run at the same input size as the whole frame: regions "
          "save time only on frames without motion (no run at all).")
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
