"""The worker's whole pipeline in-process — motion → real YOLOX-Nano on motion regions →
tracker → events → snapshot — on a clip made from a real photo of a person walking over a
background, and on a still noisy scene that must stay quiet. Each runs twice: with the
model in the shared inference service (a real service process), and loaded by the worker
itself (the old per-worker path); both must find the same person."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from campy.detection import worker
from campy.detection.worker import Pipeline, WorkerSettings

W, H = 640, 360


def _settings(tmp_path, model=None, inference=None, **kw) -> WorkerSettings:
    detector = {"model": str(model), "threads": 1} if model and not inference else None
    return WorkerSettings(camera="yard", url="rtsp://unused", width=W, height=H, fps=5,
                          snapshot_dir=str(tmp_path / "snaps"), detector=detector, inference=inference,
                          min_frames=2, **kw)


@pytest.fixture(params=["shared", "per-worker"])
def make_pipeline(request, tmp_path, real_model):
    """A Pipeline whose model sits in the shared service (waiting for each answer, as frames
    come faster than real time here) or in the worker itself."""
    made = []

    def make(**kw):
        if request.param == "shared":
            svc = request.getfixturevalue("inference_service")
            pipe = Pipeline(_settings(tmp_path, real_model, inference=svc.address, **kw), wait_s=30)
            assert pipe.client is not None and pipe.client.wait_ready(30), "no connection to the service"
        else:
            pipe = Pipeline(_settings(tmp_path, real_model, **kw))
        made.append(pipe)
        return pipe

    yield make
    for pipe in made:
        pipe.close()


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


def _walk_through(pipe, person_photo, t: int = 1_800_000_000_000) -> None:
    """18 s of scene: 2 s empty, the person crossing for 8 s, 8 s empty again."""
    quiet = _background()
    for i in range(10):  # the background first: calibration, no motion
        pipe.process(quiet, t + i * 200)
    for i, frame in enumerate(_clip(person_photo)):
        pipe.process(frame, t + 2_000 + i * 200)
    for i in range(40):  # gone again: the track ends after its 5 s grace
        pipe.process(quiet, t + 10_000 + i * 200)


def test_a_real_person_walking_through_makes_one_event_with_a_snapshot(tmp_path, make_pipeline, person_photo,
                                                                      emitted):
    pipe = make_pipeline(zones={"path": [(0, 200), (640, 200), (640, 360), (0, 360)]})
    _walk_through(pipe, person_photo)
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


def test_a_still_noisy_scene_runs_no_detector_and_makes_no_event(make_pipeline, emitted):
    pipe = make_pipeline()
    rng = np.random.default_rng(3)
    bg = _background()
    for i in range(100):
        noise = rng.integers(-6, 7, bg.shape, dtype=np.int16)
        pipe.process(np.clip(bg.astype(np.int16) + noise, 0, 255).astype(np.uint8), 1_800_000_000_000 + i * 200)
    assert not [m for m in emitted if m["type"] in ("event", "motion")]
    assert pipe.status("running")["inference_ms"] is None  # motion gating: the model never ran


def test_the_shared_service_finds_what_the_worker_found_alone(tmp_path, real_model, inference_service,
                                                            person_photo, emitted):
    """Frame for frame the same detections, so the same events with the same boxes and scores."""
    alone = Pipeline(_settings(tmp_path, real_model))
    _walk_through(alone, person_photo)
    before = [m for m in emitted if m["type"] == "event"]
    emitted.clear()
    shared = Pipeline(_settings(tmp_path, real_model, inference=inference_service.address), wait_s=30)
    try:
        assert shared.client is not None and shared.client.wait_ready(30)
        _walk_through(shared, person_photo)
    finally:
        shared.close()
    after = [m for m in emitted if m["type"] == "event"]

    def strip(evs):
        return [{k: v for k, v in e.items() if k not in ("key", "snapshot")} for e in evs]

    assert before and strip(after) == strip(before)
    assert shared.inferences == alone.inferences > 0 and shared.skipped == 0
