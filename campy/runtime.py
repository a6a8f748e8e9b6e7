"""The running CamPy: config, database, go2rtc and health, wired together.

One ``Runtime`` per process. It owns every long-running task and child process and
stops them all on ``stop()``. The web layer only reads from it and calls its methods.

Config changes flow one way: campy.yaml → ``ConfigStore`` → stream specs → the generated
go2rtc config file (so a go2rtc restart loads the current set) **and** a reconcile through
go2rtc's API (so a running go2rtc changes only the streams that differ, without a restart).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets as pysecrets
import shutil
import time
from collections.abc import Mapping
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from ruamel.yaml import YAML

from campy.backup import schedule_backup, start_backup, stop_backup
from campy.alerts.links import LinkSigner
from campy.clock import Clock
from campy.config import CampyConfig, ConfigChange, ConfigError, ConfigStore, watch
from campy.db.database import open_db
from campy.db.audit import AuditLog
from campy.db.embeds import EmbedStore
from campy.db.tokens import TokenStore
from campy.db.users import UserStore, ensure_admin
from campy.web.revoke import Revocations
from campy.web.viewers import Viewers
from campy.go2rtc import Go2rtcClient, Go2rtcServer, Reconciler, find_binary
from campy.go2rtc.confgen import build_config, write_config
from campy.health import HealthMonitor
from campy.logs import Installed, RecentLog, install as install_logs, uninstall as uninstall_logs
from campy.jobs import JobRegistry
from campy.looplag import LoopLagMonitor, stall_threshold_s
from campy.maintenance import Maintenance
from campy.perms import tighten
from campy.detection.manager import DetectionManager
from campy.recording.export import Exporter
from campy.recording.manager import RecordingManager
from campy.recording.playfile import PlayFiles
from campy.streams import StreamNames, StreamSpec, scrub, secrets_of
from campy.web.session_store import SQLiteSessionStore, schedule_purge
from campy.web.throttle import DeviceCookies, LoginLimiter

log = logging.getLogger(__name__)


def _load_base_go2rtc(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    data = YAML(typ="safe").load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def webrtc_listen(host: str, port: int) -> str:
    """go2rtc's ``webrtc.listen`` for a host ("" = all interfaces) and port."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Runtime:
    """Everything CamPy runs; ``await start()`` then ``await stop()``."""

    def __init__(
        self,
        config_path: Path,
        *,
        clock: Clock | None = None,
        admin_password: str | None = None,
        watch_interval: float = 1.0,
        health_interval: float = 2.0,
        overlay: Any = None,
        readonly: frozenset[str] = frozenset(),
    ) -> None:
        self.clock = clock or Clock()
        # ``overlay``/``readonly``: simulated cameras that are shown but never written back
        # to campy.yaml (campy/demo.py).
        self.store = ConfigStore(config_path, overlay=overlay, readonly=readonly)
        if self.store.error is not None and self.store.config is None:
            raise self.store.error
        self.admin_password = admin_password
        self.watch_interval = watch_interval
        cfg = self.config
        self.data_dir: Path = cfg.server.data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = open_db(self.data_dir / "campy.db")
        self.users = UserStore(self.db, clock=self.clock)
        self.sessions = SQLiteSessionStore(self.db, clock=self.clock)
        self.login_limiter = LoginLimiter(clock=self.clock)
        self.tokens = TokenStore(self.db, clock=self.clock)
        self.audit = AuditLog(self.db, clock=self.clock)
        self.embeds = EmbedStore(self.db, clock=self.clock)
        self.revocations = Revocations()
        self.links = LinkSigner(self.data_dir, clock=self.clock)
        self.device_cookies = DeviceCookies.from_file(self.data_dir / "device.secret")
        # Periodic jobs run in the event loop (started in ``start``); a job's blocking work
        # goes to a worker thread.
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        schedule_purge(self.scheduler, self.sessions)
        self.jobs = JobRegistry(self.scheduler)  # every job's last run/result (campy/jobs.py)
        self.maintenance = Maintenance(self)  # retention, purges, nightly DB check (campy/maintenance.py)
        self.started_at = time.time()
        self._env: dict[str, str] = {}
        self._specs: dict[str, StreamSpec] = {}  # by public name (what users and the UI see)
        self._g2r_specs: dict[str, StreamSpec] = {}  # the same, by the secret names go2rtc serves
        # A fresh secret suffix per start: go2rtc's RTSP server lets any loopback client read
        # or publish a stream by name, so only these names guard the restream.
        self.names = StreamNames()
        self._refresh_specs()
        self._g2r_user = "campy"
        self._g2r_pass = pysecrets.token_hex(16)
        external = cfg.go2rtc.url
        if external:
            self.go2rtc_api = external.rstrip("/")
            self._g2r_user = os.environ.get("CAMPY_GO2RTC_USERNAME", "")
            self._g2r_pass = os.environ.get("CAMPY_GO2RTC_PASSWORD", "")
        else:
            self.go2rtc_api = f"http://127.0.0.1:{cfg.go2rtc.api_port}"
        auth = (self._g2r_user, self._g2r_pass) if self._g2r_user else None
        self.client = Go2rtcClient(self.go2rtc_api, auth=auth, secrets=self.secret_values)
        self.viewers = self._make_viewers()
        self.reconciler = Reconciler(self.client, scrub=self.scrub, keep=self.viewers.owns)
        self.server: Go2rtcServer | None = None
        self.generated_config = self.data_dir / "go2rtc.generated.yaml"
        self.health = HealthMonitor(
            self.client,
            cameras=lambda: self.config.cameras,
            specs=lambda: self._specs,
            scrub=self.scrub,
            clock=self.clock,
            interval=health_interval,
            go2rtc_name=self.names.go2rtc,
        )
        self.recording = RecordingManager(db=self.db, clock=self.clock, scrub=self.scrub,
                                          config=lambda: self.config, source_url=self.restream_url,
                                          health=self.health)
        self.exporter = Exporter(directory=self.data_dir / "exports", clock=self.clock)
        self.play_files = PlayFiles(self.data_dir / "playback")  # seekable playback windows
        self.alerts: Any = None
        self.detection = DetectionManager(db=self.db, clock=self.clock, config=lambda: self.config,
                                          data_dir=self.data_dir, source_url=self.stream_url,
                                          recording=self.recording, alerts=None)
        self.looplag = LoopLagMonitor(warn_s=stall_threshold_s())
        self.recent_log = RecentLog()  # WARNING+ for the system page (campy/logs.py)
        self._logging: Installed | None = None
        from campy.alerts.healthrun import HealthAlerts

        self.health_alerts = HealthAlerts(self)  # its loop starts at the end of start()
        self._tasks: list[asyncio.Task[None]] = []
        self._reconcile_lock = asyncio.Lock()
        self.generated_admin_password: str | None = None
        self.last_reconcile: Any = None

    # -- views -----------------------------------------------------------------------
    @property
    def config(self) -> CampyConfig:
        assert self.store.config is not None
        return self.store.config

    @property
    def simulated(self) -> dict[str, str]:
        """The simulated cameras (not in campy.yaml) by name, with their titles."""
        cams = self.config.cameras
        return {n: cams[n].title or n for n in sorted(self.store.readonly) if n in cams}

    @property
    def config_error(self) -> ConfigError | None:
        return self.store.error

    @property
    def specs(self) -> Mapping[str, StreamSpec]:
        return self._specs

    def secret_values(self) -> list[str]:
        viewers = getattr(self, "viewers", None)  # set up after the go2rtc client that uses this
        recent = viewers.recent_tokens() if viewers is not None else []
        return secrets_of(self._specs) + [self._g2r_pass, self.names.suffix] + recent

    def scrub(self, text: str) -> str:
        return scrub(text, self.secret_values())

    def stream_owner(self, stream: str) -> str | None:
        """The camera a go2rtc stream belongs to, or None for a name CamPy did not make."""
        spec = self._specs.get(stream)
        return spec.camera if spec else None

    def go2rtc_name(self, stream: str) -> str:
        """The name go2rtc serves one of CamPy's (public) streams under; a secret."""
        return self.names.go2rtc(stream)

    def _rtsp(self, stream: str, query: str) -> str:
        host, port = self._rtsp_server()
        return f"rtsp://{self._rtsp_auth()}{host}:{port}/{self.names.go2rtc(stream)}?{query}"

    def restream_url(self, camera: str) -> str:
        """go2rtc's loopback restream of a camera's main stream (MP4-compatible tracks only)."""
        return self._rtsp(camera, "mp4")

    def stream_url(self, stream: str) -> str:
        """go2rtc's loopback restream of any of CamPy's streams, video only (for detection)."""
        return self._rtsp(stream, "video")

    def _rtsp_server(self) -> tuple[str, int]:
        cfg = self.config.go2rtc
        host = (httpx.URL(cfg.url).host or "127.0.0.1") if cfg.url else "127.0.0.1"
        return host, cfg.rtsp_port

    def _rtsp_auth(self) -> str:
        # An external go2rtc is reached over a network, where go2rtc does check
        # rtsp.username/password (the compose config sets them to the API's).
        if self.config.go2rtc.url and self._g2r_user:
            return f"{quote(self._g2r_user, safe='')}:{quote(self._g2r_pass, safe='')}@"
        return ""

    def _make_viewers(self) -> Viewers:
        """The live view's per-viewer streams (campy/web/viewers.py). go2rtc dials their relay:
        on loopback for CamPy's own go2rtc; an external go2rtc needs CAMPY_RELAY_HOST (the
        name it reaches CamPy by), else live views play the camera streams directly."""
        relay_host = os.environ.get("CAMPY_RELAY_HOST", "")
        bind, dial = ("0.0.0.0", relay_host) if relay_host else ("127.0.0.1", "127.0.0.1")
        return Viewers(self.client, self.revocations, upstream=self._rtsp_server, auth=self._rtsp_auth,
                       bind=bind, dial_host=dial, snapshot=lambda: self.health.snapshot,
                       wanted=lambda stream: self.stream_owner(stream) is not None)

    def go2rtc_auth(self) -> tuple[str, str] | None:
        return (self._g2r_user, self._g2r_pass) if self._g2r_user else None

    def webrtc_ice_servers(self) -> list[Any]:
        """ICE servers for browsers, from the user's go2rtc.yaml (none by default: LAN)."""
        try:
            base = _load_base_go2rtc(self.config.go2rtc.base_config) or {}
        except Exception:
            return []
        servers = (base.get("webrtc") or {}).get("ice_servers") or []
        return servers if isinstance(servers, list) else []

    # -- lifecycle -------------------------------------------------------------------
    def _refresh_specs(self) -> None:
        self._specs = dict(self.config.stream_specs())
        self._g2r_specs = self.names.for_go2rtc(self._specs)
        env: dict[str, str] = {}
        for spec in self._specs.values():
            env.update(spec.env)
        # Mutated in place: the go2rtc supervisor reads this mapping at every (re)start.
        self._env.clear()
        self._env.update(env)

    def _write_go2rtc_config(self) -> None:
        cfg = self.config
        base = _load_base_go2rtc(cfg.go2rtc.base_config)
        ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
        doc = build_config(
            base=base,
            specs=self._g2r_specs,
            api_listen=f"127.0.0.1:{cfg.go2rtc.api_port}",
            rtsp_listen=f"127.0.0.1:{cfg.go2rtc.rtsp_port}",
            webrtc_listen=webrtc_listen(cfg.go2rtc.webrtc_host, cfg.go2rtc.webrtc_port),
            username=self._g2r_user,
            password=self._g2r_pass,
            ffmpeg_bin=ffmpeg,
        )
        write_config(self.generated_config, doc)

    def _private_paths(self) -> list[Path]:
        cfg = self.config
        roots = [self.data_dir, cfg.server.secrets_file]
        rec = cfg.recording.path
        if not rec.is_relative_to(self.data_dir):
            roots.append(rec)
        return roots

    async def start(self) -> None:
        srv = self.config.server  # log file, format and scrubbing (campy/logs.py)
        self._logging = install_logs(data_dir=self.data_dir, log_format=srv.log_format,
                                     max_bytes=srv.log_max_bytes, files=srv.log_files,
                                     scrub=self.scrub, recent=self.recent_log)
        # What a looser umask (or an older CamPy) left readable by others becomes private.
        try:
            await asyncio.to_thread(tighten, self._private_paths())
        except Exception:  # never a reason not to start
            log.exception("could not check the data dir's permissions")
        self._tasks.append(asyncio.create_task(self.looplag.run(), name="loop-lag"))
        generated = ensure_admin(self.users, password=self.admin_password)
        if generated:
            self.generated_admin_password = generated
            print(
                f"CamPy created user 'admin' with password: {generated}\n"
                "(shown once and kept in the data dir's database; to change it: "
                "`campy user passwd admin`)",
                flush=True,
            )
        elif not self.admin_password:
            print("Log in as 'admin' with the password printed at its first start "
                  "(forgot it? `campy user passwd admin`).", flush=True)
        self.sessions.purge_expired()
        start_backup(self)  # the data dir's instance lock and the nightly backup job
        self.maintenance.schedule()
        self.scheduler.start()
        if not self.config.go2rtc.url or os.environ.get("CAMPY_RELAY_HOST"):
            await self.viewers.start()
            self._tasks.append(asyncio.create_task(self.viewers.run(), name="viewer-reaper"))
        if not self.config.go2rtc.url:
            self._write_go2rtc_config()
            self.server = Go2rtcServer(
                binary=find_binary(),
                config_path=self.generated_config,
                api_url=self.go2rtc_api,
                auth=(self._g2r_user, self._g2r_pass),
                env=self._env,
                secrets=self.secret_values,
                on_ready=self._on_go2rtc_ready,
                camera_of=lambda name: self.stream_owner(self.names.public(name) or ""),
            )
            await self.server.start()
        else:
            await self.reconcile()
        await self.recording.start()
        await self._start_alerts()
        await self.detection.start()
        self._tasks.append(asyncio.create_task(self.health.run(), name="health"))
        self._tasks.append(asyncio.create_task(self._reconcile_loop(), name="reconcile"))
        self._tasks.append(
            asyncio.create_task(
                watch(self.store, self.apply_change, interval=self.watch_interval,
                      on_error=self._on_config_error),
                name="config-watch",
            )
        )
        self._tasks.append(asyncio.create_task(self.health_alerts.run(), name="health-alerts"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.viewers.stop()
        await self.exporter.stop()
        await self.health_alerts.stop()
        await self.detection.stop()
        if self.alerts is not None:
            await self.alerts.stop()
        await self.recording.stop()
        if self.server is not None:
            await self.server.stop()
        await self.client.aclose()
        stop_backup(self)
        if self._logging is not None:
            uninstall_logs(self._logging)
            self._logging = None

    async def _on_go2rtc_ready(self) -> None:
        # A freshly (re)started go2rtc loaded the generated file, which holds every spec.
        self.reconciler.mark_loaded_from_config(self._g2r_specs)
        await self.reconcile()

    async def reconcile(self) -> Any:
        async with self._reconcile_lock:
            result = await self.reconciler.reconcile(self._g2r_specs)
            previous = getattr(self.last_reconcile, "errors", None)
            self.last_reconcile = result
            if result.errors and result.errors != previous:
                log.warning("go2rtc reconcile errors: %s", self.scrub(str(result.errors)))
            return result

    async def _reconcile_loop(self, interval: float = 10.0) -> None:
        """Re-check go2rtc every few seconds: repairs drift and retries what failed before
        (go2rtc refuses to preload a camera that is down, so it is retried here)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.debug("periodic reconcile failed: %s", self.scrub(str(err)))

    async def apply_change(self, change: ConfigChange) -> None:
        """A valid new config: regenerate go2rtc's file and reconcile only what changed."""
        log.info("config changed; cameras touched: %s", sorted(change.changed_cameras) or "none")
        self._refresh_specs()
        self.maintenance.reschedule()
        self.health.forget(set(change.changed_cameras))
        await self._revoke_embeds_of_removed(change.changed_cameras)
        if self.server is not None:
            self._write_go2rtc_config()
        try:
            await self.reconcile()
        except Exception as err:
            log.warning("reconcile after config change failed: %s", self.scrub(str(err)))
        await self.recording.reconcile()
        await self._start_alerts()
        await self.detection.reconcile()
        schedule_backup(self)  # backup.enabled/at may have changed

    async def _revoke_embeds_of_removed(self, touched: set[str] | frozenset[str]) -> None:
        """A deleted camera's embeds die with it (by UI, API or file edit), so a camera added
        later under the same name is never shown through an old snippet."""
        for name in sorted(set(touched) - set(self.config.cameras)):
            ids = await asyncio.to_thread(self.embeds.revoke_camera, name)
            for eid in ids:
                self.revocations.revoke(f"embed:{eid}")
            if ids:
                log.info("camera %s removed: revoked its %d embed(s)", name, len(ids))

    async def _start_alerts(self) -> None:
        """(Re)build alert delivery when the alerts section changed."""
        key = msgspec.json.encode(self.config.alerts)
        if self.alerts is None or self.alerts.key != key:
            await self._rebuild_alerts(key)
        if self.alerts is not None:  # Home Assistant discovery follows the cameras (campy/alerts/ha.py)
            self.alerts.sync_ha(self.config, motion=self.detection.motion_cameras(),
                                states={n: h.state for n, h in self.health.all().items()})
            if self._ha_camera_state not in self.health.listeners:
                self.health.listeners.append(self._ha_camera_state)

    async def _rebuild_alerts(self, key: bytes) -> None:
        if self.alerts is not None:
            await self.alerts.stop()
            self.alerts = None
        health = self.config.alerts.health
        if self.config.alerts.rules or self.config.alerts.mqtt or (health.enabled and health.webhooks):
            from campy.alerts.wiring import AlertsBridge

            self.alerts = AlertsBridge(self.config, key=key, clock=self.clock, scrub=self.scrub,
                                       links=self.links)
            await self.alerts.start()
        self.detection.alerts = self.alerts

    def _ha_camera_state(self, camera: str, state: str) -> None:
        if self.alerts is not None:
            self.alerts.camera_state(camera, state)

    async def _on_config_error(self, err: ConfigError) -> None:
        log.error("config file has errors; keeping the last good config:\n%s", err)

    async def reload_now(self) -> None:
        """Re-read campy.yaml at once (after a UI write) instead of waiting for the watcher."""
        change = self.store.reload()
        if change is not None:
            await self.apply_change(change)
