"""The detector CamPy ships: the files are the ones its README describes (sha256, licence)
and they travel in the package data."""

from __future__ import annotations

import hashlib
import re
import tomllib

from campy.detection.shipped import MODELS_DIR, SHIPPED_LABELS, SHIPPED_MODEL, shipped_label_names

from .conftest import REPO


def test_shipped_files_match_their_provenance() -> None:
    readme = (MODELS_DIR / "README.md").read_text()
    sums = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M))
    assert set(sums) == {SHIPPED_MODEL.name, SHIPPED_LABELS.name}
    for name, digest in sums.items():
        assert hashlib.sha256((MODELS_DIR / name).read_bytes()).hexdigest() == digest, name
    assert "Apache-2.0" in readme and "Megvii" in readme
    assert "Apache License" in (MODELS_DIR / "LICENSE").read_text() and "Version 2.0" in (MODELS_DIR / "LICENSE").read_text()
    names = shipped_label_names()
    assert len(names) == 80 and names[0] == "person" and "motorbike" in names and "motorcycle" not in names


def test_package_data_carries_the_model_and_the_walker() -> None:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    det, sim = data["campy.detection"], data["campy.sim"]
    shipped = [SHIPPED_MODEL, SHIPPED_LABELS, MODELS_DIR / "LICENSE", MODELS_DIR / "README.md"]
    for f in shipped:
        assert any(f.match(f"*/detection/{pat}") for pat in det), f"{f.name} is not package data"
    for f in ("person.png", "SOURCE.md"):
        assert any((REPO / "campy/sim/assets" / f).match(f"*/sim/{pat}") for pat in sim), f
