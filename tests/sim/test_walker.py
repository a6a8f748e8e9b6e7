"""The walker scene: a real person (a public-domain photo, shipped with its source) crosses
the street, and the shipped YOLOX-Nano says `person` where and when the figure is drawn."""

from __future__ import annotations

import hashlib
import re

import cv2

from campy.detection.objects import DetectorConfig, load_detector
from campy.detection.shipped import SHIPPED_LABELS, SHIPPED_MODEL
from campy.sim.media import PERSON_PNG, SUB_WALKER, ensure_clip


def test_the_walker_is_a_shipped_public_domain_photo() -> None:
    source = (PERSON_PNG.parent / "SOURCE.md").read_text()
    digest = re.search(r"sha256 \| `([0-9a-f]{64})`", source)
    assert digest and hashlib.sha256(PERSON_PNG.read_bytes()).hexdigest() == digest.group(1)
    assert "public domain" in source and "astronaut" in source
    png = cv2.imread(str(PERSON_PNG), cv2.IMREAD_UNCHANGED)
    assert png is not None and png.shape[2] == 4, "a PNG with alpha"
    alpha = png[:, :, 3]
    assert 0.3 < (alpha > 0).mean() < 0.95, "a cut-out: neither empty nor the whole rectangle"


def test_the_shipped_model_sees_a_person_walking_across(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAMPY_SIM_CACHE", str(tmp_path))  # encode it here, as a fresh install would
    clip = ensure_clip(SUB_WALKER)
    det = load_detector(DetectorConfig(model=str(SHIPPED_MODEL), labels=str(SHIPPED_LABELS), score_threshold=0.3))
    cap = cv2.VideoCapture(str(clip))
    seen: list[tuple[float, float, float]] = []  # (t, score, box centre x) of each person
    empty = 0
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 5 == 0:  # 2 frames/s of the 10 fps clip
            people = [d for d in det.detect(frame) if d.label == "person"]
            t = i / SUB_WALKER.fps
            if 1.0 <= t <= 7.0:  # fully in view: one person, confidently
                assert len(people) == 1, (t, people)
                b = people[0].box
                seen.append((t, people[0].score, (b[0] + b[2]) / 2))
                assert b[3] - b[1] > 0.35 * SUB_WALKER.height, "drawn at a plausible size"
            elif t >= 8.5:  # the empty street after the crossing
                empty += not people
        i += 1
    assert i == 12 * SUB_WALKER.fps and empty >= 6
    assert min(s for _, s, _ in seen) >= 0.5, seen
    xs = [x for _, _, x in seen]
    assert xs == sorted(xs) and xs[-1] - xs[0] > SUB_WALKER.width / 2, "left to right across the frame"
