"""The motion detector as it was before issue 9, kept verbatim for bench/motion_bench.py to
compare against in the same run. Not used by CamPy.

Its own description follows.

Cheap motion detection: a slow running-average background on a small grey image.

The worker runs this on every decoded frame and sends only the boxes it returns to the object
detector, so it must cost well under a millisecond: 0.15–0.25 ms median for a 640×360 frame on
the 2-core test box, 2–3× a bare grey conversion and resize (``bench/motion_bench.py``). The
method follows the frame differencing Frigate uses (``../shared/reference/detection.md`` §5),
written anew:

1. Scale the frame down to ``frame_height`` rows (aspect kept) and take the grey plane.
2. Zero masked pixels, so that nothing inside a mask can ever differ, then blur.
3. Compare with the background: ``|frame - background| > threshold``, dilate once, find the
   outer contours, keep those whose area is at least ``contour_area``.
4. Merge boxes that overlap or nearly touch; scale them back to full-frame pixels.
5. Blend the frame into the background at ``frame_alpha``.

Choices that differ from a literal reading of Frigate, and why:

- *Contrast.* Stretching the 4th–96th percentile range to 0–255 is linear, so instead of
  stretching both frame and background this divides the threshold by the stretch gain. The
  comparison is the same, but the background never has to chase a stretch that drifts as the
  percentiles move (a white truck entering moves them, and with them every stretched pixel),
  and changes among the brightest pixels are not clipped away. The gain is capped
  (``max_contrast_gain``) so a flat night image does not turn sensor noise into motion.
- *Light drift.* Dropping the stretch's offset means a global change of light is no longer
  absorbed by it, so it is handled head-on: a 256-bin histogram of the signed difference gives
  its median shift. When nearly all pixels agree with that shift (a cloud, dusk, exposure
  hunting), pixels are judged against it and the background follows it by at most
  ``_SHIFT_STEP`` levels a frame. A slow drift therefore never reads as motion nor forces a
  recalibration; a fast one (lights on) still does the latter; a big object parked in half
  the view does not agree and is reported, not followed.
- *Background update.* Every frame is blended at ``frame_alpha`` everywhere, moving or not. A
  walker covers a pixel for a few frames and leaves a ghost of a few percent of its contrast,
  far below the threshold; an object that stops (a parked car) blends in after about
  ``ln(contrast / threshold) / frame_alpha`` frames (~120–200 at the defaults) and stops being
  reported, which is what a motion detector should do. Holding the background in moving areas
  would keep a parked car "moving" forever. The price: an object that moved slowly across
  the view leaves a fading trail for a while.
- *Calibration.* The background is seeded with the per-pixel median of ``calibration_frames``
  frames rather than one frame, so someone walking through the view while CamPy starts (or
  after the lights change) does not leave a ghost that reads as motion for the next minute.
  Someone who lingers in one spot for half the calibration frames still does.
- *Global change.* When more than ``lightning_threshold`` of the picture changes at once (IR
  switch, lightning, camera moved, lights on), the frame reports no motion and the detector
  recalibrates from the frames that follow.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence

import cv2
import msgspec
import numpy as np

from campy.detection.types import Box, Polygon

# The contrast stretch maps these percentiles of the (unmasked) grey image to 0 and 255.
_CONTRAST_LOW = 0.04
_CONTRAST_HIGH = 0.96
_DILATE_KERNEL = np.ones((3, 3), np.uint8)
# Bilinear: it averages a little sensor noise; INTER_AREA would average more but costs
# ~0.5 ms at 640×360, INTER_NEAREST saves only ~0.02 ms.
_INTERPOLATION = cv2.INTER_LINEAR
_POLY_SHIFT = 4  # fillPoly fixed-point bits: masks keep sub-pixel precision when scaled down
# Trust the median shift of the picture as a change of light only when less than this share
# of the picture disagrees with it: a big object filling half the view is not a light change.
_SHIFT_MAX_CHANGED = 0.25
_SHIFT_STEP = 2  # grey levels per frame the background follows a global shift (10/s at 5 fps)


class MotionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Tunables of :class:`MotionDetector`; pixel figures are in the downscaled image."""

    frame_height: int = 100
    """Work on a grey copy scaled to this many rows (aspect kept); never scaled up."""

    threshold: int = 30
    """Difference from the background (0–255, after the contrast stretch) above which a pixel
    has changed. Raise it until only real motion remains, then tune ``contour_area``."""

    contour_area: int = 10
    """Smallest contour area that counts as motion, in downscaled pixels (about 13× as many
    full-frame pixels for 640×360 at height 100). 10 is sensitive, 30 medium, 50 low."""

    frame_alpha: float = 0.01
    """Share of each frame blended into the background (0–1]. Lower: a stopped object stays
    "moving" longer; higher: slow movers fade into the background."""

    improve_contrast: bool = True
    """Judge differences against the scene's contrast: the 4th–96th percentile range, averaged
    over ``contrast_frames`` frames, counts as 0–255 (so dim or hazy scenes stay sensitive)."""

    contrast_frames: int = 50
    """Frames the percentile range is averaged over, so one frame cannot swing the gain."""

    max_contrast_gain: float = 4.0
    """Cap of the contrast gain (≥ 1): a flat night image must not amplify sensor noise."""

    blur: int = 3
    """Gaussian blur kernel size (odd); 0 or 1 turns the blur off. Blur removes pixel noise."""

    merge_gap: int = 4
    """Boxes at most this many downscaled pixels apart merge into one (4 ≈ 14 px at 640×360),
    so a person whose jacket matches the wall behind still gives one box for the object
    detector; negative: only overlapping boxes merge."""

    lightning_threshold: float = 0.8
    """Share of the unmasked picture that, when changed in one frame, means a global change
    (IR switch, lightning, camera moved): report nothing and recalibrate. 1.0 turns it off."""

    calibration_frames: int = 10
    """Frames with no motion reported while the background is seeded, at start and after a
    global change (2 s at 5 fps). The background is their per-pixel median."""

    def __post_init__(self) -> None:
        problems = []
        if self.frame_height < 8:
            problems.append("frame_height must be at least 8")
        if not 0 < self.threshold < 255:
            problems.append("threshold must be between 1 and 254")
        if self.contour_area < 0:
            problems.append("contour_area must not be negative")
        if not 0.0 < self.frame_alpha <= 1.0:
            problems.append("frame_alpha must be in (0, 1]")
        if self.contrast_frames < 1:
            problems.append("contrast_frames must be at least 1")
        if self.max_contrast_gain < 1.0:
            problems.append("max_contrast_gain must be at least 1")
        if self.blur < 0 or (self.blur > 1 and self.blur % 2 == 0):
            problems.append("blur must be 0, 1 or an odd kernel size")
        if not 0.0 < self.lightning_threshold <= 1.0:
            problems.append("lightning_threshold must be in (0, 1]")
        if self.calibration_frames < 1:
            problems.append("calibration_frames must be at least 1")
        if problems:
            raise ValueError("; ".join(problems))


class MotionDetector:
    """Finds moving areas in one camera's frames; feed it every frame, in order.

    ``width`` and ``height`` are the size of the frames ``detect`` gets; ``masks`` are
    polygons in those pixels where motion is ignored (timestamps, trees, a busy road).
    """

    last_ms: float
    """Wall time the last :meth:`detect` call took, in milliseconds (for status reports)."""

    changed_fraction: float
    """Share of the unmasked picture that differed from the background by more than the
    threshold in the last frame, before allowing for a global light shift (this is what
    ``lightning_threshold`` is compared with): 0 while calibrating."""

    def __init__(
        self,
        width: int,
        height: int,
        config: MotionConfig = MotionConfig(),
        masks: Sequence[Polygon] = (),
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}×{height}")
        self.config = config
        self.width = width
        self.height = height
        small_h = min(height, self.config.frame_height)
        small_w = width if small_h == height else max(1, round(width * small_h / height))
        self._small_size = (small_w, small_h)  # cv2 order: (width, height)
        self._scale_x = width / small_w
        self._scale_y = height / small_h

        self._keep = _keep_mask(masks, small_w, small_h, self._scale_x, self._scale_y)
        self._unmasked = small_w * small_h if self._keep is None else cv2.countNonZero(self._keep)

        self._background: np.ndarray | None = None  # float32, blurred grey
        self._calibration: list[np.ndarray] = []
        self._lows: deque[float] = deque(maxlen=self.config.contrast_frames)
        self._highs: deque[float] = deque(maxlen=self.config.contrast_frames)
        self._low_sum = 0.0
        self._high_sum = 0.0
        self.last_ms = 0.0
        self.changed_fraction = 0.0

    @property
    def calibrating(self) -> bool:
        """True until the background is seeded (at start and after a global change)."""
        return self._background is None

    def reset(self) -> None:
        """Forget the background: the next frames calibrate again (e.g. after a reconnect)."""
        self._background = None
        self._calibration = []
        self._lows.clear()
        self._highs.clear()
        self._low_sum = self._high_sum = 0.0
        self.changed_fraction = 0.0

    def detect(self, frame: np.ndarray) -> list[Box]:
        """Motion boxes ``(x1, y1, x2, y2)`` in ``frame``'s pixels, merged; ``[]`` while
        calibrating and on a frame with a global change.

        ``frame`` is ``height``×``width``, uint8, BGR (3 channels) or grey (2-D or 1 channel).
        """
        began = time.perf_counter()
        try:
            return self._detect(frame)
        finally:
            self.last_ms = (time.perf_counter() - began) * 1000.0

    # -- steps ------------------------------------------------------------------------------

    def _detect(self, frame: np.ndarray) -> list[Box]:
        cfg = self.config
        small = self._prepare(frame)
        if self._unmasked == 0:  # everything masked: nothing can move
            return []
        if cfg.improve_contrast:
            self._track_contrast(small)
        if self._background is None:
            self._calibrate(small)
            return []

        # One histogram of the signed difference (offset by 128) gives the share of changed
        # pixels and the median shift of the whole picture, at the cost of a 256-bin count.
        signed = cv2.addWeighted(small, 1.0, cv2.convertScaleAbs(self._background), -1.0, 128.0)
        counts = np.cumsum(cv2.calcHist([signed], [0], self._keep, [256], [0, 256]).ravel())
        total = float(counts[-1])
        limit = int(cfg.threshold / self._gain())  # changed: |difference| > limit
        raw_changed = _outside(counts, 128, limit)
        self.changed_fraction = raw_changed / total
        if self.changed_fraction > cfg.lightning_threshold:
            fraction = self.changed_fraction
            self.reset()
            if cfg.improve_contrast:
                self._track_contrast(small)
            self._calibrate(small)  # this frame is the first of the new scene
            self.changed_fraction = fraction  # shows why it recalibrated
            return []
        # Light that drifts faster than the background follows (a cloud, dusk, exposure
        # hunting) shifts every pixel alike. When nearly all pixels agree on the median shift
        # (within half the threshold), judge them against it, and let the background follow
        # it a little per frame: a slow drift then never reaches the threshold, while a fast
        # change (lights on) still becomes a global change and a clean recalibration. A big
        # object in view, half the picture at one shift and half at none, does not agree.
        shift = int(np.searchsorted(counts, total / 2)) - 128
        centre, n_changed = 128, raw_changed
        if shift and _outside(counts, 128 + shift, limit // 2) < _SHIFT_MAX_CHANGED * total:
            shifted_changed = _outside(counts, 128 + shift, limit)
            if shifted_changed <= raw_changed:
                centre, n_changed = 128 + shift, shifted_changed
            if abs(shift) > max(1, limit // 4):
                step = max(-_SHIFT_STEP, min(_SHIFT_STEP, shift))
                np.add(self._background, step, out=self._background)
                np.clip(self._background, 0.0, 255.0, out=self._background)
        cv2.accumulateWeighted(small, self._background, cfg.frame_alpha)
        if n_changed == 0:
            return []

        changed = cv2.bitwise_not(cv2.inRange(signed, centre - limit, centre + limit))
        if self._keep is not None:
            cv2.bitwise_and(changed, self._keep, dst=changed)
        grown = cv2.dilate(changed, _DILATE_KERNEL)
        contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects: list[Box] = []
        for contour in contours:
            if cv2.contourArea(contour) >= cfg.contour_area:
                x, y, w, h = cv2.boundingRect(contour)
                rects.append((x, y, x + w, y + h))
        if not rects:
            return []
        return [self._to_frame(box) for box in _merge_boxes(rects, cfg.merge_gap)]

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        """Frame → small, grey, masked, blurred uint8 image."""
        if frame.dtype != np.uint8 or frame.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"expected a {self.height}×{self.width} uint8 frame, "
                f"got shape {frame.shape} {frame.dtype}"
            )
        resize = self._small_size != (self.width, self.height)
        if frame.ndim == 3 and frame.shape[2] == 3:
            # Grey first: at 640×360 the full-size conversion plus a one-channel resize
            # measured ~0.01 ms cheaper than a three-channel resize plus a small conversion.
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        elif frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
            # A copy when not resized: calibration keeps frames, and a decoder reuses its buffer.
            plane = frame if frame.ndim == 2 else frame[:, :, 0]
            grey = plane if resize else plane.copy()
        else:
            raise ValueError(f"expected a BGR or grey frame, got shape {frame.shape}")
        if resize:
            grey = cv2.resize(grey, self._small_size, interpolation=_INTERPOLATION)
        if self._keep is not None:
            cv2.bitwise_and(grey, self._keep, dst=grey)
        if self.config.blur > 1:
            grey = cv2.GaussianBlur(grey, (self.config.blur, self.config.blur), 0)
        return grey

    def _track_contrast(self, small: np.ndarray) -> None:
        hist = cv2.calcHist([small], [0], self._keep, [256], [0, 256]).ravel()
        cumulative = np.cumsum(hist)
        total = float(cumulative[-1])
        low = float(np.searchsorted(cumulative, total * _CONTRAST_LOW))
        high = float(np.searchsorted(cumulative, total * _CONTRAST_HIGH))
        if len(self._lows) == self._lows.maxlen:
            self._low_sum -= self._lows[0]
            self._high_sum -= self._highs[0]
        self._lows.append(low)
        self._highs.append(high)
        self._low_sum += low
        self._high_sum += high

    def _gain(self) -> float:
        """How much the contrast stretch would amplify a difference (1 … max gain)."""
        if not self.config.improve_contrast or not self._lows:
            return 1.0
        spread = (self._high_sum - self._low_sum) / len(self._lows)
        if spread <= 0:
            return self.config.max_contrast_gain
        return min(max(255.0 / spread, 1.0), self.config.max_contrast_gain)

    def _calibrate(self, small: np.ndarray) -> None:
        self.changed_fraction = 0.0
        self._calibration.append(small)
        if len(self._calibration) >= self.config.calibration_frames:
            # The median drops whatever moved through the view while calibrating.
            seed = np.median(np.stack(self._calibration), axis=0)
            self._background = seed.astype(np.float32)
            self._calibration = []

    def _to_frame(self, box: Box) -> Box:
        x1, y1, x2, y2 = box
        return (
            max(0, math.floor(x1 * self._scale_x)),
            max(0, math.floor(y1 * self._scale_y)),
            min(self.width, math.ceil(x2 * self._scale_x)),
            min(self.height, math.ceil(y2 * self._scale_y)),
        )


def _outside(counts: np.ndarray, centre: int, limit: int) -> int:
    """Pixels whose signed difference lies outside ``centre ± limit``, from the cumulative
    256-bin histogram ``counts``."""
    below = int(counts[centre - limit - 1]) if centre - limit - 1 >= 0 else 0
    within = int(counts[min(centre + limit, 255)])
    return below + int(counts[-1]) - within


def _keep_mask(
    masks: Sequence[Polygon], width: int, height: int, scale_x: float, scale_y: float
) -> np.ndarray | None:
    """255 where motion counts, 0 inside any mask polygon; None when there are no masks."""
    polygons = []
    for polygon in masks:
        if len(polygon) < 3:
            raise ValueError(f"a motion mask needs at least 3 points, got {len(polygon)}")
        points = np.asarray(polygon, dtype=np.float64) / (scale_x, scale_y)
        # fillPoly takes pixel centres; -0.5 maps full-frame edges onto small-pixel edges.
        polygons.append(np.round((points - 0.5) * (1 << _POLY_SHIFT)).astype(np.int32))
    if not polygons:
        return None
    keep = np.full((height, width), 255, np.uint8)
    cv2.fillPoly(keep, polygons, 0, lineType=cv2.LINE_8, shift=_POLY_SHIFT)
    return keep


def _merge_boxes(boxes: Sequence[Box], gap: int) -> list[Box]:
    """Union boxes that overlap or lie within ``gap`` pixels of each other, transitively."""
    merged: list[Box] = []
    for box in boxes:
        x1, y1, x2, y2 = box
        i = 0
        while i < len(merged):
            a1, b1, a2, b2 = merged[i]
            if x1 <= a2 + gap and a1 <= x2 + gap and y1 <= b2 + gap and b1 <= y2 + gap:
                x1, y1, x2, y2 = min(x1, a1), min(y1, b1), max(x2, a2), max(y2, b2)
                merged.pop(i)
                i = 0  # the grown box may now reach boxes already passed over
            else:
                i += 1
        merged.append((x1, y1, x2, y2))
    return merged
