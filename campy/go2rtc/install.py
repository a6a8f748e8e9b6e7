"""Install the pinned go2rtc: ``python -m campy.go2rtc.install [--dest DIR] [--force]``.

With Go: build v1.9.14 from the Go module proxy. ``go install …@v1.9.14`` alone may fail
where the proxy refuses the module's version list (a deprecation lookup); then the module
is fetched with ``go mod download`` (checked against the pinned module sum and the checksum
database) and built from the local module cache. cgo is off, as in go2rtc's own releases.
Without Go: download the release binary and check it against a pinned sha256.
Standard library only, so it runs before CamPy's dependencies are installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from campy.go2rtc.const import (
    GO2RTC_MODULE,
    GO2RTC_MODULE_SUM,
    GO2RTC_VERSION,
    RELEASE_BINARIES,
    RELEASE_URL,
)


class InstallError(RuntimeError):
    """go2rtc could not be installed; the message says why and what to do."""


def binary_version(path: Path) -> str | None:
    try:
        out = subprocess.run([str(path), "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.split()
    # "go2rtc version 1.9.14 () linux/amd64"
    return parts[2] if len(parts) >= 3 and parts[1] == "version" else None


def find_binary() -> Path:
    """The go2rtc binary: ``GO2RTC_BIN``, else the virtualenv's bin, else ``PATH``."""
    env = os.environ.get("GO2RTC_BIN")
    if env:
        p = Path(env)
        if not p.is_file():
            raise InstallError(f"GO2RTC_BIN={env} is not a file")
        return p
    venv = Path(sys.prefix) / "bin" / "go2rtc"
    if venv.is_file():
        return venv
    found = shutil.which("go2rtc")
    if found:
        return Path(found)
    raise InstallError("go2rtc is not installed: run `python -m campy.go2rtc.install` "
                       "(or `make setup`), or set GO2RTC_BIN")


def _go(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(["go", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=900)
    if proc.returncode != 0:
        raise InstallError(f"`go {' '.join(args)}` failed:\n{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def install_with_go(dest: Path) -> None:
    target = f"{GO2RTC_MODULE}@v{GO2RTC_VERSION}"
    base_env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(dest.resolve()), "GOFLAGS": "-buildvcs=false"}
    build = ["install", "-trimpath", "-ldflags", "-s -w", target]
    try:
        _go(*build, env=base_env)
        return
    except InstallError as err:
        print(f"plain `go install` did not work, building from the module cache instead:\n  {err}",
              file=sys.stderr)
    info = json.loads(_go("mod", "download", "-json", target))
    if info.get("Sum") != GO2RTC_MODULE_SUM:
        raise InstallError(f"go2rtc module checksum mismatch: got {info.get('Sum')}, "
                           f"pinned {GO2RTC_MODULE_SUM}")
    _go("mod", "download", cwd=Path(info["Dir"]))  # its dependencies, checked by go.sum
    modcache = _go("env", "GOMODCACHE").strip()
    env = {**base_env, "GOPROXY": f"file://{modcache}/cache/download", "GOSUMDB": "off"}
    _go(*build, env=env)


def install_release(dest: Path) -> None:
    arch = platform.machine()
    if arch not in RELEASE_BINARIES:
        raise InstallError(f"no go2rtc release pinned for {arch}; install Go and retry")
    name, sha = RELEASE_BINARIES[arch]
    if not sha:
        raise InstallError(f"no sha256 pinned for {name}; install Go (the Go toolchain builds "
                           "go2rtc from its checksummed module) or set GO2RTC_BIN")
    url = RELEASE_URL.format(version=GO2RTC_VERSION, name=name)
    with tempfile.NamedTemporaryFile(dir=dest, delete=False) as tmp:
        with urllib.request.urlopen(url, timeout=120) as r:
            shutil.copyfileobj(r, tmp)
    digest = hashlib.sha256(Path(tmp.name).read_bytes()).hexdigest()
    if digest != sha:
        os.unlink(tmp.name)
        raise InstallError(f"{name}: sha256 {digest} does not match the pinned {sha}")
    os.chmod(tmp.name, 0o755)
    os.replace(tmp.name, dest / "go2rtc")


def install(dest: Path, *, force: bool = False) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / "go2rtc"
    if not force and target.exists() and binary_version(target) == GO2RTC_VERSION:
        print(f"go2rtc {GO2RTC_VERSION} already installed at {target}")
        return target
    if shutil.which("go"):
        install_with_go(dest)
    else:
        install_release(dest)
    version = binary_version(target)
    if version != GO2RTC_VERSION:
        raise InstallError(f"installed go2rtc reports version {version!r}, expected {GO2RTC_VERSION}")
    print(f"installed go2rtc {version} at {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="install the pinned go2rtc")
    ap.add_argument("--dest", type=Path, default=Path(sys.prefix) / "bin")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    try:
        install(args.dest, force=args.force)
    except InstallError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
