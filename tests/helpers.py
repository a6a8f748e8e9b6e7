"""Helpers shared by test packages: free ports, a real CamPy process, logged-in clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "admin-test-password-1"


# Ports handed to servers a test starts. They come from below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, 32768-60999 here): a port the kernel picked with bind(0) and
# released again could be taken as the source port of any outgoing connection on the box (an
# ffmpeg, a browser, another run's client) before the server binds it ("address already in use",
# seen once in a full run). Below that range only an explicit bind can take a port; a lock file
# per port keeps two test runs on the same box (CI beside a benchmark) from handing out the same
# one, and no run hands out a port twice.
_PORT_RANGE = (20000, 32000)
_PORT_LOCKS = Path(os.environ.get("CAMPY_TEST_PORT_LOCKS", "/tmp/campy-test-ports"))
_held: dict[int, int | None] = {}  # port -> fd of its lock file (None once released)
_MAX_LOCKS = 256  # the oldest locks are released beyond this (their servers bound long ago)


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):  # go2rtc's WebRTC port takes both
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    import fcntl
    import random

    _PORT_LOCKS.mkdir(parents=True, exist_ok=True)
    for _ in range(2000):
        port = random.randrange(*_PORT_RANGE)
        if port in _held:
            continue
        fd = os.open(_PORT_LOCKS / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another test process holds it
            os.close(fd)
            continue
        if _bindable(port):
            _held[port] = fd
            open_fds = [p for p, f in _held.items() if f is not None]
            for old in open_fds[:-_MAX_LOCKS]:
                os.close(_held[old])  # type: ignore[arg-type]
                _held[old] = None
            return port
        os.close(fd)
    raise RuntimeError(f"no free port in {_PORT_RANGE} after 2000 tries")


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as err:  # keep polling; report the last error on timeout
            last = err
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def write_config(path: Path, cameras: Iterable[dict], *, port: int, password_secret: str,
                 extra_top: str = "", recording: dict | None = None,
                 server_extra: Iterable[str] = ()) -> Path:
    """A campy.yaml for tests, with comments (to check they survive write-back).
    ``server_extra``: more lines of the server section, e.g. "tls: {self_signed: true}"."""
    data_dir = path.parent / "data"
    lines = [
        "# CamPy test configuration",
        "server:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        f"  data_dir: {data_dir}",
        "  secrets_file: secrets.yaml",
        *(f"  {line}" for line in server_extra),
        "go2rtc:",
        f"  api_port: {free_port()}",
        f"  rtsp_port: {free_port()}",
        f"  webrtc_port: {free_port()}",
        "  base_config: null",
    ]
    if recording:
        lines.append("recording:")
        lines += [f"  {k}: {v}" for k, v in recording.items()]
    lines.append("cameras:")
    cameras = list(cameras)
    if not cameras:
        lines[-1] = "cameras: {}"
    for cam in cameras:
        lines.append(f"  # camera {cam['name']}")
        lines.append(f"  {cam['name']}:")
        for key in ("title", "main", "sub", "username", "password", "h265_fallback"):
            if cam.get(key) is not None:
                lines.append(f"    {key}: {cam[key]}")
        lines.append(f"    enabled: {'true' if cam.get('enabled', True) else 'false'}")
        if cam.get("detect") is not None:
            lines.append(f"    detect: {json.dumps(cam['detect'])}")  # YAML reads JSON flow style
        if cam.get("record") is not None:
            lines.append("    record:")
            lines += [f"      {k}: {v}" for k, v in cam["record"].items()]
    path.write_text("\n".join(lines) + "\n" + extra_top)
    (path.parent / "secrets.yaml").write_text(f"sim_password: {password_secret!r}\n")
    os.chmod(path.parent / "secrets.yaml", 0o600)
    return path


class CampyProcess:
    """``campy serve`` as a real child process."""

    def __init__(self, config: Path, port: int, *, env: dict[str, str] | None = None,
                 scheme: str = "http", args: Iterable[str] = ()) -> None:
        self.config = config
        self.port = port
        self.base_url = f"{scheme}://127.0.0.1:{port}"
        # What client() checks the server certificate against (https only): a path to a PEM
        # file or an ssl.SSLContext. The readiness probe never checks it (a self-signed
        # certificate exists only once CamPy has started).
        self.verify: object = True
        self.log_path = config.parent / "campy.log"
        full_env = {**os.environ, "CAMPY_ADMIN_PASSWORD": ADMIN_PASSWORD, **(env or {})}
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "campy", "serve", "--config", str(config), "--port", str(port), *args],
            cwd=REPO, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self._healthy, timeout=60, what=f"CamPy on {self.base_url} (log {self.log_path})")
        except AssertionError as err:
            self.stop()
            raise AssertionError(f"CamPy did not start; log:\n{self.log()}") from err

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"CamPy exited with {self.proc.returncode}: {self.log()}")
        return httpx.get(self.base_url + "/healthz", timeout=2, verify=False).status_code == 200

    def data_file(self, name: str) -> Path:
        return self.config.parent / "data" / name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def go2rtc(self) -> psutil.Process | None:
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return None
        for k in kids:
            try:
                if "go2rtc" in k.name() or any("go2rtc" in a for a in k.cmdline()[:1]):
                    return k
            except psutil.NoSuchProcess:
                continue
        return None

    def go2rtc_streams(self, *, raw: bool = False) -> dict:
        """go2rtc's own view of its streams, asked directly (with the credentials CamPy
        handed to the go2rtc process), not through CamPy. go2rtc's names carry CamPy's
        secret per-start suffix (``front__<secret>``); unless ``raw``, keys are the public
        names (test cameras have no ``__`` in their names)."""
        from ruamel.yaml import YAML

        g = self.go2rtc()
        assert g is not None, "no go2rtc process"
        env = g.environ()
        gen = YAML(typ="safe").load(self.data_file("go2rtc.generated.yaml").read_text())
        url = "http://" + gen["api"]["listen"]
        r = httpx.get(url + "/api/streams", timeout=5,
                      auth=(env["CAMPY_GO2RTC_API_USER"], env["CAMPY_GO2RTC_API_PASS"]))
        r.raise_for_status()
        streams = r.json() or {}
        return streams if raw else {k.split("__", 1)[0]: v for k, v in streams.items()}

    def descendants(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def client(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> httpx.Client:
        c = httpx.Client(base_url=self.base_url, timeout=20, follow_redirects=False,
                         verify=self.verify)
        login(c, username, password)
        return c

    def stop(self) -> list[int]:
        """SIGTERM, wait, SIGKILL; returns descendants that were still alive afterwards."""
        kids = self.descendants()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        # Children stop after CamPy has asked them to; give them a bounded time to go.
        procs = []
        for pid in kids:
            try:
                procs.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        _, alive = psutil.wait_procs(procs, timeout=5)
        left = [p.pid for p in alive if _running(p)]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def csrf(client: httpx.Client) -> str:
    if "csrftoken" not in client.cookies:
        client.get("/login")
    return client.cookies["csrftoken"]


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    client.get("/login")
    r = client.post("/login", data={"username": username, "password": password, "next": "/",
                                    "_csrf_token": client.cookies["csrftoken"]})
    assert r.status_code == 303, f"login failed: {r.status_code} {r.text[:300]}"
    return r


def post_form(client: httpx.Client, url: str, data: dict, **kw) -> httpx.Response:
    return client.post(url, data={**data, "_csrf_token": csrf(client)}, **kw)


def api(client: httpx.Client, method: str, url: str, **kw) -> httpx.Response:
    headers = {"x-csrftoken": csrf(client), **kw.pop("headers", {})}
    return client.request(method, url, headers=headers, **kw)

