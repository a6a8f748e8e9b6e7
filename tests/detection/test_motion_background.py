"""What is not motion, and what stops being motion: light drift, exposure steps, sensor noise,
and a person who walks in, stands still, then leaves.

Clips are built from real photos as in ``test_motion.py`` (scikit-image's garage and
astronaut). Frames go straight into the detector, one call per frame at a nominal 5 fps: no
clock, so every run sees the same frames and gives the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from campy.config import ConfigError, load_config
from campy.config.model import DetectConfig
from campy.detection.motion import MotionConfig, MotionDetector
from campy.detection.types import Box
from tests.detection.test_motion import (
    CALIBRATION,
    SPRITE_H,
    SPRITE_W,
    H,
    W,
    Walk,
    clip,
    covered,
    near,
)

FPS = 5.0
Frames = Iterator[tuple[np.ndarray, list[Box]]]


def flagged(detector: MotionDetector, frames: Frames) -> int:
    """Frames after calibration in which the detector reported motion."""
    return sum(bool(detector.detect(frame)) and i >= CALIBRATION
               for i, (frame, _) in enumerate(frames))


def swing(amplitude: float, period_s: float, start: int = CALIBRATION) -> Callable[[int], float]:
    """Exposure that swings ±``amplitude`` (0.14 = ±14 %) over ``period_s``, from ``start``."""
    frames = period_s * FPS
    return lambda i: 1.0 + amplitude * math.sin(2 * math.pi * max(0, i - start) / frames)


# -- light that is not motion -----------------------------------------------------------------

@pytest.mark.parametrize(("amplitude", "period_s"), [
    (0.14, 60.0),   # the drift: ±14 %, under one grey level per frame
    (0.14, 20.0),   # the same, three times faster (a cloud)
    (0.30, 60.0),   # stronger: dusk, or a camera that lets the sky clip
])
def test_exposure_drift_is_never_motion(amplitude: float, period_s: float) -> None:
    n = CALIBRATION + int(period_s * FPS)  # one full swing: up, down past the start, back
    detector = MotionDetector(W, H, fps=FPS)
    count = flagged(detector, clip(n, gain=swing(amplitude, period_s)))
    assert count == 0, f"motion in {count}/{n - CALIBRATION} frames of drift"
    assert not detector.calibrating


def test_without_the_light_fit_the_same_drift_reads_as_motion() -> None:
    # The control for the test above: the old way (the background's blend alone follows the
    # light) reports the ±30 % drift as motion in many frames.
    detector = MotionDetector(W, H, MotionConfig(compensate_light=False), fps=FPS)
    n = CALIBRATION + 300
    assert flagged(detector, clip(n, gain=swing(0.30, 60.0))) >= 0.2 * (n - CALIBRATION)


@pytest.mark.parametrize("step", [1.25, 0.8])
def test_an_exposure_step_is_not_motion_nor_blindness(step: float) -> None:
    # Auto-exposure jumps by 25 % up (the bright walls clip) or 20 % down, in one frame.
    at = 60
    detector = MotionDetector(W, H, fps=FPS)
    results = []
    for i, (frame, truth) in enumerate(clip(200, walk_from(at + 20),
                                            gain=lambda i: step if i >= at else 1.0)):
        results.append((detector.detect(frame), truth))
        assert detector.calibrating == (i < CALIBRATION - 1), f"recalibrated at frame {i}"
    assert all(boxes == [] for boxes, _ in results[CALIBRATION:at + 20]), "quiet"
    walking = results[at + 20:]
    hits = sum(covered(truth[0], boxes) >= 0.8 for boxes, truth in walking if truth)
    assert hits >= 0.95 * sum(bool(truth) for _, truth in walking), "and still sensitive"


@pytest.mark.parametrize(("noise", "amplitude"), [("gaussian", 6), ("uniform", 10)])
def test_sensor_noise_under_drift_is_not_motion(noise: str, amplitude: float) -> None:
    detector = MotionDetector(W, H, fps=FPS)
    n = CALIBRATION + 300
    frames = clip(n, noise=noise, amplitude=amplitude, gain=swing(0.14, 60.0))
    assert flagged(detector, frames) == 0


def test_a_walker_is_found_as_promptly_during_drift() -> None:
    # Sensitivity is not traded for quiet: the first frame the walker is in, it is found.
    enter = CALIBRATION + 100
    detector = MotionDetector(W, H, fps=FPS)
    results = [(detector.detect(frame), truth) for frame, truth in
               clip(enter + 60, walk_from(enter), gain=swing(0.30, 60.0))]
    assert all(boxes == [] for boxes, _ in results[:enter])
    walking = [(boxes, truth) for boxes, truth in results[enter:] if truth]
    assert walking[0][0] != [], "found in the first frame the walker shows"
    hits = sum(covered(truth[0], boxes) >= 0.8 and near(truth, boxes)
               for boxes, truth in walking)
    assert hits >= 0.95 * len(walking)


# -- someone who stops, and leaves ------------------------------------------------------------

SPEED = 8  # px per frame: 40 px/s at 5 fps, a stroll across a 640 px view in 16 s
STAND_X, STAND_Y = 300, 200


class Visit:
    """A person who walks in from the left, stands still at STAND_X for ``stand`` frames,
    then walks out to the right. Frame indices: ``enter`` (first frame they show in),
    ``stop`` (first frame at rest), ``go`` (first frame moved on), ``gone`` (first frame
    with nobody in view)."""

    def __init__(self, enter: int, stand: int) -> None:
        self.enter = enter
        self.stop = enter + (STAND_X + SPRITE_W - 1) // SPEED
        self.go = self.stop + stand
        self.gone = self.go + math.ceil((W - STAND_X) / SPEED) - 1

    def __call__(self, i: int) -> tuple[int, int] | None:
        if i < self.enter or i >= self.gone:
            return None
        if i < self.stop:
            return (STAND_X - (self.stop - i) * SPEED, STAND_Y)
        if i < self.go:
            return (STAND_X, STAND_Y)
        return (STAND_X + (i - self.go + 1) * SPEED, STAND_Y)

    def walking(self, after: int = 0) -> set[int]:
        """Frames (from ``after``) in which they walk with at least a quarter of them in
        view (the drawn fallback person's outer columns are a thin arm)."""
        frames = set()
        for i in [*range(self.enter, self.stop), *range(self.go, self.gone)]:
            where = self(i)
            if i >= after and where is not None and -SPRITE_W * 3 // 4 <= where[0] <= W - SPRITE_W // 4:
                frames.add(i)
        return frames


def walk_from(enter: int) -> Walk:
    """Left to right across the view at SPEED, from frame ``enter``."""
    return lambda i: (-SPRITE_W + (i - enter) * SPEED, STAND_Y) if i >= enter else None


def motion_frames(detector: MotionDetector, frames: Frames) -> list[int]:
    return [i for i, (frame, _) in enumerate(frames) if detector.detect(frame)]


@pytest.mark.parametrize(("stand_s", "absorb_s"), [
    (10.0, 30.0),   # the case, at the default: stands 10 s, then leaves
    (20.0, 8.0),    # stands longer than absorb_seconds: becomes background, then leaves
])
def test_a_person_who_stands_still_stops_being_motion_and_leaves_no_ghost(
        stand_s: float, absorb_s: float) -> None:
    visit = Visit(enter=CALIBRATION + 10, stand=int(stand_s * FPS))
    bound = math.ceil(absorb_s * FPS)
    detector = MotionDetector(W, H, MotionConfig(absorb_seconds=absorb_s), fps=FPS)
    moving = motion_frames(detector, clip(visit.gone + bound + 20, visit))

    assert moving[0] == visit.enter, "the walker is found in the first frame it shows"
    assert visit.walking() <= set(moving), "motion in every frame someone walks"
    standing = [i for i in moving if visit.stop <= i < visit.go]
    if stand_s > absorb_s:
        # Becomes background within absorb_seconds of stopping, and stays quiet after.
        assert standing[-1] < visit.stop + bound + 1
        assert standing == list(range(visit.stop, standing[-1] + 1))
    else:
        assert standing == list(range(visit.stop, visit.go)), "shown all the time they stand"
    # Gone: no ghost. Where they stood shows the old background again and is taken back.
    after = [i for i in moving if i >= visit.gone]
    assert after == [], f"ghost in {len(after)} frames after leaving: {after[:5]}…"


def test_a_bag_left_behind_becomes_background_within_the_bound() -> None:
    # The person walks on but leaves their bag where they stood: a new still object,
    # reported until absorbed, within absorb_seconds of being left.
    absorb_s = 12.0
    bound = math.ceil(absorb_s * FPS)
    visit = Visit(enter=CALIBRATION + 10, stand=10)
    x1, y1, x2, y2 = STAND_X + 10, STAND_Y + SPRITE_H - 25, STAND_X + 40, STAND_Y + SPRITE_H
    rng = np.random.default_rng(2)

    def frames() -> Frames:
        for i, (frame, truth) in enumerate(clip(visit.gone + bound + 40, visit)):
            if i >= visit.go:  # brown, noisy like the rest of the picture
                bag = np.array((35, 60, 90)) + rng.integers(-5, 6, (y2 - y1, x2 - x1, 3))
                frame[y1:y2, x1:x2] = bag.astype(np.uint8)
            yield frame, truth

    detector = MotionDetector(W, H, MotionConfig(absorb_seconds=absorb_s), fps=FPS)
    boxes_by_frame = [detector.detect(frame) for frame, _ in frames()]
    bag_box = (x1, y1, x2, y2)
    after = [i for i in range(visit.gone, len(boxes_by_frame)) if boxes_by_frame[i]]
    assert after, "the control: the bag shows as motion once the person is gone"
    # Where it lies (the part the person stood on has differed since they stopped, so it is
    # absorbed first: the box shrinks before it goes).
    assert all(near([bag_box], boxes_by_frame[i]) for i in after), "where it lies"
    assert after[-1] < visit.go + bound + 1, "absorbed within absorb_seconds of being left"


def test_a_ghost_from_startup_clears_within_the_bound() -> None:
    # Someone already stands there while CamPy starts, so the background has them (there is
    # no older background to go back to), then walks away: the empty spot is a ghost, and it
    # is absorbed within absorb_seconds.
    absorb_s = 12.0
    bound = math.ceil(absorb_s * FPS)
    visit = Visit(enter=-1000, stand=1000 + CALIBRATION + 20)
    detector = MotionDetector(W, H, MotionConfig(absorb_seconds=absorb_s), fps=FPS)
    moving = motion_frames(detector, clip(visit.gone + bound + 30, visit))
    assert moving[0] == visit.go, "quiet while they stand, motion when they move"
    # Each pixel of the spot turns into ghost as the walker uncovers it (within the sprite's
    # width / speed frames of ``go``) and is absorbed absorb_seconds later.
    assert moving[-1] <= visit.go + SPRITE_W // SPEED + bound, "cleared within absorb_seconds"
    assert moving[-1] > visit.gone, "the control: there was a ghost to clear"


def test_someone_standing_during_an_exposure_step_is_not_lost_for_long() -> None:
    # An exposure step while a person stands: the frame of the step is not judged and what
    # differs is taken into the background; when they walk on, the spot comes back.
    visit = Visit(enter=CALIBRATION + 10, stand=40)
    at = visit.stop + 10
    detector = MotionDetector(W, H, fps=FPS)
    frames = clip(visit.gone + 30, visit, gain=lambda i: 1.25 if i >= at else 1.0)
    moving = motion_frames(detector, frames)
    assert visit.walking(after=visit.go) <= set(moving), "seen walking on after the step"
    assert [i for i in moving if i >= visit.gone] == [], "and no ghost where they stood"


def test_absorb_seconds_counts_frames_at_the_given_fps() -> None:
    # Someone appears and stands: reported for absorb_seconds × fps frames, then not.
    counts = []
    for fps in (5.0, 10.0):
        detector = MotionDetector(W, H, MotionConfig(absorb_seconds=4.0), fps=fps)
        there = clip(CALIBRATION + 100, lambda i: (200, 150) if i >= CALIBRATION else None)
        counts.append(len(motion_frames(detector, there)))
    assert counts == [20, 40]


def test_config_rejects_bad_absorb_seconds_and_fps() -> None:
    with pytest.raises(ValueError, match="absorb_seconds"):
        MotionConfig(absorb_seconds=0)
    with pytest.raises(ValueError, match="fps"):
        MotionDetector(W, H, fps=0)


def test_campy_yaml_motion_absorb_seconds(tmp_path: Path) -> None:
    def load(value: str) -> DetectConfig | None:
        path = tmp_path / "campy.yaml"
        path.write_text("cameras:\n  yard:\n    main: rtsp://192.0.2.1/main\n"
                        f"    detect:\n      motion_absorb_seconds: {value}\n")
        return load_config(path).cameras["yard"].detect

    detect = load("12.5")
    assert detect is not None and detect.motion_absorb_seconds == 12.5
    with pytest.raises(ConfigError, match=r"motion_absorb_seconds.*between 1 and 3600"):
        load("0")
