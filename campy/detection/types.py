"""Values the detection pipeline passes between its stages.

Boxes are ``(x1, y1, x2, y2)`` in pixels of the frame the worker decodes (the sub stream
at the detect size, e.g. 640×360), x to the right, y down, x2/y2 exclusive.
Polygons (zones, motion masks) are lists of ``(x, y)`` points in the same pixels.
"""

from __future__ import annotations

import msgspec

Box = tuple[int, int, int, int]
Point = tuple[float, float]
Polygon = list[Point]


class Detection(msgspec.Struct, frozen=True):
    """One object found in one frame."""

    label: str
    score: float
    box: Box

    @property
    def area(self) -> int:
        return max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1])


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    if inter == 0:
        return 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
