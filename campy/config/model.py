"""The typed shape of campy.yaml (msgspec structs that reject unknown keys)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import msgspec

from campy.config.backup import BackupConfig
from campy.config.urls import with_credentials
from campy.streams import StreamSpec

NAME_RE = re.compile(r"^[a-z0-9_]+$")


class Secret:
    """A secret value that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# -- raw structs: what the YAML may hold ------------------------------------------------

class ServerRaw(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "../data"
    secrets_file: str = "secrets.yaml"
    audit_days: float = 90.0
    public_url: str | None = None  # how others reach CamPy, for links in alerts
    tls: dict | None = None
    behind_proxy: bool = False
    trusted_proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    timezone: str | None = None  # IANA zone for pages; None = the host's
    log_format: Literal["plain", "json"] = "plain"
    log_max_bytes: int = 10_000_000  # campy.log rotates at this size
    log_files: int = 5  # campy.log and the rotated files kept
    maintenance_at: str = "03:30"  # local time (server.timezone) of the nightly DB check-up


class TlsRaw(msgspec.Struct, forbid_unknown_fields=True):
    cert: str | None = None
    key: str | None = None
    self_signed: bool = False


class Go2rtcRaw(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None = None
    base_config: str | None = "../go2rtc.yaml"
    api_port: int = 11984
    rtsp_port: int = 18554
    webrtc_port: int = 8555
    webrtc_host: str = ""  # the WebRTC media port's listen address; "" = all interfaces


class RecordingRaw(msgspec.Struct, forbid_unknown_fields=True):
    path: str | None = None  # default: <server.data_dir>/recordings
    segment_seconds: int = 10
    max_size: int | str | None = None
    min_free: int | str | None = "5%"
    retention_interval_seconds: int = 60
    grace_seconds: int = 120


class CameraRecordRaw(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    mode: Literal["continuous", "motion", "events"] = "continuous"
    days: float = 7.0
    event_days: float = 30.0
    pre_roll_seconds: float = 5.0
    post_roll_seconds: float = 5.0
    # Record the sub stream beside the main one (so browsers without the main codec can play
    # it back); "auto": when the main stream is H.265.
    sub: bool | Literal["auto"] = "auto"


class DetectorRaw(msgspec.Struct, forbid_unknown_fields=True):
    type: str = "onnxruntime"
    # Left out: the shipped YOLOX-Nano; null (or "none"): motion only, no object detection.
    model: str | None | msgspec.UnsetType = msgspec.UNSET
    input_size: int | None = None
    layout: Literal["auto", "yolov8", "yolox"] = "auto"
    labels: list[str] | str | None = None
    threads: int = 1
    score_threshold: float = 0.4


class DetectionRaw(msgspec.Struct, forbid_unknown_fields=True):
    detector: dict = msgspec.field(default_factory=dict)
    snapshot_days: float = 30.0


class CameraDetectRaw(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    fps: float = 5.0
    width: int = 640
    height: int = 360
    labels: list[str] = msgspec.field(default_factory=lambda: ["person"])
    min_score: float = 0.5
    min_area: int = 0
    min_frames: int = 3
    zones: dict[str, list[list[float]]] = msgspec.field(default_factory=dict)
    alert_zones: list[str] = msgspec.field(default_factory=list)
    motion_masks: list[list[list[float]]] = msgspec.field(default_factory=list)
    motion_threshold: int = 30
    motion_contour_area: int = 10
    motion_absorb_seconds: float = 30.0


class MqttRaw(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None  # a value or "${ENV_VAR}"
    topic_prefix: str = "campy"
    client_id: str = "campy"
    tls: bool = False
    ha_discovery: bool = True  # Home Assistant MQTT discovery configs (campy/alerts/ha.py)
    discovery_prefix: str = "homeassistant"


class WebhookRaw(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    timeout_seconds: float = 5.0
    retries: int = 3


class RuleRaw(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    cameras: list[str] = msgspec.field(default_factory=list)
    labels: list[str] = msgspec.field(default_factory=list)
    zones: list[str] = msgspec.field(default_factory=list)
    cooldown_seconds: float = 60.0
    webhooks: list[str] = msgspec.field(default_factory=list)
    mqtt: bool = True


class HealthAlertsRaw(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``alerts.health``: CamPy's own problems (campy/alerts/health.py, docs/alerts.md)."""

    enabled: bool = True
    offline_after_s: float = 60.0  # a camera offline (or refusing its login) this long fires
    disk_after_s: float = 60.0  # free space below the floor (or a retention shortfall) this long
    clear_after_s: float = 30.0  # a problem must stay gone this long to resolve (flap damping)
    restart_window_s: float = 600.0  # restarts counted over this window
    crashloop_restarts: int = 3  # detection worker restarts within the window = crash loop
    tick_s: float = 5.0  # how often conditions are evaluated
    webhooks: list[str] = msgspec.field(default_factory=list)
    mqtt: bool = True  # publish to alerts.mqtt (when configured)


class AlertsRaw(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    mqtt: MqttRaw | None = None
    webhooks: dict[str, WebhookRaw] = msgspec.field(default_factory=dict)
    rules: dict[str, RuleRaw] = msgspec.field(default_factory=dict)
    link_ttl_s: int = 86_400  # signed snapshot/clip links in alerts stay valid this long
    health: HealthAlertsRaw = HealthAlertsRaw()


class CameraRaw(msgspec.Struct, forbid_unknown_fields=True):
    main: str
    title: str | None = None
    sub: str | None = None
    username: str | None = None
    password: str | None = None  # a value, "${VAR}" or (before conversion) a !secret reference
    enabled: bool = True
    h265_fallback: Literal["sub", "transcode"] = "sub"
    record: dict | None = None
    detect: dict | None = None
    manufacturer: str | None = None  # shown in Home Assistant's device info
    model: str | None = None


class TopRaw(msgspec.Struct, forbid_unknown_fields=True):
    server: dict = msgspec.field(default_factory=dict)
    go2rtc: dict = msgspec.field(default_factory=dict)
    recording: dict = msgspec.field(default_factory=dict)
    detection: dict = msgspec.field(default_factory=dict)
    alerts: dict = msgspec.field(default_factory=dict)
    backup: dict = msgspec.field(default_factory=dict)
    cameras: dict | None = None


# -- resolved config: what the rest of CamPy uses --------------------------------------

class TlsConfig(msgspec.Struct, frozen=True):
    """HTTPS for CamPy's own listener: files given, or made by CamPy (``self_signed``)."""

    cert: Path
    key: Path
    self_signed: bool = False


class ServerConfig(msgspec.Struct, frozen=True):
    host: str
    port: int
    data_dir: Path
    secrets_file: Path
    audit_days: float = 90.0
    public_url: str | None = None
    tls: TlsConfig | None = None
    behind_proxy: bool = False
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    timezone: str = "UTC"  # IANA zone name: pages, timeline days and export names
    log_format: str = "plain"  # logs (campy/logs.py): plain text or JSON lines
    log_max_bytes: int = 10_000_000
    log_files: int = 5
    maintenance_at: str = "03:30"  # HH:MM local time of the nightly jobs (campy/maintenance.py)


class Go2rtcConfig(msgspec.Struct, frozen=True):
    url: str | None
    base_config: Path | None
    api_port: int
    rtsp_port: int
    webrtc_port: int
    webrtc_host: str = ""


class RecordingConfig(msgspec.Struct, frozen=True):
    path: Path
    segment_seconds: int = 10
    max_bytes: int | None = None
    min_free_bytes: int | None = None
    min_free_percent: float | None = 5.0
    retention_interval_seconds: int = 60
    grace_seconds: int = 120


class RecordConfig(msgspec.Struct, frozen=True):
    """One camera's recording settings."""

    enabled: bool = True
    mode: str = "continuous"
    days: float = 7.0
    event_days: float = 30.0
    pre_roll_seconds: float = 5.0
    post_roll_seconds: float = 5.0
    sub: bool | str = "auto"  # True, False or "auto" (on when the main stream is H.265)


class DetectorSettings(msgspec.Struct, frozen=True):
    """The object detector all cameras share (``detection.detector``); no model = motion only.
    ``model`` and a labels file are resolved paths; ``label_names`` are the model's labels as the
    config knows them (None when only the model itself can tell)."""

    type: str = "onnxruntime"
    model: Path | None = None
    input_size: int | None = None
    layout: str = "auto"
    labels: list[str] | str | None = None
    threads: int = 1
    score_threshold: float = 0.4
    label_names: tuple[str, ...] | None = None


class DetectionConfig(msgspec.Struct, frozen=True):
    detector: DetectorSettings = DetectorSettings()
    snapshot_days: float = 30.0


class DetectConfig(msgspec.Struct, frozen=True):
    """One camera's detection settings (``cameras.<name>.detect``); None on the camera = off."""

    enabled: bool = True
    fps: float = 5.0
    width: int = 640
    height: int = 360
    labels: tuple[str, ...] = ("person",)
    min_score: float = 0.5
    min_area: int = 0
    min_frames: int = 3
    zones: dict[str, list[tuple[float, float]]] = msgspec.field(default_factory=dict)
    alert_zones: tuple[str, ...] = ()
    motion_masks: tuple[tuple[tuple[float, float], ...], ...] = ()
    motion_threshold: int = 30
    motion_contour_area: int = 10
    motion_absorb_seconds: float = 30.0


class CameraConfig(msgspec.Struct, frozen=True):
    name: str
    title: str | None
    main: str
    sub: str | None
    username: str | None
    password: Secret | None
    password_ref: str | None  # "${X}", "!secret x", "(plain)" or None
    enabled: bool
    h265_fallback: str
    record: RecordConfig = RecordConfig()
    detect: DetectConfig | None = None
    manufacturer: str | None = None
    model: str | None = None

    @property
    def env_var(self) -> str:
        return f"CAMPY_CAM_{self.name.upper()}_PASSWORD"

    def stream_specs(self) -> dict[str, StreamSpec]:
        env: dict[str, str] = {}
        ref = None
        if self.password is not None:
            env[self.env_var] = quote(self.password.get(), safe="")
            ref = "${" + self.env_var + "}"
        specs = {
            self.name: StreamSpec(self.name, self.name, "main",
                                  (with_credentials(self.main, self.username, ref),), env),
        }
        if self.sub:
            specs[f"{self.name}_sub"] = StreamSpec(
                f"{self.name}_sub", self.name, "sub",
                (with_credentials(self.sub, self.username, ref),), env)
        if self.h265_fallback == "transcode":
            # Made by CamPy, never from user input: an H.264 rendition of the main stream.
            specs[f"{self.name}_h264"] = StreamSpec(
                f"{self.name}_h264", self.name, "h264", (f"ffmpeg:{self.name}#video=h264#width=1280",), {})
        return specs


class CampyConfig(msgspec.Struct, frozen=True):
    path: Path
    server: ServerConfig
    go2rtc: Go2rtcConfig
    cameras: dict[str, CameraConfig]
    recording: RecordingConfig
    detection: DetectionConfig = DetectionConfig()
    alerts: AlertsRaw = AlertsRaw()
    backup: BackupConfig = BackupConfig()

    def stream_specs(self) -> dict[str, StreamSpec]:
        out: dict[str, StreamSpec] = {}
        for cam in self.cameras.values():
            if cam.enabled:
                out.update(cam.stream_specs())
        return out
