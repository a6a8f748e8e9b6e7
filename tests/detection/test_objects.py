"""Object detectors: synthetic bright-blob models through the real pre/post-processing, the
errors a user sees for a bad model or config, and the real YOLOX-Nano on a real photo."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import msgspec
import numpy as np
import pytest

from campy.detection.objects import (
    COCO80,
    DetectorConfig,
    ModelError,
    ObjectDetector,
    load_detector,
    nms_classwise,
    region_crops,
)
from campy.detection.types import Box, Detection, iou
from campy.detection.ultralytics_backend import export_onnx

from .conftest import REAL_LABELS

W, H = 640, 360
TOL = 3  # px: blocks of 8 model px, bilinear edges, and up to 2 frame px per model px


def frame_with(*boxes: Box, value: int = 255, size: tuple[int, int] = (W, H),
               bg: int = 0) -> np.ndarray:
    frame = np.full((size[1], size[0], 3), bg, np.uint8)
    for x1, y1, x2, y2 in boxes:
        frame[y1:y2, x1:x2] = value
    return frame


def load(model: Path, **kw: object) -> ObjectDetector:
    return load_detector(msgspec.structs.replace(DetectorConfig(model=str(model)), **kw))


def assert_near(got: Box, want: Box, tol: int = TOL) -> None:
    assert all(abs(g - w) <= tol for g, w in zip(got, want, strict=True)), f"{got} vs {want}"


def one(dets: list[Detection]) -> Detection:
    assert len(dets) == 1, dets
    return dets[0]


# --- synthetic models: where, how sure, how many ------------------------------------------------

@pytest.mark.parametrize("size", [(640, 360), (360, 640)], ids=["landscape", "portrait"])
def test_white_square_is_found_where_it_is(synthetic: tuple[str, Path],
                                           size: tuple[int, int]) -> None:
    layout, model = synthetic
    det = load(model)
    truth = (150, 100, 250, 200)
    d = one(det.detect(frame_with(truth, size=size)))
    assert d.label == "person"
    assert_near(d.box, truth)
    assert d.score == pytest.approx(1.0 if layout == "yolov8" else 0.9, abs=0.01)
    assert det.last_runs == 1 and det.last_ms > 0 and det.last_total_ms >= det.last_ms


def test_model_input_follows_the_layout(synthetic: tuple[str, Path]) -> None:
    """YOLOv8: RGB /255, centred; YOLOX: BGR 0-255 at the top-left; both padded with 114."""
    layout, model = synthetic
    det = load(model)
    seen: list[np.ndarray] = []
    run = det._run  # type: ignore[attr-defined]

    def spy(blob: np.ndarray) -> np.ndarray:
        seen.append(blob)
        return run(blob)

    det._run = spy  # type: ignore[attr-defined]
    frame = np.empty((H, W, 3), np.uint8)
    frame[:] = (10, 20, 30)  # B, G, R
    det.detect(frame)
    blob = seen[-1]
    s = det.input_size
    assert blob.shape == (1, 3, s, s) and blob.dtype == np.float32
    pixel = lambda y, x: [round(float(v), 4) for v in blob[0, :, y, x]]  # noqa: E731
    if layout == "yolov8":
        assert pixel(0, 0) == pixel(s - 1, 0) == [round(114 / 255, 4)] * 3
        assert pixel(s // 2, s // 2) == [round(v / 255, 4) for v in (30, 20, 10)]
    else:
        assert pixel(0, 0) == [10.0, 20.0, 30.0]
        assert pixel(s - 1, 0) == [114.0] * 3 and pixel(int(H * s / W), 0) == [114.0] * 3


def test_label_comes_from_the_labels_given(synthetic: tuple[str, Path], tmp_path: Path) -> None:
    _, model = synthetic
    names = ["blob"] + [f"other{i}" for i in range(79)]
    assert one(load(model, labels=names).detect(frame_with((10, 10, 60, 60)))).label == "blob"
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(["thing", *names[1:]]) + "\n")
    assert one(load(model, labels=str(path)).detect(frame_with((10, 10, 60, 60)))).label == "thing"


def test_moving_the_object_moves_the_box(synthetic: tuple[str, Path]) -> None:
    _, model = synthetic
    det = load(model)
    for truth in [(0, 0, 80, 120), (300, 120, 380, 240), (560, 240, 640, 360), (20, 250, 140, 330)]:
        assert_near(one(det.detect(frame_with(truth))).box, truth)


def test_regions_give_the_same_answer_as_the_whole_frame(synthetic: tuple[str, Path]) -> None:
    _, model = synthetic
    det = load(model)
    for truth in [(30, 40, 130, 140), (500, 220, 600, 340), (280, 130, 360, 250)]:
        frame = frame_with(truth)
        full = one(det.detect(frame))
        x1, y1, x2, y2 = truth
        part = one(det.detect(frame, regions=[(x1 - 10, y1 - 10, x2 + 10, y2 + 10)]))
        assert det.last_runs == 1
        assert part.label == full.label
        assert_near(part.box, full.box)
        assert_near(part.box, truth)


def test_regions_gate_what_is_looked_at(yolov8_model: Path) -> None:
    det = load(yolov8_model)
    left, right = (40, 40, 120, 120), (520, 220, 600, 300)
    frame = frame_with(left, right)
    assert det.detect(frame, regions=[]) == [] and det.last_runs == 0
    assert_near(one(det.detect(frame, regions=[(530, 230, 560, 260)])).box, right)
    both = det.detect(frame, regions=[(50, 50, 60, 60), (530, 230, 560, 260)])
    assert det.last_runs == 2 and sorted(d.box for d in both)[0][0] < 50 and len(both) == 2


def test_region_crops_are_squares_inside_the_frame_merged_when_overlapping() -> None:
    assert region_crops([(300, 150, 340, 200)], W, H, 320) == [(160, 15, 480, 335)]
    assert region_crops([(0, 0, 10, 10)], W, H, 320) == [(0, 0, 320, 320)]
    assert region_crops([(600, 300, 700, 400)], W, H, 416) == [(224, 0, 640, 360)]
    assert region_crops([(10, 10, 500, 40)], W, H, 320) == [(10, 0, 500, 360)]
    assert region_crops([(-50, -50, -1, -1)], W, H, 320) == []
    merged = region_crops([(100, 100, 120, 120), (300, 100, 320, 120)], W, H, 320)
    assert merged == [(0, 0, 470, 360)]
    apart = region_crops([(0, 0, 10, 10), (630, 350, 640, 360)], 1920, 1080, 320)
    assert len(apart) == 2


def test_score_threshold_applies(synthetic: tuple[str, Path]) -> None:
    layout, model = synthetic
    grey = frame_with((200, 100, 300, 200), value=170)
    want = 170 / 255 * (1.0 if layout == "yolov8" else 0.9)
    assert one(load(model, score_threshold=0.4).detect(grey)).score == pytest.approx(want, abs=0.02)
    assert load(model, score_threshold=want + 0.05).detect(grey) == []
    assert len(load(model, score_threshold=want - 0.05).detect(grey)) == 1
    assert load(model).detect(frame_with(value=255, bg=114)) == []  # the letterbox pad grey


def test_nms_collapses_anchors_but_keeps_separate_objects(synthetic: tuple[str, Path]) -> None:
    _, model = synthetic
    det = load(model)
    frame = frame_with((100, 100, 200, 200))
    boxes, _, _, _ = det._candidates(frame)
    assert len(boxes) >= 10  # every anchor inside the square fires
    one(det.detect(frame))
    assert len(load(model, nms_iou=1.0).detect(frame)) >= 10
    far = det.detect(frame_with((20, 40, 100, 120), (520, 220, 600, 300)))
    assert len(far) == 2
    assert iou(far[0].box, far[1].box) == 0


class _Fixed(ObjectDetector):
    """A detector whose model always answers the same boxes (image pixels)."""

    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.input_size, self.labels, self.nms_iou, self.score_threshold = 320, ["x"], 0.45, 0.4
        self.boxes = np.array(boxes, np.float32)

    def _candidates(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        n = len(self.boxes)
        return self.boxes.copy(), np.linspace(0.9, 0.5, n).astype(np.float32), np.zeros(n, int), 0.0


def test_boxes_are_clipped_to_the_frame() -> None:
    det = _Fixed([(-20.4, -10, 50, 40.6), (600, 300, 700, 400), (700, 10, 800, 50)])
    assert [d.box for d in det.detect(frame_with())] == [(0, 0, 50, 41), (600, 300, 640, 360)]


def test_nms_is_per_class() -> None:
    boxes = np.array([[0, 0, 100, 100], [5, 5, 100, 100], [2, 2, 98, 98]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms_classwise(boxes, scores, np.array([0, 0, 0]), 0.45) == [0]
    assert sorted(nms_classwise(boxes, scores, np.array([0, 2, 0]), 0.45)) == [0, 1]
    assert nms_classwise(boxes[:0], scores[:0], np.array([], int), 0.45) == []


def test_layout_is_read_from_the_output_shape(yolov8_model: Path, yolox_model: Path) -> None:
    v8, yx = load(yolov8_model), load(yolox_model)
    assert (v8.layout, v8.input_size) == ("yolov8", 320)
    assert (yx.layout, yx.input_size) == ("yolox", 416)
    assert load(yolov8_model, layout="yolov8").layout == "yolov8"
    with pytest.raises(ModelError, match=r"\[1, 84, 2100\] is not \[1, 2100, 5\+nc\] \(yolox\)"):
        load(yolov8_model, layout="yolox")
    with pytest.raises(ModelError, match="input_size is 640 but the model takes 320"):
        load(yolov8_model, input_size=640)


def test_opencv_gives_the_same_boxes_as_onnxruntime(synthetic: tuple[str, Path]) -> None:
    _, model = synthetic
    ort_det, cv_det = load(model), load(model, type="opencv")
    assert cv_det.backend == "opencv"
    frame = frame_with((30, 30, 110, 150), (400, 200, 500, 300), value=200)
    a, b = ort_det.detect(frame), cv_det.detect(frame)
    assert len(a) == len(b) == 2
    for x, y in zip(sorted(a, key=lambda d: d.box), sorted(b, key=lambda d: d.box), strict=True):
        assert x.label == y.label and x.score == pytest.approx(y.score, abs=1e-3)
        assert_near(x.box, y.box, tol=1)


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["onnxruntime", "opencv"])
def test_missing_and_garbage_models_fail_at_load(kind: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found: .*nope.onnx"):
        load(tmp_path / "nope.onnx", type=kind)
    with pytest.raises(ModelError, match="model path is not a file"):
        load(tmp_path, type=kind)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf\x00\xff" * 10)
    with pytest.raises(ModelError, match="cannot load ONNX model .*junk.onnx"):
        load(junk, type=kind)


def test_a_model_of_another_shape_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto
    from onnx import helper as oh

    graph = oh.make_graph(
        [oh.make_node("GlobalAveragePool", ["images"], ["output"])], "not_yolo",
        [oh.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [oh.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 1, 1])])
    path = tmp_path / "pool.onnx"
    onnx.save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)]), str(path))
    with pytest.raises(ModelError, match=r"output shape \[1, 3, 1, 1\] is not \[1, 4\+nc, 84\]"):
        load(path)


def test_labels_must_match_the_model(yolov8_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="the labels list has 2 labels but the model outputs 80"):
        load(yolov8_model, labels=["a", "b"])
    short = tmp_path / "short.txt"
    short.write_text("person\ncar\n")
    with pytest.raises(ModelError, match="labels file .*short.txt has 2 labels .* 80 classes"):
        load(yolov8_model, labels=str(short))
    with pytest.raises(ModelError, match="cannot read labels file .*absent.txt"):
        load(yolov8_model, labels=str(tmp_path / "absent.txt"))


def test_unknown_type_lists_the_known_ones(yolov8_model: Path) -> None:
    with pytest.raises(ModelError, match="unknown detector type 'tpu'; known types: "
                                         "onnxruntime, opencv, ultralytics"):
        load(yolov8_model, type="tpu")


def test_ultralytics_is_an_optional_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # import fails as if not installed
    msg = r"ultralytics is not installed; .*AGPL-3.0.*pip install 'campy\[ultralytics\]'"
    with pytest.raises(ModelError, match=msg):
        load(tmp_path / "yolov8n.pt", type="ultralytics")
    with pytest.raises(ModelError, match=msg):
        export_onnx(tmp_path / "yolov8n.pt", tmp_path / "yolov8n.onnx", 320)


def test_config_is_checked_when_decoded() -> None:
    cfg = msgspec.convert({"model": "m.onnx", "labels": ["a"]}, DetectorConfig)
    assert (cfg.type, cfg.layout, cfg.threads, cfg.score_threshold) == ("onnxruntime", "auto", 1, 0.4)
    for bad in [{"model": "m", "threads": 0}, {"model": "m", "layout": "ssd"},
                {"model": "m", "input_size": 300}, {"model": "m", "colour": "red"}, {}]:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, DetectorConfig)


def test_built_in_labels_are_coco_80() -> None:
    assert len(COCO80) == 80 and len(set(COCO80)) == 80
    if REAL_LABELS.is_file():  # same order; the shared file uses six VOC spellings
        theirs = REAL_LABELS.read_text().split("\n")[:80]
        differ = {a: b for a, b in zip(COCO80, theirs, strict=True) if a != b}
        assert differ == {"motorcycle": "motorbike", "airplane": "aeroplane", "couch": "sofa",
                          "potted plant": "pottedplant", "dining table": "diningtable",
                          "tv": "tvmonitor"}


# --- the real YOLOX-Nano on a real photo -----------------------------------------------------------

def pasted(photo: np.ndarray, at: tuple[int, int], side: int = 220) -> tuple[np.ndarray, Box]:
    frame = np.full((H, W, 3), (96, 120, 110), np.uint8)  # a plain, wall-like background
    x, y = at
    frame[y:y + side, x:x + side] = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    return frame, (x, y, x + side, y + side)


@pytest.mark.parametrize("kind", ["onnxruntime", "opencv"])
def test_real_model_finds_the_person_where_it_is(kind: str, real_model: Path,
                                                 person_photo: np.ndarray) -> None:
    det = load(real_model, type=kind, labels=str(REAL_LABELS), threads=2)
    assert (det.input_size, det.layout) == (416, "yolox")
    for at in [(30, 40), (390, 120)]:
        frame, area = pasted(person_photo, at)
        for regions in (None, [area]):
            people = [d for d in det.detect(frame, regions) if d.label == "person"]
            best = max(people, key=lambda d: iou(d.box, area), default=None)
            assert best is not None, f"no person at {at} (regions={regions})"
            assert best.score >= 0.5 and iou(best.box, area) >= 0.5, (best, area)


def test_real_model_with_built_in_labels(real_model: Path, person_photo: np.ndarray) -> None:
    frame, area = pasted(person_photo, (200, 60), side=280)
    dets = load(real_model).detect(frame)
    assert dets and dets[0].label == "person" and iou(dets[0].box, area) >= 0.5
