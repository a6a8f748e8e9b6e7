"""Tunables of the motion detector (``campy/detection/motion.py``), validated on creation."""

from __future__ import annotations

import msgspec


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
    """Share of each frame blended into the background (0–1], where nothing changed: how fast
    slow local changes of light (a shadow creeping over a wall) are followed."""

    absorb_seconds: float = 30.0
    """A change that stays put this long becomes background (a parked car, someone standing
    still): motion ends at most this long after something stops moving, and at most this
    long after it leaves again."""

    compensate_light: bool = True
    """Fit the global gain and offset of the light (auto-exposure, clouds, dusk) every frame
    and judge pixels after allowing for it. Off: only the background blend follows light."""

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
    """Share of the unmasked picture that, when changed in one frame even after the light fit,
    means a global change (IR switch, lightning, camera moved): report nothing and
    recalibrate. 1.0 turns it off."""

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
        if not 0.0 < self.absorb_seconds <= 3600.0:
            problems.append("absorb_seconds must be in (0, 3600]")
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
