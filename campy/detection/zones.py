"""Zones: named polygons in frame pixels, and which of them an object is in.

Pure geometry, no I/O. Coordinates are pixels of the detect frame (see ``types.py``).

Rules
-----

1. **Point in polygon.** Even-odd ray casting, so a self-crossing outline is inside where
   an odd number of its edges lie to the right of the point. A point *on* an edge or a
   vertex counts as inside (within ``1e-9`` px): a zone drawn along the frame's border, or
   two zones sharing an edge, must not leave a gap that an object can stand in unseen.
   A "polygon" of fewer than 3 points contains nothing.

2. **An object is in a zone when its bottom-centre is.** That point is where a person's
   feet or a car's wheels meet the ground, and zones are drawn on the ground ("the
   driveway", "the path"). Testing any overlap of the box instead would put a person
   walking on the pavement *in* the driveway zone whenever their head overlaps it in the
   image, and testing the box centre puts a tall person's hips over a zone their feet have
   not reached. The bottom-centre is the middle pixel of the box's last row:
   ``((x1 + x2 - 1) / 2, y2 - 1)``, because ``x2``/``y2`` are exclusive. So an object standing
   on the frame's bottom edge is inside a zone drawn down to the last pixel row
   (``height - 1``) as well as one drawn to the frame edge (``height``).

3. **A valid zone** has at least 3 points, every point inside the frame
   (``0 <= x <= width``, ``0 <= y <= height``, edges included), all coordinates finite, and
   a non-zero area by the shoelace formula (all points on one line, or an outline that
   crosses itself so its lobes cancel, encloses nothing an object could be in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from campy.detection.types import Box, Point, Polygon

_EPS = 1e-9  # px: "on the edge" tolerance, far below any pixel but above float noise


def point_in_polygon(pt: Point, poly: Sequence[Point]) -> bool:
    """Whether ``pt`` is inside ``poly`` or on its boundary (rule 1)."""
    n = len(poly)
    if n < 3:
        return False
    x, y = pt
    inside = False
    xj, yj = poly[-1]
    for xi, yi in poly:
        if _on_segment(x, y, xi, yi, xj, yj):
            return True
        # The edge straddles the horizontal line through pt (half-open in y, so a ray
        # through a vertex counts that vertex once, for exactly one of its two edges).
        if (yi > y) != (yj > y):
            cross_x = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < cross_x:
                inside = not inside
        xj, yj = xi, yi
    return inside


def bottom_centre(box: Box) -> Point:
    """The middle pixel of the box's bottom row (rule 2)."""
    x1, y1, x2, y2 = box
    return ((x1 + x2 - 1) / 2, float(max(y1, y2 - 1)))


def box_in_zone(box: Box, poly: Sequence[Point]) -> bool:
    """Whether an object with this box stands in the zone: its bottom-centre is inside."""
    return point_in_polygon(bottom_centre(box), poly)


def zones_of(box: Box, zones: Mapping[str, Polygon]) -> list[str]:
    """Names of the zones the object stands in, sorted."""
    foot = bottom_centre(box)
    return sorted(name for name, poly in zones.items() if point_in_polygon(foot, poly))


def validate_polygon(poly: Sequence[Point], width: int, height: int) -> str | None:
    """Why ``poly`` is not a usable zone in a ``width``×``height`` frame, or None (rule 3)."""
    if len(poly) < 3:
        return f"a zone needs at least 3 points, got {len(poly)}"
    for i, (x, y) in enumerate(poly, start=1):
        if not (math.isfinite(x) and math.isfinite(y)):
            return f"point {i} ({x}, {y}) is not a finite number"
        if not (0 <= x <= width and 0 <= y <= height):
            return f"point {i} ({x:g}, {y:g}) is outside the {width}x{height} frame"
    if abs(polygon_area(poly)) <= _EPS:
        return "the points enclose no area (all on one line, or an outline that cancels itself)"
    return None


def polygon_area(poly: Sequence[Point]) -> float:
    """Signed area by the shoelace formula (positive when the points run clockwise on
    screen, since y points down); 0 for fewer than 3 points."""
    if len(poly) < 3:
        return 0.0
    twice = 0.0
    xj, yj = poly[-1]
    for xi, yi in poly:
        twice += xj * yi - xi * yj
        xj, yj = xi, yi
    return twice / 2


def _on_segment(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> bool:
    """Whether (px, py) lies on the segment a–b, within ``_EPS`` px."""
    if not (
        min(ax, bx) - _EPS <= px <= max(ax, bx) + _EPS
        and min(ay, by) - _EPS <= py <= max(ay, by) + _EPS
    ):
        return False
    # |cross| = |ab| * distance from p to the line through a and b
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    return abs(cross) <= _EPS * max(1.0, math.hypot(bx - ax, by - ay))
