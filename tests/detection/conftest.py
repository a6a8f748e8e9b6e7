"""Detection fixtures: synthetic bright-blob models written to a temp dir, the real YOLOX-Nano
CamPy ships and a real photo of a person (scikit-image's astronaut.png)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from campy.detection.shipped import SHIPPED_LABELS, SHIPPED_MODEL

REPO = Path(__file__).resolve().parents[2]
# The model CamPy ships (campy/detection/models), the same file as ../shared/models' copy.
REAL_MODEL = SHIPPED_MODEL
REAL_LABELS = SHIPPED_LABELS


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx", reason="onnx (test extra) builds the synthetic models")
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def yolov8_model(model_dir: Path) -> Path:
    from campy.detection.synthetic import make_synthetic_yolov8

    return make_synthetic_yolov8(model_dir / "blob_yolov8_320.onnx", size=320)


@pytest.fixture(scope="session")
def yolox_model(model_dir: Path) -> Path:
    from campy.detection.synthetic import make_synthetic_yolox

    return make_synthetic_yolox(model_dir / "blob_yolox_416.onnx", size=416)


@pytest.fixture(params=["yolov8", "yolox"])
def synthetic(request: pytest.FixtureRequest, yolov8_model: Path,
              yolox_model: Path) -> tuple[str, Path]:
    """(layout, path) of each synthetic model in turn."""
    return request.param, yolov8_model if request.param == "yolov8" else yolox_model


@pytest.fixture(scope="session")
def real_model() -> Path:
    assert REAL_MODEL.is_file(), f"the shipped model is missing: {REAL_MODEL}"
    return REAL_MODEL


@pytest.fixture(scope="session")
def person_photo() -> np.ndarray:
    """astronaut.png (Eileen Collins, NASA, public domain) as BGR, found without importing
    scikit-image (its import pulls scipy)."""
    spec = importlib.util.find_spec("skimage")
    path = Path(spec.origin).parent / "data" / "astronaut.png" if spec and spec.origin else None
    if path is None or not path.is_file():
        pytest.skip("scikit-image is not installed (test extra): its data/astronaut.png is "
                    "the real photo of a person these tests use")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"cannot decode {path}"
    return img


class InferenceService:
    """``python -m campy.detection.inference`` on an abstract socket, as the manager runs it."""

    def __init__(self, model: Path, address: str | None = None) -> None:
        import json
        import secrets
        import subprocess
        import sys

        self.address = address or f"@campy-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.proc = subprocess.Popen([sys.executable, "-m", "campy.detection.inference"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"address": self.address, "detector": {"model": str(model)}}) + "\n")
        self.proc.stdin.close()
        for line in self.proc.stdout:  # waits for the service's own word that it listens
            msg = json.loads(line)
            assert msg["state"] in ("loading", "ready"), msg
            if msg["state"] == "ready":
                self.status = msg
                return
        raise AssertionError(f"the inference service exited with {self.proc.wait()}")

    def stop(self) -> None:
        import subprocess

        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(scope="session")
def inference_service(real_model: Path):
    svc = InferenceService(real_model)
    yield svc
    svc.stop()
