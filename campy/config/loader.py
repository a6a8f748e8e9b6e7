"""Reading campy.yaml: YAML with line numbers → typed, validated, secrets resolved.

The file is read with ruamel.yaml's round-trip loader, which keeps the line of every key,
so each issue can say where it is. Sections are validated one at a time (each camera on
its own), so one pass reports every broken camera, not just the first.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import msgspec
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError

from campy.config.alerts import check_alerts, mqtt_secret
from campy.config.backup import BackupRaw, build_backup
from campy.config.detector import detection_config as _detection
from campy.config.detector import label_hint as _label_hint
from campy.config.detector import unknown_labels as _unknown_labels
from campy.config.errors import ConfigError, ConfigIssue
from campy.config.model import (
    NAME_RE,
    CameraConfig,
    CameraRaw,
    CameraDetectRaw,
    CameraRecordRaw,
    CampyConfig,
    Go2rtcConfig,
    AlertsRaw,
    DetectConfig,
    DetectionRaw,
    Go2rtcRaw,
    RecordConfig,
    RecordingConfig,
    RecordingRaw,
    Secret,
    ServerConfig,
    ServerRaw,
    TlsConfig,
    TlsRaw,
    TopRaw,
)
from campy.config.units import parse_size, parse_size_or_percent
from campy.config.urls import validate_camera_url
from campy.localtime import host_zone_name, zone_problem

_ENV_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_MSGSPEC_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$")
_FIELD_IN_MSG = re.compile(r"(?:unknown|required) field `([^`]+)`")


def yaml_rt() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    return y


class SecretRef(str):
    """The name in a ``!secret name`` reference (a str subclass, so it survives msgspec)."""


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    if isinstance(node, TaggedScalar):
        if node.tag.value == "!secret":
            return SecretRef(str(node.value))
        return node.value
    # ruamel's ScalarFloat/ScalarInt/ScalarBoolean subclass the builtins; msgspec's strict
    # conversion wants the builtins themselves.
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)  # quoted scalars come as str subclasses that msgspec cannot encode
    return node


def line_of(doc: Any, path: list[str]) -> int | None:
    """1-based line of the deepest key of ``path`` present in the YAML document."""
    node, line = doc, None
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            try:
                line = node.lc.key(key)[0] + 1
            except Exception:
                pass
            node = node[key]
        else:
            break
    return line


def _msgspec_issue(err: msgspec.ValidationError, base: list[str]) -> tuple[list[str], str]:
    text = str(err)
    m = _MSGSPEC_AT.match(text)
    message, at = (m.group(1), m.group(2) or "") if m else (text, "")
    path = list(base) + [p for p in re.split(r"\.|\[|\]", at) if p and p != "..."]
    field = _FIELD_IN_MSG.search(message)
    if field:
        path.append(field.group(1))
    if "unknown field" in message:
        message = f"unknown key '{field.group(1) if field else '?'}'"
    return path, message


def _choices(typ: Any, field: str) -> list[str]:
    """The allowed values of a ``Literal`` field of a msgspec struct (for error messages)."""
    try:
        fields = {f.name: f.type for f in msgspec.structs.fields(typ)}
    except TypeError:
        return []
    ftype = fields.get(field)
    if get_origin(ftype) is Literal:
        return [str(a) for a in get_args(ftype)]
    return []


def parse_text(text: str, *, file: Path) -> tuple[Any, dict[str, Any]]:
    """YAML text → (round-trip document, plain data); raises ConfigError on bad YAML."""
    try:
        doc = yaml_rt().load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError([ConfigIssue("", line, f"YAML syntax: {err.problem or err}", str(file))],
                          file) from err
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigError([ConfigIssue("", 1, "the file must be a mapping of sections", str(file))], file)
    return doc, _plain(doc)


def _load_secrets(path: Path) -> tuple[dict[str, str] | None, str | None]:
    if not path.exists():
        return None, f"secrets file {path} does not exist"
    try:
        data = YAML(typ="safe").load(path.read_text()) or {}
    except Exception as err:  # a broken secrets file is reported, never printed
        return None, f"secrets file {path} is not valid YAML ({type(err).__name__})"
    if not isinstance(data, dict):
        return None, f"secrets file {path} must be a mapping of name: value"
    return {str(k): str(v) for k, v in data.items() if v is not None}, None


def build_config(doc: Any, data: dict[str, Any], *, file: Path,
                 environ: dict[str, str] | None = None) -> CampyConfig:
    """Validate plain data (with the document for lines) into a ``CampyConfig``."""
    env = os.environ if environ is None else environ
    base = file.parent
    issues: list[ConfigIssue] = []

    def issue(path: list[str], message: str) -> None:
        issues.append(ConfigIssue(".".join(path), line_of(doc, path), message, str(file)))

    def convert(value: Any, typ: Any, path: list[str]) -> Any:
        try:
            return msgspec.convert(value, typ, strict=True)
        except msgspec.ValidationError as err:
            p, msg = _msgspec_issue(err, path)
            if msg.startswith("Invalid enum value") and p:
                choices = _choices(typ, p[-1])
                if choices:
                    msg += f" (one of: {', '.join(choices)})"
            issue(p, msg)
            return None

    top = convert(data, TopRaw, [])
    if top is None:
        raise ConfigError(issues, file)
    server = convert(top.server or {}, ServerRaw, ["server"]) or ServerRaw()
    g2r = convert(top.go2rtc or {}, Go2rtcRaw, ["go2rtc"]) or Go2rtcRaw()
    for section, obj in (("server", server), ("go2rtc", g2r)):
        for key in ("port", "api_port", "rtsp_port", "webrtc_port"):
            value = getattr(obj, key, None)
            if value is not None and not 1 <= value <= 65535:
                issue([section, key], f"port {value} is out of range 1-65535")
    if not 0 < server.audit_days <= 36500:
        issue(["server", "audit_days"], "must be more than 0 and at most 36500 days (100 years), e.g. 90")
    if server.public_url is not None and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", server.public_url):
        issue(["server", "public_url"], "must be an http(s) URL without query, e.g. https://nvr.example.net")
    if not 4096 <= server.log_max_bytes <= 1 << 30:
        issue(["server", "log_max_bytes"], "must be between 4096 and 1073741824 bytes, e.g. 10000000")
    if not 2 <= server.log_files <= 100:
        issue(["server", "log_files"], "must be between 2 and 100 (campy.log and the rotated files kept)")
    timezone = host_zone_name() if server.timezone is None else server.timezone
    if (problem := zone_problem(timezone)) is not None:
        issue(["server", "timezone"], problem)
        timezone = "UTC"
    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", server.maintenance_at):
        issue(["server", "maintenance_at"], "must be a local time HH:MM (24-hour), e.g. \"03:30\"")
    if g2r.url is not None and not re.match(r"^https?://[^\s/]+", g2r.url):
        issue(["go2rtc", "url"], "must be an http(s) URL of go2rtc's API, e.g. http://go2rtc:1984")
    if g2r.webrtc_host:
        try:
            ipaddress.ip_address(g2r.webrtc_host)
        except ValueError:
            issue(["go2rtc", "webrtc_host"], "must be an IP address of this machine, e.g. 192.168.1.10, "
                                             "or empty for all interfaces")

    data_dir = (base / server.data_dir).resolve()
    tls = _tls(server.tls, base=base, data_dir=data_dir, convert=convert, issue=issue)
    _check_proxies(server, issue)

    recording = _recording(convert(top.recording or {}, RecordingRaw, ["recording"]) or RecordingRaw(),
                           base=base, data_dir=data_dir, issue=issue)

    detection = _detection(convert(top.detection or {}, DetectionRaw, ["detection"]) or DetectionRaw(),
                           base=base, convert=convert, issue=issue)
    alerts = convert(top.alerts or {}, AlertsRaw, ["alerts"]) or AlertsRaw()
    backup = build_backup(convert(top.backup or {}, BackupRaw, ["backup"]) or BackupRaw(), base=base, issue=issue)

    secrets_path = (base / server.secrets_file).resolve()
    secrets: dict[str, str] | None = None
    secrets_error: str | None = None
    cameras: dict[str, CameraConfig] = {}
    names = list((top.cameras or {}).keys())
    for name in names:
        raw_cam = (top.cameras or {})[name]
        path = ["cameras", str(name)]
        if not NAME_RE.match(str(name)):
            issue(path, "camera names use lower-case letters, digits and '_' only")
            continue
        for suffix in ("_sub", "_h264"):
            if str(name).endswith(suffix) and str(name)[: -len(suffix)] in names:
                issue(path, f"'{name}' clashes with the {suffix[1:]} stream of camera "
                            f"'{str(name)[: -len(suffix)]}'")
        if not isinstance(raw_cam, dict):
            issue(path, "expected a mapping of camera settings")
            continue
        cam = convert(raw_cam, CameraRaw, path)
        if cam is None:
            continue
        ok = True
        record = RecordConfig()
        if cam.record is not None:
            rec_raw = convert(cam.record, CameraRecordRaw, path + ["record"])
            if rec_raw is None:
                ok = False
            else:
                for key in ("days", "event_days", "pre_roll_seconds", "post_roll_seconds"):
                    if getattr(rec_raw, key) < 0:
                        issue(path + ["record", key], "must not be negative")
                        ok = False
                if rec_raw.sub is True and not cam.sub:
                    issue(path + ["record", "sub"], "recording the sub stream needs the camera's 'sub' URL; "
                                                    "add it, or set record.sub to auto or false")
                    ok = False
                record = RecordConfig(enabled=rec_raw.enabled, mode=rec_raw.mode, days=rec_raw.days,
                                      event_days=rec_raw.event_days,
                                      pre_roll_seconds=rec_raw.pre_roll_seconds,
                                      post_roll_seconds=rec_raw.post_roll_seconds, sub=rec_raw.sub)
        detect: DetectConfig | None = None
        if cam.detect is not None:
            detect = _camera_detect(cam.detect, path + ["detect"], convert=convert, issue=issue,
                                    names=detection.detector.label_names)
            if detect is None:
                ok = False
        for key in ("main", "sub"):
            value = getattr(cam, key)
            if value is None:
                continue
            problem = validate_camera_url(value)
            if problem:
                issue(path + [key], problem)
                ok = False
        if cam.username and "$" in cam.username:
            issue(path + ["username"], "the username must not contain '$' (go2rtc would replace "
                                       "${...} in it with one of its secrets)")
            ok = False
        password: Secret | None = None
        ref: str | None = None
        raw_pw = raw_cam.get("password")
        if isinstance(raw_pw, SecretRef):
            ref = f"!secret {raw_pw}"
            if secrets is None and secrets_error is None:
                secrets, secrets_error = _load_secrets(secrets_path)
            if secrets_error:
                issue(path + ["password"], secrets_error)
                ok = False
            elif str(raw_pw) not in (secrets or {}):
                issue(path + ["password"], f"secret '{raw_pw}' is not in {secrets_path.name}")
                ok = False
            else:
                password = Secret((secrets or {})[str(raw_pw)])
        elif isinstance(raw_pw, str):
            m = _ENV_RE.match(raw_pw)
            if m:
                ref = raw_pw
                if m.group(1) not in env:
                    issue(path + ["password"], f"environment variable {m.group(1)} is not set")
                    ok = False
                else:
                    password = Secret(env[m.group(1)])
            elif raw_pw:
                ref, password = "(plain)", Secret(raw_pw)
        if password is not None and not cam.username:
            issue(path + ["username"], "a password needs a username")
            ok = False
        if ok:
            cameras[str(name)] = CameraConfig(
                name=str(name), title=cam.title, main=cam.main, sub=cam.sub,
                username=cam.username, password=password, password_ref=ref,
                enabled=cam.enabled, h265_fallback=cam.h265_fallback, record=record, detect=detect,
                manufacturer=cam.manufacturer, model=cam.model,
            )
    raw_mqtt = (top.alerts or {}).get("mqtt")
    ref = raw_mqtt.get("password") if isinstance(raw_mqtt, dict) else None
    alerts = mqtt_secret(alerts, ref if isinstance(ref, SecretRef) else None,
                         lambda: _load_secrets(secrets_path), issue)
    check_alerts(alerts, cameras, issue, names=detection.detector.label_names)
    if issues:
        raise ConfigError(issues, file)
    base_cfg = None
    if g2r.base_config:
        base_cfg = (base / g2r.base_config).resolve()
    return CampyConfig(
        path=file,
        server=ServerConfig(host=server.host, port=server.port, data_dir=data_dir,
                            secrets_file=secrets_path, tls=tls, behind_proxy=server.behind_proxy,
                            trusted_proxies=tuple(server.trusted_proxies),
                            audit_days=server.audit_days, timezone=timezone,
                            log_format=server.log_format, log_max_bytes=server.log_max_bytes,
                            log_files=server.log_files,
                            maintenance_at=server.maintenance_at,
                            public_url=server.public_url.rstrip("/") if server.public_url else None),
        go2rtc=Go2rtcConfig(url=g2r.url, base_config=base_cfg, api_port=g2r.api_port,
                            rtsp_port=g2r.rtsp_port, webrtc_port=g2r.webrtc_port,
                            webrtc_host=g2r.webrtc_host),
        cameras=cameras,
        recording=recording,
        detection=detection,
        alerts=alerts,
        backup=backup,
    )


def _tls(raw: dict | None, *, base: Path, data_dir: Path, convert: Any, issue: Any) -> TlsConfig | None:
    """``server.tls``: either cert + key files (checked now: readable, PEM, a matching pair)
    or ``self_signed: true`` (made in <data_dir>/tls at the first ``campy serve``)."""
    if raw is None:
        return None
    path = ["server", "tls"]
    t = convert(raw, TlsRaw, path)
    if t is None:
        return None
    if t.self_signed:
        if t.cert or t.key:
            issue(path, "use either cert and key, or self_signed: true, not both")
            return None
        from campy.tls import self_signed_paths

        cert, key = self_signed_paths(data_dir)
        return TlsConfig(cert=cert, key=key, self_signed=True)
    if not t.cert or not t.key:
        missing = "cert" if not t.cert else "key"
        issue(path + [missing] if raw else path,
              "HTTPS needs both cert and key (PEM files), or self_signed: true")
        return None
    from campy.tls import check_pair

    cert, key = (base / t.cert).resolve(), (base / t.key).resolve()
    problem = check_pair(cert, key)
    if problem:
        issue(path + [problem[0]], problem[1])
        return None
    return TlsConfig(cert=cert, key=key, self_signed=False)


def _check_proxies(server: ServerRaw, issue: Any) -> None:
    for value in server.trusted_proxies:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            issue(["server", "trusted_proxies"], f"'{value}' is not an IP address or CIDR "
                  "(e.g. 127.0.0.1, ::1, 10.0.0.0/8)")
    if server.behind_proxy and not server.trusted_proxies:
        issue(["server", "trusted_proxies"], "behind_proxy needs the proxy's address here")


def _polygon_problem(points: list[list[float]], width: int, height: int) -> str | None:
    if len(points) < 3:
        return "a polygon needs at least 3 points"
    for pt in points:
        if len(pt) != 2:
            return "each point is [x, y]"
        if not (0 <= pt[0] <= width and 0 <= pt[1] <= height):
            return f"point {pt} is outside the {width}x{height} detect frame"
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(points, points[1:] + points[:1], strict=True))
    return "the polygon has no area" if area == 0 else None


def _camera_detect(raw: dict[str, Any], path: list[str], *, convert: Any, issue: Any,
                   names: tuple[str, ...] | None = None) -> DetectConfig | None:
    d = convert(raw, CameraDetectRaw, path)
    if d is None:
        return None
    ok = True
    if not 0.2 <= d.fps <= 30:
        issue(path + ["fps"], "must be between 0.2 and 30")
        ok = False
    if not (32 <= d.width <= 3840 and 32 <= d.height <= 2160):
        issue(path + ["width"], "detect size must be between 32x32 and 3840x2160")
        ok = False
    for name, poly in d.zones.items():
        problem = _polygon_problem(poly, d.width, d.height)
        if not NAME_RE.match(name):
            problem = "zone names use lower-case letters, digits and '_' only"
        if problem:
            issue(path + ["zones", name], problem)
            ok = False
    for i, poly in enumerate(d.motion_masks):
        problem = _polygon_problem(poly, d.width, d.height)
        if problem:
            issue(path + ["motion_masks"], f"mask {i + 1}: {problem}")
            ok = False
    if not 1.0 <= d.motion_absorb_seconds <= 3600.0:
        issue(path + ["motion_absorb_seconds"], "must be between 1 and 3600 seconds")
        ok = False
    if bad := _unknown_labels(d.labels, names):
        assert names is not None
        issue(path + ["labels"], _label_hint(bad, names))
        ok = False
    for z in d.alert_zones:
        if z not in d.zones:
            issue(path + ["alert_zones"], f"no zone named '{z}' (zones: {', '.join(d.zones) or 'none'})")
            ok = False
    if not ok:
        return None
    return DetectConfig(
        enabled=d.enabled, fps=d.fps, width=d.width, height=d.height, labels=tuple(d.labels),
        min_score=d.min_score, min_area=d.min_area, min_frames=d.min_frames,
        zones={k: [(float(p[0]), float(p[1])) for p in v] for k, v in d.zones.items()},
        alert_zones=tuple(d.alert_zones),
        motion_masks=tuple(tuple((float(p[0]), float(p[1])) for p in m) for m in d.motion_masks),
        motion_threshold=d.motion_threshold, motion_contour_area=d.motion_contour_area,
        motion_absorb_seconds=d.motion_absorb_seconds)


def _recording(raw: RecordingRaw, *, base: Path, data_dir: Path, issue: Any) -> RecordingConfig:
    """The recording section with sizes parsed; problems go to ``issue``."""
    max_bytes = min_free_bytes = None
    min_free_percent = None
    if raw.max_size is not None:
        try:
            max_bytes = parse_size(raw.max_size)
        except ValueError as err:
            issue(["recording", "max_size"], str(err))
    if raw.min_free is not None:
        try:
            min_free_bytes, min_free_percent = parse_size_or_percent(raw.min_free)
        except ValueError as err:
            issue(["recording", "min_free"], str(err))
    if not 2 <= raw.segment_seconds <= 600:
        issue(["recording", "segment_seconds"], "must be between 2 and 600 seconds")
    if raw.retention_interval_seconds < 1:
        issue(["recording", "retention_interval_seconds"], "must be at least 1 second")
    if raw.grace_seconds < 0:
        issue(["recording", "grace_seconds"], "must not be negative")
    return RecordingConfig(
        path=(base / raw.path).resolve() if raw.path else data_dir / "recordings",
        segment_seconds=raw.segment_seconds, max_bytes=max_bytes,
        min_free_bytes=min_free_bytes, min_free_percent=min_free_percent,
        retention_interval_seconds=raw.retention_interval_seconds, grace_seconds=raw.grace_seconds,
    )


def load_config(path: Path | str, *, environ: dict[str, str] | None = None) -> CampyConfig:
    """Read and validate campy.yaml; raises ``ConfigError`` listing every issue."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as err:
        raise ConfigError([ConfigIssue("", None, f"cannot read: {err.strerror}", str(file))], file) from err
    doc, data = parse_text(text, file=file)
    return build_config(doc, data, file=file.resolve(), environ=environ)
