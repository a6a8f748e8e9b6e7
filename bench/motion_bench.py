"""Motion detector before and after issue 9: what it reports, and what one ``detect()`` costs.

A program, not a test. Two tables, each for the detector before issue 9 (read from git history,
``git show e208bf4:campy/detection/motion.py``) and the current one, run side by side in the same process:

*Behaviour* at 5 fps on clips built from a real photo — scikit-image's ``motorcycle_left.png``
(a garage) with a crop of its ``astronaut.png`` as the person when the test extra is
installed, else a generated, seeded scene and a drawn person — with Gaussian sensor noise:

- the share of frames with motion under an exposure drift (±14 % over 60 s and 20 s, ±30 %
  over 60 s), exposure steps (×1.25, then ×0.8) and noise alone — 0 is right for all;
- how soon a walker is found, and in how many of its frames;
- how long motion lasts after a person stops (stands 60 s; ``absorb_seconds`` is the bound)
  and after they leave (having stood 10 s and 60 s) — 0 is right for the latter.

*Cost* on a 640×360 clip of ``--frames`` frames, in these scenarios:

- *busy*: a 60×90 person walks across at 8 px per frame, ±5 noise;
- *idle*: the still scene with ±8 noise;
- *busy, grey*: the busy clip as grey frames (what a decoder giving the Y plane would pass);
- *busy, masked*: the busy clip with a mask over the top third of the picture.

Each of ``--runs`` runs feeds every frame to a fresh detector; the calibration frames are left
out. Median and p95 are the medians over runs of each run's per-frame median and p95. As a
same-run yardstick the table times a bare ``cv2.cvtColor`` to grey plus ``cv2.resize`` to the
detector's working size on the same frames — the least any detector working on a small grey
image pays — and gives each row as a multiple of it. Run from the repo root:

    .venv/bin/python bench/motion_bench.py
    .venv/bin/python bench/motion_bench.py --frames 300 --runs 5 --skip-behaviour
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import types
import time
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


# The detector as it was before issue 9, read from git history (commit e208bf4) rather than
# kept as a copy in the tree, and run side by side with today's in the same process.
BASELINE_COMMIT = "e208bf4"


def _load_before() -> types.ModuleType:
    src = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:campy/detection/motion.py"],
                         cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                         text=True, check=True).stdout
    mod = types.ModuleType("motion_before")
    sys.modules[mod.__name__] = mod  # msgspec resolves the module's annotations through it
    exec(compile(src, f"{BASELINE_COMMIT}:campy/detection/motion.py", "exec"), mod.__dict__)
    return mod


before = _load_before()

from campy.detection.motion import MotionConfig, MotionDetector  # noqa: E402
from campy.detection.types import Box, Polygon  # noqa: E402

FPS = 5.0  # the default detect rate; times below are frames / FPS
DETECTORS: dict[str, Callable[..., Any]] = {
    "before": lambda masks=(): before.MotionDetector(W, H, masks=masks),
    "after": lambda masks=(): MotionDetector(W, H, masks=masks, fps=FPS),
}

W, H = 640, 360
SPRITE_W, SPRITE_H = 60, 90


def photo(name: str) -> np.ndarray | None:
    """A BGR image from scikit-image's data folder (found without importing it), or None."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / name
    return cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None


def still_scene(seed: int) -> np.ndarray:
    garage = photo("motorcycle_left.png")
    if garage is not None:  # scale to cover 640×360, centre crop
        scale = max(W / garage.shape[1], H / garage.shape[0])
        size = (round(garage.shape[1] * scale), round(garage.shape[0] * scale))
        big = cv2.resize(garage, size, interpolation=cv2.INTER_AREA)
        x, y = (size[0] - W) // 2, (size[1] - H) // 2
        return big[y:y + H, x:x + W].copy()
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 120.0, np.float32)
    for cells, weight in ((4, 45.0), (16, 30.0), (64, 18.0), (256, 10.0)):
        coarse = rng.uniform(-1.0, 1.0, (max(2, cells * H // W), cells, 3)).astype(np.float32)
        img += weight * cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        x, y = int(rng.integers(0, W - 80)), int(rng.integers(0, H // 2))
        w, h = int(rng.integers(60, 160)), int(rng.integers(80, 200))
        colour = rng.uniform(60, 200, 3)
        img[y:y + h, x:x + w] = colour
        for wy in range(y + 8, min(y + h, H) - 12, 24):
            for wx in range(x + 8, min(x + w, W) - 10, 20):
                img[wy:wy + 12, wx:wx + 10] = colour * 0.4
    return np.clip(img, 0, 255).astype(np.uint8)


def person() -> tuple[np.ndarray, np.ndarray]:
    astronaut = photo("astronaut.png")
    if astronaut is not None:
        patch = cv2.resize(astronaut[20:500, 110:430], (SPRITE_W, SPRITE_H),
                           interpolation=cv2.INTER_AREA)
        return patch, np.ones((SPRITE_H, SPRITE_W), bool)
    shape = np.zeros((SPRITE_H, SPRITE_W), np.uint8)
    cv2.ellipse(shape, (30, 11), (9, 11), 0, 0, 360, 1, -1)
    for x1, y1, x2, y2 in ((10, 22, 49, 55), (0, 24, 9, 50), (50, 24, 59, 50),
                           (13, 56, 27, 89), (32, 56, 46, 89)):
        cv2.rectangle(shape, (x1, y1), (x2, y2), 1, -1)
    patch = np.empty((SPRITE_H, SPRITE_W, 3), np.uint8)
    patch[:] = (40, 45, 150)
    patch[56:] = (90, 40, 25)
    patch[:22] = (140, 170, 215)
    return patch, shape.astype(bool)


def build_clip(n: int, busy: bool, seed: int) -> tuple[list[np.ndarray], list[Box | None]]:
    rng = np.random.default_rng(seed)
    still = still_scene(seed)
    patch, shape = person()
    amplitude = 5 if busy else 8
    frames: list[np.ndarray] = []
    truth: list[Box | None] = []
    span = W - SPRITE_W - 20
    for i in range(n):
        frame = still.copy()
        box: Box | None = None
        if busy:
            d = (i * 8) % (2 * span)
            x, y = 10 + (d if d <= span else 2 * span - d), 200
            frame[y:y + SPRITE_H, x:x + SPRITE_W][shape] = patch[shape]
            box = (x, y, x + SPRITE_W, y + SPRITE_H)
        noisy = frame.astype(np.int16) + rng.integers(-amplitude, amplitude + 1, frame.shape,
                                                      dtype=np.int16)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
        truth.append(box)
    return frames, truth


def found(box: Box, boxes: list[Box]) -> bool:
    """A motion box covers at least 80 % of the true box."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    for b in boxes:
        ix = max(0, min(box[2], b[2]) - max(box[0], b[0]))
        iy = max(0, min(box[3], b[3]) - max(box[1], b[1]))
        if ix * iy >= 0.8 * area:
            return True
    return False


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def time_detector(which: str, frames: list[np.ndarray], truth: list[Box | None],
                  masks: list[Polygon]) -> tuple[float, float, int, int, int]:
    """One run: median ms, p95 ms, frames timed, frames with motion, sprite frames found."""
    detector = DETECTORS[which](masks)
    skip = detector.config.calibration_frames
    times: list[float] = []
    flagged = hits = 0
    for i, frame in enumerate(frames):
        began = time.perf_counter()
        boxes = detector.detect(frame)
        elapsed = (time.perf_counter() - began) * 1000
        if i < skip:
            continue
        times.append(elapsed)
        flagged += bool(boxes)
        sprite = truth[i]
        hits += sprite is not None and found(sprite, boxes)
    return statistics.median(times), p95(times), len(times), flagged, hits


def time_baseline(frames: list[np.ndarray], size: tuple[int, int]) -> tuple[float, float]:
    times = []
    for frame in frames:
        began = time.perf_counter()
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), p95(times)


# -- behaviour: what is not motion, and what stops being motion --------------------------------

def scenario(n: int, path: Callable[[int], tuple[int, int] | None] | None = None,
             gain: Callable[[int], float] | None = None, noise: float = 5.0, seed: int = 11
             ) -> Iterator[np.ndarray]:
    """Frames of the still scene: the person on ``path``, the exposure ``gain(i)``, then
    Gaussian sensor noise of ``noise`` grey levels (σ). The same seed gives the same frames."""
    rng = np.random.default_rng(seed)
    still = still_scene(seed)
    patch, shape = person()
    for i in range(n):
        frame = still.copy()
        where = path(i) if path is not None else None
        if where is not None:
            x, y = where
            x1, x2 = max(x, 0), min(x + SPRITE_W, W)
            if x1 < x2:
                frame[y:y + SPRITE_H, x1:x2][shape[:, x1 - x:x2 - x]] = \
                    patch[:, x1 - x:x2 - x][shape[:, x1 - x:x2 - x]]
        values = frame.astype(np.float32) * (gain(i) if gain is not None else 1.0)
        values += rng.normal(0.0, noise, frame.shape).astype(np.float32)
        yield np.clip(np.rint(values), 0, 255).astype(np.uint8)


def swing(amplitude: float, period_s: float) -> Callable[[int], float]:
    return lambda i: 1.0 + amplitude * float(np.sin(2 * np.pi * i / (period_s * FPS)))


SPEED, STAND_X, STAND_Y = 8, 300, 200


def visit(enter: int, stand: int) -> tuple[Callable[[int], tuple[int, int] | None], int, int, int]:
    """A person walking in from the left, standing ``stand`` frames at STAND_X, walking out to
    the right: the path and the frames they stop, move on, and are gone."""
    stop = enter + (STAND_X + SPRITE_W - 1) // SPEED
    go = stop + stand
    gone = go + -(-(W - STAND_X) // SPEED) - 1

    def at(i: int) -> tuple[int, int] | None:
        if i < enter or i >= gone:
            return None
        if i < stop:
            return (STAND_X - (stop - i) * SPEED, STAND_Y)
        if i < go:
            return (STAND_X, STAND_Y)
        return (STAND_X + (i - go + 1) * SPEED, STAND_Y)

    return at, stop, go, gone


def motion(which: str, frames: Iterator[np.ndarray]) -> list[bool]:
    detector = DETECTORS[which]()
    return [bool(detector.detect(frame)) for frame in frames]


def behaviour(which: str) -> dict[str, str]:
    """One detector's figures, as table cells."""
    skip = 10  # both calibrate on 10 frames
    cells: dict[str, str] = {}
    for label, gain in (("motion share, drift ±14 % over 60 s", swing(0.14, 60)),
                        ("motion share, drift ±30 % over 60 s", swing(0.30, 60)),
                        ("motion share, drift ±14 % over 20 s", swing(0.14, 20)),
                        ("motion share, exposure step ×1.25 then ×0.8",
                         lambda i: 1.25 if 100 <= i < 200 else (0.8 if i >= 200 else 1.0)),
                        ("motion share, noise σ 6, no drift", None)):
        flags = motion(which, scenario(skip + 300, gain=gain,
                                       noise=6.0 if gain is None else 5.0))[skip:]
        cells[label] = f"{100 * sum(flags) / len(flags):.1f} %"
    # A walker: frames from the first frame they show in to the first with motion.
    at, stop, go, gone = visit(enter=40, stand=50)
    flags = motion(which, scenario(gone + 300, at))
    first = next((i for i in range(40, len(flags)) if flags[i]), None)
    cells["walker found after"] = "never" if first is None else f"{(first - 40) / FPS:.1f} s"
    walking = [flags[i] for i in range(40, stop)]
    cells["walker frames with motion"] = f"{sum(walking)}/{len(walking)}"
    # Stood 10 s, left: time from gone to the last motion (0: none after leaving).
    cells["stood 10 s: motion after leaving"] = _after(flags, gone)
    # Stood 60 s: how long motion lasted after stopping, and after leaving.
    at, stop, go, gone = visit(enter=40, stand=int(60 * FPS))
    flags = motion(which, scenario(gone + 400, at))
    standing = [i for i in range(stop, go) if flags[i]]
    if standing and standing[-1] == go - 1:
        cells["stood 60 s: motion after stopping"] = "> 60 s (never absorbed)"
    else:
        cells["stood 60 s: motion after stopping"] = (
            f"{(standing[-1] + 1 - stop) / FPS:.1f} s" if standing else "0 s")
    cells["stood 60 s: motion after leaving"] = _after(flags, gone)
    return cells


def _after(flags: list[bool], gone: int) -> str:
    late = [i for i in range(gone, len(flags)) if flags[i]]
    if not late:
        return "0 s"
    if late[-1] == len(flags) - 1:
        return f"> {(len(flags) - gone) / FPS:.0f} s (still on)"
    return f"{(late[-1] + 1 - gone) / FPS:.1f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-behaviour", action="store_true",
                    help="only the timing table")
    args = ap.parse_args()
    config = MotionConfig()
    if args.frames <= config.calibration_frames:
        ap.error(f"--frames must exceed the {config.calibration_frames} calibration frames")

    small_h = config.frame_height
    size = (round(W * small_h / H), small_h)
    source = "photos" if photo("motorcycle_left.png") is not None else "generated scene"
    if not args.skip_behaviour:
        print(f"Behaviour at {FPS:g} fps, {W}×{H} ({source}); 'before' is the detector before "
              "issue 9 (git show e208bf4:campy/detection/motion.py), 'after' campy/detection/motion.py "
              f"(absorb_seconds {config.absorb_seconds:g})\n")
        cells = {which: behaviour(which) for which in DETECTORS}
        print("| figure | before | after |")
        print("|---|---:|---:|")
        for label in cells["after"]:
            print(f"| {label} | {cells['before'][label]} | {cells['after'][label]} |")
        print()

    top_third: Polygon = [(0.0, 0.0), (float(W), 0.0), (float(W), H / 3), (0.0, H / 3)]
    busy, busy_truth = build_clip(args.frames, busy=True, seed=args.seed)
    idle, idle_truth = build_clip(args.frames, busy=False, seed=args.seed)
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in busy]
    scenarios: list[tuple[str, Callable[[str], tuple[float, float, int, int, int]]]] = [
        ("busy", lambda w: time_detector(w, busy, busy_truth, [])),
        ("idle", lambda w: time_detector(w, idle, idle_truth, [])),
        ("busy, grey", lambda w: time_detector(w, grey, busy_truth, [])),
        ("busy, masked", lambda w: time_detector(w, busy, busy_truth, [top_third])),
    ]

    rows: dict[tuple[str, str], list[tuple[float, float, int, int, int]]] = {
        (name, w): [] for name, _ in scenarios for w in DETECTORS}
    baseline: list[tuple[float, float]] = []
    for _ in range(max(1, args.runs)):  # interleaved, so drift hits every row alike
        baseline.append(time_baseline(busy, size))
        for name, fn in scenarios:
            for which in DETECTORS:
                rows[(name, which)].append(fn(which))
    base_median = statistics.median(b[0] for b in baseline)
    base_p95 = statistics.median(b[1] for b in baseline)

    print(f"{W}×{H} BGR ({source}), {args.frames} frames ({config.calibration_frames} "
          f"calibration frames not timed), working size {size[0]}×{size[1]}, median of "
          f"{args.runs} runs, OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads\n")
    print("| scenario | detector | median ms | p95 ms | × baseline | frames with motion "
          "| sprite found |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, _ in scenarios:
        for which in DETECTORS:
            runs = rows[(name, which)]
            med = statistics.median(r[0] for r in runs)
            high = statistics.median(r[1] for r in runs)
            timed, flagged, hits = runs[-1][2:]
            sprite_frames = timed if name.startswith("busy") else 0
            found_cell = f"{hits}/{sprite_frames}" if sprite_frames else "–"
            print(f"| {name} | {which} | {med:.3f} | {high:.3f} | {med / base_median:.1f} | "
                  f"{flagged}/{timed} | {found_cell} |")
    print(f"| cvtColor + resize only (baseline) | – | {base_median:.3f} | {base_p95:.3f} | 1.0 "
          "| – | – |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
