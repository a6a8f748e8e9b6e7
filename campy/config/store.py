"""The live config: last good version, reload on edits, and write-back from the UI.

A write-back edits the round-trip YAML document (so the user's comments and key order
stay), validates the result exactly as a load would, and only then replaces the file
atomically (temp file in the same folder, fsync, rename). Passwords typed into the UI go to
the secrets file (mode 0600) and campy.yaml gets a ``!secret <camera>_password`` reference.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, TaggedScalar

from campy.config.errors import ConfigError, ConfigIssue
from campy.config.loader import build_config, load_config, parse_text, yaml_rt
from campy.config.model import CameraConfig, CampyConfig
from campy.config.urls import origin, validate_camera_url

log = logging.getLogger(__name__)


@dataclass
class ConfigChange:
    """A new valid config and the cameras it added, removed or modified."""

    config: CampyConfig
    changed_cameras: set[str] = field(default_factory=set)


def _camera_key(cam: CameraConfig) -> tuple[Any, ...]:
    return (cam.title, cam.main, cam.sub, cam.username,
            cam.password.get() if cam.password else None, cam.enabled, cam.h265_fallback,
            cam.record)


def diff_cameras(old: CampyConfig | None, new: CampyConfig) -> set[str]:
    before = old.cameras if old else {}
    names = set(before) | set(new.cameras)
    return {n for n in names
            if n not in before or n not in new.cameras or _camera_key(before[n]) != _camera_key(new.cameras[n])}


def atomic_write(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ConfigStore:
    """campy.yaml as CamPy runs it: ``config`` is always the last good version.

    ``overlay`` (optional) adds what is not the user's to every loaded version, e.g. the
    simulated cameras of ``campy serve`` (campy/demo.py); it is never written to the file.
    Cameras named in ``readonly`` (the overlay's) cannot be changed through the store.
    """

    def __init__(self, path: Path | str, *, overlay: Callable[[CampyConfig], CampyConfig] | None = None,
                 readonly: frozenset[str] = frozenset()) -> None:
        self.path = Path(path).resolve()
        self.config: CampyConfig | None = None
        self.error: ConfigError | None = None
        self._digest: str | None = None
        self._lock = threading.RLock()
        self._overlay = overlay or (lambda cfg: cfg)
        self._readonly = readonly
        self._own: frozenset[str] = frozenset()  # the cameras of the file itself
        try:
            text = self.path.read_text()
            self.config = self._apply_overlay(load_config(self.path))
            self._digest = _digest(text)
        except ConfigError as err:
            self.error = err
        except OSError as err:
            self.error = ConfigError([ConfigIssue("", None, f"cannot read: {err.strerror}", str(self.path))])

    # -- reading -------------------------------------------------------------------
    def reload(self) -> ConfigChange | None:
        """Re-read the file. A valid change is returned; an invalid file sets ``error``
        and keeps ``config``; an unchanged file returns None."""
        with self._lock:
            try:
                text = self.path.read_text()
            except OSError as err:
                self.error = ConfigError([ConfigIssue("", None, f"cannot read: {err.strerror}", str(self.path))])
                return None
            digest = _digest(text)
            if digest == self._digest and self.error is None:
                return None
            try:
                doc, data = parse_text(text, file=self.path)
                new = self._apply_overlay(build_config(doc, data, file=self.path))
            except ConfigError as err:
                if self._digest != digest or self.error is None:
                    log.error("campy.yaml is invalid; keeping the last good config:\n%s", err)
                self.error, self._digest = err, digest
                return None
            self.error, self._digest = None, digest
            changed = diff_cameras(self.config, new)
            old = self.config
            self.config = new
            if old is not None and not changed and old == new:
                return None
            return ConfigChange(new, changed)

    def fingerprint(self) -> str | None:
        return self._digest

    # -- writing -------------------------------------------------------------------
    def _apply_overlay(self, own: CampyConfig) -> CampyConfig:
        self._own = frozenset(own.cameras)
        return self._overlay(own)

    @property
    def readonly(self) -> frozenset[str]:
        """The overlay's cameras shown now (a camera of the file with the same name wins)."""
        return self._readonly - self._own

    def _refuse_readonly(self, name: str) -> None:
        if name in self.readonly:
            raise ConfigError([ConfigIssue(
                f"cameras.{name}", None,
                f"'{name}' is a simulated camera (demo): it is not in campy.yaml and cannot be "
                "changed; add a camera of your own", str(self.path))])

    def _edit(self, mutate: Any, *, secret: tuple[str, str] | None = None) -> None:
        with self._lock:
            text = self.path.read_text()
            if self.error is not None:
                raise ConfigError([ConfigIssue("", None, "campy.yaml has errors; fix the file first",
                                               str(self.path))] + self.error.issues)
            doc, _ = parse_text(text, file=self.path)
            mutate(doc)
            out = io.StringIO()
            yaml_rt().dump(doc, out)
            new_text = out.getvalue()
            secrets_text = None
            secrets_path = self.config.server.secrets_file if self.config else self.path.parent / "secrets.yaml"
            if secret is not None:
                secrets_text = self._secrets_with(secrets_path, *secret)
            # Validate exactly as a load would, with the new secrets in view.
            new_doc, new_data = parse_text(new_text, file=self.path)
            if secrets_text is not None:
                self._check_with_secrets(new_doc, new_data, secrets_path, secrets_text)
            else:
                build_config(new_doc, new_data, file=self.path)
            if secrets_text is not None:
                atomic_write(secrets_path, secrets_text, mode=0o600)
            atomic_write(self.path, new_text)

    def _check_with_secrets(self, doc: Any, data: dict[str, Any], secrets_path: Path, text: str) -> None:
        # Validate against the would-be secrets file without writing it first.
        with tempfile.TemporaryDirectory() as td:
            tmp = Path(td) / secrets_path.name
            tmp.write_text(text)
            server = data.setdefault("server", {}) or {}
            server["secrets_file"] = str(tmp)
            data["server"] = server
            build_config(doc, data, file=self.path)

    @staticmethod
    def _secrets_with(path: Path, key: str, value: str) -> str:
        doc = CommentedMap()
        if path.exists():
            loaded, _ = parse_text(path.read_text(), file=path)
            doc = loaded
        doc[key] = value
        out = io.StringIO()
        yaml_rt().dump(doc, out)
        return out.getvalue()

    @staticmethod
    def _cameras(doc: Any) -> CommentedMap:
        cams = doc.get("cameras")
        if not isinstance(cams, CommentedMap):
            cams = CommentedMap()
            doc["cameras"] = cams
        # `cameras: {}` is written in flow style; new entries read better in block style.
        cams.fa.set_block_style()
        return cams

    def _apply_fields(self, entry: CommentedMap, name: str, *, title: str | None, main: str,
                      sub: str | None, username: str | None, password: str | None,
                      enabled: bool, h265_fallback: str) -> None:
        def put(key: str, value: Any) -> None:
            if value is None or value == "":
                entry.pop(key, None)
            else:
                entry[key] = value

        put("title", title)
        put("main", main)
        put("sub", sub)
        put("username", username)
        if password:
            entry["password"] = TaggedScalar(value=f"{name}_password", tag="!secret")
        entry["enabled"] = bool(enabled)
        if h265_fallback != "sub" or "h265_fallback" in entry:
            entry["h265_fallback"] = h265_fallback

    def add_camera(self, name: str, *, title: str | None = None, main: str, sub: str | None = None,
                   username: str | None = None, password: str | None = None, enabled: bool = True,
                   h265_fallback: str = "sub", detect: bool = False) -> None:
        """Add a camera; ``detect`` gives it an empty ``detect:`` section (detection on, with
        every default)."""
        if name in self.readonly:
            raise ConfigError([ConfigIssue(f"cameras.{name}", None,
                                           f"'{name}' is the name of a simulated camera; choose another")])
        if self.config and name in self.config.cameras:
            raise ConfigError([ConfigIssue(f"cameras.{name}", None, f"camera '{name}' exists")])
        def mutate(doc: Any) -> None:
            entry = CommentedMap()
            self._apply_fields(entry, name, title=title, main=main, sub=sub,
                                               username=username, password=password, enabled=enabled,
                                               h265_fallback=h265_fallback)
            if detect:
                entry["detect"] = CommentedMap()
            self._cameras(doc)[name] = entry

        self._edit(mutate, secret=(f"{name}_password", password) if password else None)

    def update_camera(self, name: str, *, title: str | None = None, main: str, sub: str | None = None,
                      username: str | None = None, password: str | None = None, enabled: bool = True,
                      h265_fallback: str = "sub") -> None:
        """Change a camera; ``password=None`` keeps its current password reference, unless
        the camera's address changed: a stored password is never sent to a new place."""
        self._refuse_readonly(name)
        old = self.config.cameras.get(name) if self.config else None
        if old is not None and old.password is not None and not password:
            before = {origin(u) for u in (old.main, old.sub) if u}
            if any(origin(u) not in before for u in (main, sub) if u and validate_camera_url(u) is None):
                raise ConfigError([ConfigIssue(
                    f"cameras.{name}.password", None,
                    "the camera's address changed: enter its password again", str(self.path))])

        def mutate(doc: Any) -> None:
            cams = self._cameras(doc)
            if name not in cams:
                raise ConfigError([ConfigIssue(f"cameras.{name}", None, f"no camera '{name}'")])
            self._apply_fields(cams[name], name, title=title, main=main, sub=sub,
                                               username=username, password=password, enabled=enabled,
                                               h265_fallback=h265_fallback)

        self._edit(mutate, secret=(f"{name}_password", password) if password else None)

    def set_camera_enabled(self, name: str, enabled: bool) -> None:
        self._refuse_readonly(name)
        def mutate(doc: Any) -> None:
            cams = self._cameras(doc)
            if name not in cams:
                raise ConfigError([ConfigIssue(f"cameras.{name}", None, f"no camera '{name}'")])
            cams[name]["enabled"] = bool(enabled)

        self._edit(mutate)

    def delete_camera(self, name: str) -> None:
        self._refuse_readonly(name)
        def mutate(doc: Any) -> None:
            cams = self._cameras(doc)
            if name not in cams:
                raise ConfigError([ConfigIssue(f"cameras.{name}", None, f"no camera '{name}'")])
            del cams[name]

        self._edit(mutate)

    def set_zone(self, camera: str, zone: str, points: list[tuple[float, float]] | None) -> None:
        """Add or replace a detection zone of ``camera`` (``points`` None removes it)."""
        self._refuse_readonly(camera)
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        def mutate(doc: Any) -> None:
            cams = self._cameras(doc)
            if camera not in cams:
                raise ConfigError([ConfigIssue(f"cameras.{camera}", None, f"no camera '{camera}'")])
            entry = cams[camera]
            if entry.get("detect") is None:
                entry["detect"] = CommentedMap()
            detect = entry["detect"]
            if detect.get("zones") is None:
                detect["zones"] = CommentedMap()
            zones = detect["zones"]
            if points is None:
                if zone not in zones:
                    raise ConfigError([ConfigIssue(f"cameras.{camera}.detect.zones", None, f"no zone '{zone}'")])
                del zones[zone]
                alert = detect.get("alert_zones")
                if alert is not None and zone in alert:
                    alert.remove(zone)
                return
            seq = CommentedSeq()
            for x, y in points:
                pt = CommentedSeq([round(float(x), 1), round(float(y), 1)])
                pt.fa.set_flow_style()
                seq.append(pt)
            seq.fa.set_flow_style()
            zones[zone] = seq

        self._edit(mutate)
