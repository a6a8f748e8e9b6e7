"""The object detector CamPy ships: YOLOX-Nano (COCO, Apache-2.0), see models/README.md.

Kept free of heavy imports: the config loader reads these paths."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
SHIPPED_MODEL = MODELS_DIR / "yolox_nano.onnx"
# The labels the shipped model was published with (VOC spellings: motorbike, aeroplane, ...).
SHIPPED_LABELS = MODELS_DIR / "coco_classes.txt"


# COCO's own 80 names in model output order (as Ultralytics' coco.yaml spells them). The
# YOLOX-Nano coco_classes.txt uses VOC spellings for six of them (motorbike, aeroplane, sofa,
# pottedplant, diningtable, tvmonitor): pass that file as ``labels`` to get those instead.
COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)


def shipped_label_names() -> list[str]:
    return [ln.strip() for ln in SHIPPED_LABELS.read_text(encoding="utf-8").splitlines() if ln.strip()]
