"""The go2rtc config CamPy generates: the user's WebRTC tuning + hardening + streams.

The file holds no secret: camera passwords and go2rtc's own API credentials are
``${VAR}`` references that go2rtc fills from its environment at load time (and then masks
in its output). It is regenerated on every camera change so a go2rtc restart loads the
current set of streams.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from campy.go2rtc.const import ALLOW_PATHS, MODULES
from campy.streams import StreamSpec

log = logging.getLogger(__name__)

API_USER_VAR = "CAMPY_GO2RTC_API_USER"
API_PASS_VAR = "CAMPY_GO2RTC_API_PASS"
HEADER = ("# managed by CamPy - do not edit: regenerated from config/campy.yaml and go2rtc.yaml\n"
          "# on every change. Secrets are ${VAR} references filled from go2rtc's environment.\n")
_WEBRTC_KEYS = ("candidates", "ice_servers", "filters")


def _webrtc_from_base(base: Mapping[str, Any] | None, webrtc_listen: str) -> tuple[dict[str, Any], list[str]]:
    webrtc: dict[str, Any] = {"listen": webrtc_listen, "ice_servers": []}
    ignored: list[str] = []
    for section, value in (base or {}).items():
        if section != "webrtc":
            ignored.append(section)
            continue
        for key, v in (value or {}).items():
            if key in _WEBRTC_KEYS:
                webrtc[key] = v
            elif key != "listen":  # the port comes from campy.yaml's go2rtc.webrtc_port
                ignored.append(f"webrtc.{key}")
    return webrtc, ignored


def build_config(*, base: Mapping[str, Any] | None, specs: Mapping[str, StreamSpec], api_listen: str,
                 rtsp_listen: str, webrtc_listen: str, username: str, password: str,
                 ffmpeg_bin: str) -> dict[str, Any]:
    """The whole go2rtc config as a dict (``username``/``password`` only decide whether the
    API is protected; their values travel as environment variables)."""
    webrtc, ignored = _webrtc_from_base(base, webrtc_listen)
    if ignored:
        log.warning("go2rtc.yaml: ignoring %s (CamPy manages these)", ", ".join(ignored))
    api: dict[str, Any] = {"listen": api_listen, "allow_paths": list(ALLOW_PATHS)}
    if username:
        api.update({"username": f"${{{API_USER_VAR}}}", "password": f"${{{API_PASS_VAR}}}",
                    "local_auth": True})
    rtsp: dict[str, Any] = {"listen": rtsp_listen}
    if username:
        # go2rtc skips RTSP auth for loopback clients (CamPy's own): these guard only a
        # non-loopback listener; the secret stream names guard the loopback one.
        rtsp.update({"username": f"${{{API_USER_VAR}}}", "password": f"${{{API_PASS_VAR}}}"})
    return {
        "app": {"modules": list(MODULES)},
        "api": api,
        "rtsp": rtsp,
        "webrtc": webrtc,
        "exec": {"allow_paths": [ffmpeg_bin]},
        "ffmpeg": {"bin": ffmpeg_bin},
        "log": {"format": "json", "level": "info"},
        "streams": {name: list(spec.sources) for name, spec in sorted(specs.items())},
        "preload": {name: "video&audio" for name, spec in sorted(specs.items()) if spec.role == "sub"},
    }


def api_env(username: str, password: str) -> dict[str, str]:
    """The environment variables the generated config's API credentials refer to."""
    return {API_USER_VAR: username, API_PASS_VAR: password} if username else {}


def write_config(path: Path, cfg: Mapping[str, Any]) -> None:
    """Write ``cfg`` atomically, mode 0600, headed 'managed by CamPy'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y = YAML(typ="safe", pure=True)
    y.default_flow_style = False
    fd, tmp = tempfile.mkstemp(prefix=".go2rtc.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(HEADER)
            y.dump(dict(cfg), f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
