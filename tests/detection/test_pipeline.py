"""The worker's whole pipeline in-process — motion → real YOLOX-Nano on motion regions →
tracker → events → snapshot — on a clip made from a real photo of a person walking over a
background, and on a still noisy scene that must stay quiet."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from campy.detection import worker
from campy.detection.worker import Pipeline, WorkerSettings

W, H = 640, 360


def _settings(tmp_path, model=None, **kw) -> WorkerSettings:
    detector = {"model": str(model), "threads": 1} if model else None
    return WorkerSettings(camera="yard", url="rtsp://unused", width=W, height=H, fps=5,
                          snapshot_dir=str(tmp_path / "snaps"), detector=detector, min_frames=2, **kw)


def _background(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bg = np.full((H, W, 3), (70, 90, 80), np.uint8)
    for _ in range(40):  # some static texture: blocks of paving
        x, y = int(rng.integers(0, W - 40)), int(rng.integers(0, H - 30))
        c = tuple(int(v) for v in rng.integers(50, 110, 3))
        cv2.rectangle(bg, (x, y), (x + 40, y + 30), c, -1)
    return bg


def _clip(person: np.ndarray, frames: int = 40) -> list[np.ndarray]:
    """The photo (scaled to 200 px wide) crossing the frame left to right, with sensor noise."""
    rng = np.random.default_rng(1)
    p = cv2.resize(person, (200, 200))
    bg = _background()
    out = []
    for i in range(frames):
        f = bg.copy()
        x = int(-100 + i * (W + 100) / frames)
        x0, x1 = max(0, x), min(W, x + 200)
        if x1 > x0:
            f[120:320, x0:x1] = p[:, x0 - x:x1 - x]
        noise = rng.integers(-4, 5, f.shape, dtype=np.int16)
        out.append(np.clip(f.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return out


@pytest.fixture
def emitted(monkeypatch):
    out: list[dict] = []
    monkeypatch.setattr(worker, "emit", lambda obj: out.append(json.loads(json.dumps(obj))))
    return out


def test_a_real_person_walking_through_makes_one_event_with_a_snapshot(tmp_path, real_model, person_photo,
                                                                      emitted):
    pipe = Pipeline(_settings(tmp_path, real_model, zones={"path": [(0, 200), (640, 200), (640, 360), (0, 360)]}))
    t = 1_800_000_000_000
    quiet = _background()
    for i in range(10):  # the background first: calibration, no motion
        pipe.process(quiet, t + i * 200)
    for i, frame in enumerate(_clip(person_photo)):
        pipe.process(frame, t + 2_000 + i * 200)
    for i in range(40):  # gone again: the track ends after its 5 s grace
        pipe.process(quiet, t + 10_000 + i * 200)
    events = [m for m in emitted if m["type"] == "event"]
    starts = [m for m in events if m["kind"] == "start"]
    assert len(starts) == 1, events
    start = starts[0]
    assert start["label"] == "person" and start["score"] >= 0.5 and start["zones"] == ["path"]
    assert any(m["kind"] == "end" and m["key"] == start["key"] for m in events)
    snap = tmp_path / "snaps" / start["snapshot"]
    img = cv2.imread(str(snap))
    assert img is not None and img.shape == (H, W, 3)
    motion = [m["state"] for m in emitted if m["type"] == "motion"]
    assert motion[:1] == ["start"] and "end" in motion
    assert pipe.status("running")["inference_ms"] is not None


def test_a_still_noisy_scene_runs_no_detector_and_makes_no_event(tmp_path, real_model, emitted):
    pipe = Pipeline(_settings(tmp_path, real_model))
    rng = np.random.default_rng(3)
    bg = _background()
    for i in range(100):
        noise = rng.integers(-6, 7, bg.shape, dtype=np.int16)
        pipe.process(np.clip(bg.astype(np.int16) + noise, 0, 255).astype(np.uint8), 1_800_000_000_000 + i * 200)
    assert not [m for m in emitted if m["type"] in ("event", "motion")]
    assert pipe.status("running")["inference_ms"] is None  # motion gating: the model never ran
