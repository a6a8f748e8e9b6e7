"""Tiny YOLO-format ONNX models for tests: a "bright blob" detector built with ``onnx``.

No weights, no download: the graph is a handful of fixed convolutions. It finds every bright
region on a dark background and reports it in the exact YOLOv8 (``[1, 4 + nc, N]``) or
YOLOX (``[1, N, 5 + nc]``, raw grid form) layout, so a test can draw a white rectangle,
move it, and watch the detector's box follow through the real letterbox, decode, threshold,
NMS and mapping code. What the model computes, on the letterboxed input:

1. grey ``g`` in 0..1 (mean of the three channels; /255 for YOLOX's 0-255 input) and a
   mask ``b = clip(10·g − 5, 0, 1)``: grey ≥ 0.6 (153) is object, ≤ 0.5 (128) is not, so
   the letterbox padding (114) never is;
2. ``b`` averaged over 8×8 blocks, then for every anchor of strides 8, 16 and 32 the mass,
   centroid and second moments of the blocks in a window around the anchor (separable
   convolutions with ramp kernels). The box is the rectangle with that centroid and those moments
   (``w = √(12·var_x + 8²)``, exact for an axis-aligned rectangle);
3. the score of an anchor is the mean over its own stride cell of (block mean of ``b``) ×
   (block mean of ``g``): 1.0 for white inside a white rectangle, ``g`` for a grey one, 0 on
   the background. YOLOX gets it as
   objectness with a constant class score ``class_score``, so its final score is the product.

Only class ``class_id`` ever scores. Every anchor inside an object reports the same box,
which is what NMS must collapse. The window spans ``2·max_object + stride`` px, so objects
up to ``max_object`` px (in model input pixels) come out exact; objects closer together than
that window merge into one box. ``onnx`` is a test-time dependency only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from onnx import helper as oh

STRIDES = (8, 16, 32)
BLOCK = 8  # px per block of the downsampled mask


class _Graph:
    """A minimal builder: constants, single-output nodes, fresh names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, value: np.ndarray | float | list[int]) -> str:
        arr = np.asarray(value)
        arr = arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(np.float32)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        name = out or self._name(op_type.lower())
        self.nodes.append(oh.make_node(op_type, list(inputs), [name], **attrs))
        return name

    def conv(self, x: str, w: np.ndarray, b: np.ndarray | None = None, *,
             strides: tuple[int, int] = (1, 1), pads: tuple[int, int] = (0, 0)) -> str:
        """Conv with weights ``w`` (out, in, kh, kw); ``pads`` (y, x) on both sides."""
        ins = [x, self.const(w)] + ([self.const(b)] if b is not None else [])
        return self.op("Conv", *ins, kernel_shape=list(w.shape[2:]), strides=list(strides),
                       pads=[pads[0], pads[1], pads[0], pads[1]])


def _window(stride: int, max_object: int) -> tuple[int, int]:
    """Kernel (in blocks) and padding of the moment window centred on each anchor."""
    t = stride // BLOCK
    k = math.ceil((2 * max_object + stride) / BLOCK)
    if (k - t) % 2:  # symmetric padding that centres the window needs k − t even
        k += 1
    return k, (k - t) // 2


def _head(g: _Graph, b8: str, c8: str, stride: int, size: int, max_object: int,
          yolox: bool) -> list[str]:
    """Five ``[1, 1, n]`` rows (box terms ×4, score) for the anchors of one stride."""
    t = stride // BLOCK
    k, pad = _window(stride, max_object)
    off = (np.arange(k) + 0.5 - k / 2) * BLOCK  # block centre minus window centre, px
    ramps = {"1": np.ones(k), "d": off, "dd": off**2}
    # Separable windows: a 1×k pass along x, then a k×1 pass along y (k, not k², per output).
    rows_x = {key: g.conv(b8, r.reshape(1, 1, 1, k), strides=(1, t), pads=(0, pad))
              for key, r in ramps.items()}
    pairs = {"m0": ("1", "1"), "mx": ("d", "1"), "my": ("1", "d"), "mxx": ("dd", "1"),
             "myy": ("1", "dd")}
    m = {key: g.conv(rows_x[kx], ramps[ky].reshape(1, 1, k, 1), strides=(t, 1), pads=(pad, 0))
         for key, (kx, ky) in pairs.items()}
    mass = g.op("Add", m["m0"], g.const(1e-6))
    rows = []
    n = size // stride
    for axis in "xy":
        mean = g.op("Div", m[f"m{axis}"], mass)
        var = g.op("Relu", g.op("Sub", g.op("Div", m[f"m{axis}{axis}"], mass),
                                g.op("Mul", mean, mean)))
        extent = g.op("Sqrt", g.op("Add", g.op("Mul", var, g.const(12.0)),
                                   g.const(float(BLOCK**2))))
        if yolox:  # raw grid form: cx = (tx + gx)·s with the anchor at the cell's corner
            centre = g.op("Add", g.op("Mul", mean, g.const(1.0 / stride)), g.const(0.5))
            extent = g.op("Log", g.op("Mul", extent, g.const(1.0 / stride)))
        else:  # absolute input pixels, anchors at the cell centres
            grid = (np.arange(n) + 0.5) * stride
            anchors = np.tile(grid, (n, 1)) if axis == "x" else np.tile(grid[:, None], (1, n))
            centre = g.op("Add", mean, g.const(anchors.reshape(1, 1, n, n)))
        rows.append((centre, extent))
    score = c8 if t == 1 else g.op("AveragePool", c8, kernel_shape=[t, t], strides=[t, t])
    (cx, w), (cy, h) = rows
    flat = g.const([1, 1, n * n])  # row-major, x fastest: the YOLO anchor order
    return [g.op("Reshape", r, flat) for r in (cx, cy, w, h, score)]


def build_synthetic(layout: str, *, size: int, classes: int = 80, class_id: int = 0,
                    class_score: float = 0.9, max_object: int = 128) -> onnx.ModelProto:
    """The bright-blob model as an ``onnx.ModelProto`` (see the module docstring)."""
    if layout not in ("yolov8", "yolox"):
        raise ValueError(f"layout must be yolov8 or yolox, not {layout!r}")
    if size % 32 or size < 64:
        raise ValueError(f"size must be a multiple of 32 and ≥ 64, not {size}")
    if not 0 <= class_id < classes:
        raise ValueError(f"class_id {class_id} is not in 0..{classes - 1}")
    yolox = layout == "yolox"
    g = _Graph()
    scale = (1.0 / 255.0 if yolox else 1.0) / 3.0
    # Full resolution: relu(10g − 5), relu(10g − 6) and g (≥ 0, untouched by Relu), then
    # straight down to blocks; AveragePool is linear, so the mask difference commutes with it.
    planes = g.op("Relu", g.conv("images", np.array([10 * scale, 10 * scale, scale])
                                 [:, None].repeat(3, 1).reshape(3, 3, 1, 1),
                                 np.array([-5.0, -6.0, 0.0])))
    block = [BLOCK, BLOCK]
    blocks = g.op("AveragePool", planes, kernel_shape=block, strides=block)
    b8 = g.conv(blocks, np.array([1.0, -1.0, 0.0]).reshape(1, 3, 1, 1))  # clip(10g − 5, 0, 1)
    c8 = g.op("Mul", b8, g.conv(blocks, np.array([0.0, 0.0, 1.0]).reshape(1, 3, 1, 1)))
    heads = [_head(g, b8, c8, s, size, max_object, yolox) for s in STRIDES]
    cx, cy, w, h, score = (g.op("Concat", *parts, axis=2) for parts in zip(*heads, strict=True))
    # Assembled by Concat, not MatMul: OpenCV DNN 5.0 rejects a [1, N, 5] × [5, K] MatMul.
    zero = g.op("Mul", score, g.const(0.0))
    if yolox:  # objectness = score, the class column a constant: final score = product
        cls = g.op("Add", zero, g.const(class_score))
        cols = [cx, cy, w, h, score] + [cls if i == class_id else zero for i in range(classes)]
    else:
        cols = [cx, cy, w, h] + [score if i == class_id else zero for i in range(classes)]
    name = "output" if yolox else "output0"
    table = g.op("Concat", *cols, axis=1, out=None if yolox else name)  # [1, 5 + nc, N]
    if yolox:
        g.op("Transpose", table, perm=[0, 2, 1], out=name)
    width = len(cols)
    n = sum((size // s) ** 2 for s in STRIDES)
    out_shape = [1, n, width] if yolox else [1, width, n]
    graph = oh.make_graph(
        g.nodes, f"synthetic_{layout}",
        [oh.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [oh.make_tensor_value_info(name, TensorProto.FLOAT, out_shape)],
        initializer=g.inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)],
                          producer_name="campy.detection.synthetic")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def make_synthetic_yolov8(path: str | Path, *, size: int = 320, classes: int = 80,
                          class_id: int = 0, max_object: int = 128) -> Path:
    """Write a YOLOv8-layout bright-blob model (``images`` → ``output0``) to ``path``."""
    model = build_synthetic("yolov8", size=size, classes=classes, class_id=class_id,
                            max_object=max_object)
    onnx.save(model, str(path))
    return Path(path)


def make_synthetic_yolox(path: str | Path, *, size: int = 416, classes: int = 80,
                         class_id: int = 0, class_score: float = 0.9,
                         max_object: int = 128) -> Path:
    """Write a YOLOX-layout bright-blob model (``images`` → ``output``) to ``path``."""
    model = build_synthetic("yolox", size=size, classes=classes, class_id=class_id,
                            class_score=class_score, max_object=max_object)
    onnx.save(model, str(path))
    return Path(path)
