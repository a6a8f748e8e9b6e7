"""Cheap motion detection: a selectively updated background on a small grey image, judged
after allowing for the global light.

The worker runs this on every decoded frame and sends only the boxes it returns to the object
detector, so it must stay cheap: well under a millisecond for a 640×360 frame on the 2-core
test box (``bench/motion_bench.py`` has the figures). The core is the frame differencing
Frigate uses (``../shared/reference/detection.md`` §5), written anew, with three additions
that keep what is not motion from reading as motion:

1. Scale the frame down to ``frame_height`` rows (aspect kept), take the grey plane and zero
   masked pixels (nothing inside a mask can ever differ).
2. *Light.* Fit ``frame ≈ gain × background + offset`` over the picture (robustly: "no
   change" or a quantile match as the first guess, then least squares over the pixels that
   agree with it) and move the whole background by that fit. Auto-exposure steps, clouds and
   dusk scale and shift every pixel alike, so after the fit they leave no difference, however
   fast they come. The fit is trusted only when ``_FIT_MIN_AGREE`` of the picture agrees with
   it: a truck filling half the view is not a change of light, it is reported. A frame in
   which the light jumped by more than half the threshold is not judged (where the brighter
   picture clips inside a downscaled pixel the fit bends); what differs in it is absorbed
   as in step 5, so it comes back at once if it was real and moves.
3. Compare: blur ``frame - background`` (the same as blurring both, except where clipping
   bends it) and threshold it at ``threshold / contrast gain``; dilate once, find the
   outer contours, keep those of at least ``contour_area``; merge boxes that overlap or
   nearly touch and scale them back to full-frame pixels.
4. *Update, selectively.* Pixels with no change blend into the background at
   ``frame_alpha`` (slow local drift: the sun moving over a wall). Pixels with a change are
   left alone, so a walker leaves no trace, and one who stands still for a while and leaves
   leaves no ghost.
5. *Absorb what stays.* A pixel that has differed in every frame for ``absorb_seconds``
   becomes background at once (a parked car, a person who stands still): motion ends a
   bounded time after something stops. The background it replaced is remembered; when that
   old background shows again (the car leaves), the pixel takes it back at once, so leaving
   does not leave a ghost either. Where the old background does not come back (the light
   changed locally meanwhile), the ghost is absorbed like anything else: within
   ``absorb_seconds``.

Choices that differ from a literal reading of Frigate, and why:

- *Contrast.* Stretching the 4th–96th percentile range to 0–255 is linear, so instead of
  stretching both frame and background this divides the threshold by the stretch gain. The
  comparison is the same, but the background never has to chase a stretch that drifts as
  the percentiles move, and changes among the brightest pixels are not clipped away. The
  gain is capped (``max_contrast_gain``) so a flat night image does not turn sensor noise
  into motion.
- *Calibration.* The background is seeded with the per-pixel median of
  ``calibration_frames`` frames rather than one frame, so someone walking through the view
  while CamPy starts does not leave a ghost.
- *Global change.* When more than ``lightning_threshold`` of the picture differs even after
  the light fit (IR switch, lightning, camera moved), the frame reports no motion and the
  detector recalibrates from the frames that follow.

Time: the detector counts frames; ``fps`` (the rate frames arrive at) turns
``absorb_seconds`` into frames. Nothing here reads a clock except for ``last_ms``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np

from campy.detection.motion_config import MotionConfig
from campy.detection.types import Box, Polygon

__all__ = ["MotionConfig", "MotionDetector"]

# The contrast stretch maps these percentiles of the (unmasked) grey image to 0 and 255.
_CONTRAST_LOW = 0.04
_CONTRAST_HIGH = 0.96
_DILATE_KERNEL = np.ones((3, 3), np.uint8)
_ABSORB_KERNEL = np.ones((5, 5), np.uint8)
# Bilinear: it averages a little sensor noise; INTER_AREA would average more but costs
# ~0.5 ms at 640×360, INTER_NEAREST saves only ~0.02 ms.
_INTERPOLATION = cv2.INTER_LINEAR
_POLY_SHIFT = 4  # fillPoly fixed-point bits: masks keep sub-pixel precision when scaled down
# Quantiles matched for the first guess of the light fit; the tails are left out because
# clipping at 0 and 255 bends them.
_FIT_QUANTILES = np.linspace(0.05, 0.95, 19)
# The light fit is trusted only when this share of the picture lies within half the
# threshold of it: a big object filling half the view is not a change of light.
_FIT_MIN_AGREE = 0.75
# Pixels this close to 0 or 255 are left out of the fit: clipped, they say little of the gain.
_FIT_DARK, _FIT_BRIGHT = 3.0, 252.0
# Pixels within this many grey levels of the first guess feed the least-squares fit: wide
# enough for unblurred sensor noise, narrow enough to leave a walker out.
_FIT_BAND = 12.0


class MotionDetector:
    """Finds moving areas in one camera's frames; feed it every frame, in order.

    ``width`` and ``height`` are the size of the frames ``detect`` gets; ``masks`` are
    polygons in those pixels where motion is ignored (timestamps, trees, a busy road);
    ``fps`` is the rate frames come at (it turns ``absorb_seconds`` into frames).
    """

    last_ms: float
    """Wall time the last :meth:`detect` call took, in milliseconds (for status reports)."""

    changed_fraction: float
    """Share of the unmasked picture that differed from the background by more than the
    threshold in the last frame, after the light fit (this is what ``lightning_threshold``
    is compared with): 0 while calibrating."""

    light: tuple[float, float] | None
    """The last frame's light fit ``(gain, offset)`` against the background, or None when no
    fit was trusted (or calibrating, or ``compensate_light`` is off)."""

    def __init__(
        self,
        width: int,
        height: int,
        config: MotionConfig = MotionConfig(),
        masks: Sequence[Polygon] = (),
        *,
        fps: float = 5.0,
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}×{height}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.config = config
        self.width = width
        self.height = height
        self.fps = fps
        self._absorb_frames = max(1, round(config.absorb_seconds * fps))
        small_h = min(height, self.config.frame_height)
        small_w = width if small_h == height else max(1, round(width * small_h / height))
        self._small_size = (small_w, small_h)  # cv2 order: (width, height)
        self._scale_x = width / small_w
        self._scale_y = height / small_h

        self._keep = _keep_mask(masks, small_w, small_h, self._scale_x, self._scale_y)
        self._unmasked = small_w * small_h if self._keep is None else cv2.countNonZero(self._keep)
        self._masked = small_w * small_h - self._unmasked
        # The light fit works on every other row and column.
        self._sub_keep = None if self._keep is None else self._keep[::2, ::2] > 0
        self._sub_unmasked = (
            (small_h + 1) // 2 * ((small_w + 1) // 2)
            if self._sub_keep is None else int(np.count_nonzero(self._sub_keep))
        )

        self._background: np.ndarray | None = None  # float32, blurred grey, not clipped
        self._age = np.zeros((small_h, small_w), np.float32)  # frames each pixel has differed
        self._prior: np.ndarray | None = None  # background an absorbed pixel replaced
        self._has_prior = np.zeros((small_h, small_w), bool)
        self._calibration: list[np.ndarray] = []
        self._lows: deque[float] = deque(maxlen=self.config.contrast_frames)
        self._highs: deque[float] = deque(maxlen=self.config.contrast_frames)
        self._low_sum = 0.0
        self._high_sum = 0.0
        self.last_ms = 0.0
        self.changed_fraction = 0.0
        self.light = None

    @property
    def calibrating(self) -> bool:
        """True until the background is seeded (at start and after a global change)."""
        return self._background is None

    def reset(self) -> None:
        """Forget the background: the next frames calibrate again (e.g. after a reconnect)."""
        self._background = None
        self._age.fill(0.0)
        self._prior = None
        self._has_prior.fill(False)
        self._calibration = []
        self._lows.clear()
        self._highs.clear()
        self._low_sum = self._high_sum = 0.0
        self.changed_fraction = 0.0
        self.light = None

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
        background = self._background
        if background is None:
            self._calibrate(small)
            return []

        limit = cfg.threshold / self._gain()  # changed: |difference| > limit
        grey = small.astype(np.float32)
        difference: np.ndarray | None = None
        self.light = None
        step = 0.0  # how far the light moved the background's grey levels in this frame
        if cfg.compensate_light:
            fitted = self._fit_light(small, grey, background)
            if fitted is not None:
                fit, step = fitted[:2], fitted[2]
                # Trusted only when most of the picture agrees with it, judged as motion is
                # (masked pixels never differ, so they are taken off the count).
                trial = np.abs(self._difference(grey, background * fit[0] + fit[1]))
                agree = np.count_nonzero(trial <= limit / 2) - self._masked
                if agree >= _FIT_MIN_AGREE * self._unmasked:
                    self.light, difference = fit, trial
                    background *= fit[0]
                    background += fit[1]
                    if self._prior is not None:
                        self._prior *= fit[0]
                        self._prior += fit[1]
                else:
                    step = 0.0
        if difference is None:
            difference = np.abs(self._difference(grey, background))

        changed = np.where(difference > limit, np.uint8(255), np.uint8(0))
        if self._keep is not None:
            cv2.bitwise_and(changed, self._keep, dst=changed)
        if self._prior is not None:
            self._restore_prior(grey, changed, limit)
        n_changed = cv2.countNonZero(changed)
        self.changed_fraction = n_changed / self._unmasked
        if self.changed_fraction > cfg.lightning_threshold:
            fraction = self.changed_fraction
            self.reset()
            if cfg.improve_contrast:
                self._track_contrast(small)
            self._calibrate(small)  # this frame is the first of the new scene
            self.changed_fraction = fraction  # shows why it recalibrated
            return []
        if step > limit / 2 and n_changed:
            # The light jumped (an exposure step, a flash). The fit is exact where nothing
            # clips, but where the brighter picture clips inside a downscaled pixel it bends
            # by up to the size of the step: such a frame is not judged. What differs is
            # taken into the background (remembered, so it comes back if the light does).
            self._absorb(grey, changed > 0)
            return []

        grown = cv2.dilate(changed, _DILATE_KERNEL) if n_changed else changed
        self._update(small, grey, grown, n_changed > 0)
        if n_changed == 0:
            return []
        contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rects: list[Box] = []
        for contour in contours:
            if cv2.contourArea(contour) >= cfg.contour_area:
                x, y, w, h = cv2.boundingRect(contour)
                rects.append((x, y, x + w, y + h))
        if not rects:
            return []
        return [self._to_frame(box) for box in _merge_boxes(rects, cfg.merge_gap)]

    def _difference(self, grey: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """Blurred signed difference of the frame from ``expected`` (a float background).

        The camera clips at 0 and 255 and the background is kept unclipped (a pixel pushed
        past 255 by a brighter exposure gets its value back when the exposure drops), so the
        background is clipped first. Blurring the difference rather than the two pictures
        is the same sum (blur is linear), except where clipping bends it: there the clipped
        pixels cancel before the blur can smear them over their unclipped neighbours.
        """
        difference = grey - np.clip(expected, 0.0, 255.0)
        if self.config.blur > 1:
            difference = cv2.GaussianBlur(difference, (self.config.blur, self.config.blur), 0)
        return difference

    def _fit_light(
        self, small: np.ndarray, grey: np.ndarray, background: np.ndarray
    ) -> tuple[float, float, float] | None:
        """``(gain, offset, step)`` with ``frame ≈ gain × background + offset`` and ``step``
        the largest change that makes to the bulk of the picture's grey levels (mean ± 2
        standard deviations), or None when the picture is too flat or too clipped to say."""
        # Every other row and column: plenty for two numbers, a quarter of the work.
        sub_grey, sub_bg = grey[::2, ::2], background[::2, ::2]
        wanted = self._sub_unmasked / 2
        # The background follows the light every frame, so "no change" is the usual first
        # guess. After a jump it is not: then match quantiles of the two pictures (a person
        # covering a few percent of the view moves each quantile by a few percent of rank).
        gain, offset = 1.0, 0.0
        agree = self._fit_pixels(sub_grey, sub_bg, gain, offset)
        if cv2.countNonZero(agree) < wanted:
            qf = _quantiles(small, self._keep)
            qb = _quantiles(cv2.convertScaleAbs(background), self._keep)
            unclipped = (qf > _FIT_DARK) & (qf < _FIT_BRIGHT)
            qb, qf = qb[unclipped], qf[unclipped]
            if qb.size < 3 or float(qb[-1] - qb[0]) < 8.0:
                return None
            gain, offset = _line(qb, qf)
            agree = self._fit_pixels(sub_grey, sub_bg, gain, offset)
            if cv2.countNonZero(agree) < wanted:
                return None
        # Least squares over the pixels that agree with the guess. Noise sits in the frame
        # only (the background is an average), so the fit is unbiased: the background does
        # not wander from fitting noise.
        mean_bg, std_bg = (float(v[0][0]) for v in cv2.meanStdDev(sub_bg, mask=agree))
        if std_bg < 2.0:
            return None
        mean_grey = cv2.mean(sub_grey, mask=agree)[0]
        mean_product = cv2.mean(cv2.multiply(sub_bg, sub_grey), mask=agree)[0]
        gain = (mean_product - mean_bg * mean_grey) / (std_bg * std_bg)
        offset = mean_grey - gain * mean_bg
        ends = np.clip([mean_bg - 2 * std_bg, mean_bg + 2 * std_bg], 0.0, 255.0)
        return gain, offset, float(np.max(np.abs(ends * (gain - 1.0) + offset)))

    def _fit_pixels(
        self, grey: np.ndarray, background: np.ndarray, gain: float, offset: float
    ) -> np.ndarray:
        """Mask (uint8) of the pixels within ``_FIT_BAND`` of ``gain × background + offset``,
        unmasked and clipped at neither end in the frame nor in that prediction."""
        predicted = background if gain == 1.0 and offset == 0.0 else background * gain + offset
        agree = np.abs(grey - predicted) < _FIT_BAND
        agree &= (grey > _FIT_DARK) & (grey < _FIT_BRIGHT)
        agree &= (predicted > _FIT_DARK) & (predicted < _FIT_BRIGHT)
        if self._sub_keep is not None:
            agree &= self._sub_keep
        return agree.view(np.uint8)

    def _restore_prior(self, grey: np.ndarray, changed: np.ndarray, limit: float) -> None:
        """Changed pixels whose background was absorbed and that now show the background
        from before (the parked car left) take it back, and are not changed after all."""
        prior = self._prior
        assert prior is not None and self._background is not None
        back = (changed > 0) & self._has_prior
        if not back.any():
            return
        # Blurred as motion is judged: neighbours without a prior count with their background.
        expected = np.where(self._has_prior, prior, self._background)
        back &= np.abs(self._difference(grey, expected)) <= limit
        np.copyto(self._background, prior, where=back)
        self._has_prior &= ~back
        self._age[back] = 0.0
        changed[back] = 0
        if not self._has_prior.any():
            self._prior = None

    def _update(self, small: np.ndarray, grey: np.ndarray, grown: np.ndarray, moved: bool
                ) -> None:
        """Blend still pixels into the background; absorb pixels changed for too long."""
        background = self._background
        assert background is not None
        if not moved:
            cv2.accumulateWeighted(small, background, self.config.frame_alpha)
            self._age.fill(0.0)
            return
        cv2.accumulateWeighted(small, background, self.config.frame_alpha,
                               mask=cv2.bitwise_not(grown))
        moving = grown > 0
        self._age += 1.0
        self._age *= moving
        if self._age.max() >= self._absorb_frames:
            stale = (self._age >= self._absorb_frames).view(np.uint8)
            # Take the changed pixels next to it along: edge pixels that flickered once while
            # the object settled would otherwise restart their count and linger a full period.
            near = cv2.dilate(stale, _ABSORB_KERNEL)
            self._absorb(grey, (near > 0) & moving)

    def _absorb(self, grey: np.ndarray, stale: np.ndarray) -> None:
        """Make the ``stale`` pixels background now, remembering what they replace."""
        background = self._background
        assert background is not None
        # A pixel keeps the oldest background it had (the empty scene, most likely): a person
        # standing by a car that parked there before leaves, and the car's prior would not help.
        fresh = stale & ~self._has_prior
        if self._prior is None:
            self._prior = background.copy()
        else:
            np.copyto(self._prior, background, where=fresh)
        self._has_prior |= fresh
        np.copyto(background, grey, where=stale)
        self._age[stale] = 0.0

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        """Frame → small, grey, masked uint8 image (the blur comes later, on differences)."""
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


def _quantiles(image: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Grey levels of ``image`` (uint8) at ``_FIT_QUANTILES`` of its unmasked pixels."""
    counts = np.cumsum(cv2.calcHist([image], [0], keep, [256], [0, 256]).ravel())
    return np.searchsorted(counts, counts[-1] * _FIT_QUANTILES).astype(np.float64)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``y`` on ``x`` (a few quantiles)."""
    mx, my = float(x.mean()), float(y.mean())
    dx = x - mx
    slope = float(np.dot(dx, y - my) / max(float(np.dot(dx, dx)), 1e-9))
    return slope, my - slope * mx


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
