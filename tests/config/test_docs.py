"""Every key campy.yaml accepts is documented in docs/configuration.md (a new key without a
line in the reference fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from campy.config import model
from campy.config.backup import BackupRaw

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def _section_keys(heading: str) -> set[str]:
    m = re.search(rf"^##+ `{re.escape(heading)}`\n(.*?)(?=^##)", DOC + "\n##", re.S | re.M)
    assert m, f"no section `{heading}` in docs/configuration.md"
    keys = set()
    for cell in re.findall(r"^\| (`[^|]+`) \|", m.group(1), re.M):
        keys |= set(re.findall(r"`([a-z_0-9]+)`", cell))
    return keys


@pytest.mark.parametrize("heading,struct", [
    ("server", model.ServerRaw),
    ("server.tls", model.TlsRaw),
    ("go2rtc", model.Go2rtcRaw),
    ("cameras", model.CameraRaw),
    ("cameras.<name>.record", model.CameraRecordRaw),
    ("recording", model.RecordingRaw),
    ("cameras.<name>.detect", model.CameraDetectRaw),
    ("detection", model.DetectionRaw),
    ("detection.detector", model.DetectorRaw),
    ("alerts", model.AlertsRaw),
    ("alerts.mqtt", model.MqttRaw),
    ("alerts.webhooks.<name>", model.WebhookRaw),
    ("alerts.rules.<name>", model.RuleRaw),
    ("backup", BackupRaw),
    ("alerts.health", model.HealthAlertsRaw),
])
def test_every_key_is_documented(heading, struct):
    fields = {f.name for f in msgspec.structs.fields(struct)}
    documented = _section_keys(heading)
    assert fields - documented == set(), f"undocumented keys in `{heading}`"
    assert documented - fields == set(), f"documented keys that do not exist in `{heading}`"
