"""compose.yaml and the Dockerfile, checked statically (there is no Docker engine here):
every service is built or pulled, has a healthcheck and the environment CamPy needs; only
CamPy's web port and go2rtc's WebRTC port are published; and the image's file set, built
from a fresh clone's files the way the Dockerfile's COPY lines do, holds what CamPy needs."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from tests.helpers import REPO

COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"


def _yaml(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _published(service: dict) -> set[tuple[int, str]]:
    """(container port, protocol) of every published port."""
    out = set()
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            out.add((int(p["target"]), p.get("protocol", "tcp")))
            continue
        spec, _, proto = str(p).partition("/")
        out.add((int(spec.rsplit(":", 1)[-1]), proto or "tcp"))
    return out


def test_compose_services_are_complete():
    services = _yaml(COMPOSE)["services"]
    assert set(services) == {"campy", "go2rtc"}
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), f"{name}: neither image nor build"
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and test != ["NONE"], f"{name}: no healthcheck"
    campy, go2rtc = services["campy"], services["go2rtc"]
    assert campy["build"]["dockerfile"] == "Dockerfile" and "dockerfile_inline" not in campy["build"]
    assert campy["depends_on"]["go2rtc"]["condition"] == "service_healthy"
    assert "healthcheck" in " ".join(campy["healthcheck"]["test"])

    env = _env(campy)
    assert env["CAMPY_NO_DEMO"] == "1"
    assert env["CAMPY_GO2RTC_URL"] == "http://go2rtc:1984"
    assert env["CAMPY_RELAY_HOST"] == "campy"
    # CamPy signs in to go2rtc with the credentials go2rtc's container is given.
    g_env = _env(go2rtc)
    for campy_key, go2rtc_key, var in (("CAMPY_GO2RTC_USERNAME", "GO2RTC_API_USER", "CAMPY_GO2RTC_USERNAME"),
                                       ("CAMPY_GO2RTC_PASSWORD", "GO2RTC_API_PASS", "CAMPY_GO2RTC_PASSWORD")):
        assert env[campy_key].startswith("${" + var) and g_env[go2rtc_key].startswith("${" + var)
    # go2rtc's config reads those variables and listens where CamPy looks.
    g2r = _yaml(REPO / "config" / "go2rtc.compose.yaml")
    assert g2r["api"]["listen"] == ":1984" and g2r["api"]["local_auth"] is True
    assert g2r["api"]["username"] == "${GO2RTC_API_USER}" and g2r["api"]["password"] == "${GO2RTC_API_PASS}"
    assert g2r["rtsp"]["username"] == "${GO2RTC_API_USER}"
    assert g2r["rtsp"]["listen"] == f":{env['CAMPY_GO2RTC_RTSP_PORT']}"
    assert g2r["webrtc"]["listen"] == ":8555"
    mount = [v for v in go2rtc["volumes"] if str(v).startswith("./config/go2rtc.compose.yaml:")]
    assert mount and "/config/go2rtc.yaml" in go2rtc["command"]


def test_compose_publishes_only_web_and_webrtc():
    services = _yaml(COMPOSE)["services"]
    assert _published(services["campy"]) == {(8080, "tcp")}
    assert _published(services["go2rtc"]) <= {(8555, "tcp"), (8555, "udp")}
    for name, svc in services.items():
        ports = {p for p, _ in _published(svc)}
        assert not ports & {1984, 8554}, f"{name} publishes go2rtc's API or RTSP port"
        assert svc.get("network_mode") != "host", f"{name} would expose every port"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    out, buf = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _dockerignore() -> list[str]:
    path = REPO / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a pattern matches from the context root (``**/`` at any depth), and a
    matched directory excludes everything under it."""
    parts = path.split("/")
    for pat in patterns:
        anywhere = pat.startswith("**/")
        pat = pat.removeprefix("**/")
        for i in range(len(parts)):
            starts = range(i + 1) if anywhere else [0]
            if any(fnmatch.fnmatch("/".join(parts[j: i + 1]), pat) for j in starts):
                return True
    return False


def _image_files() -> tuple[set[str], dict]:
    """The files of the final stage under its WORKDIR, from `git ls-files` (a fresh clone)
    minus .dockerignore, as the Dockerfile's COPY lines place them; and facts on the way."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    context = {f for f in tracked if not _ignored(f, _dockerignore())}
    stages: list[dict] = []
    for word, args in _instructions(DOCKERFILE.read_text()):
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert m
            stages.append({"name": m.group(2), "image": m.group(1), "files": set(), "run": [],
                           "env": {}, "workdir": "/", "healthcheck": None, "cmd": None})
            continue
        st = stages[-1]
        if word == "WORKDIR":
            st["workdir"] = args
        elif word == "RUN":
            st["run"].append(args)
        elif word == "ENV":
            for item in shlex.split(args):
                k, _, v = item.partition("=")
                st["env"][k] = v
        elif word == "HEALTHCHECK":
            st["healthcheck"] = args
        elif word == "CMD":
            st["cmd"] = args
        elif word == "COPY":
            parts = shlex.split(args)
            flags = [p for p in parts if p.startswith("--")]
            srcs, dest = [p for p in parts if not p.startswith("--")][:-1], parts[-1]
            base = dest.removeprefix("./").rstrip("/")
            base = "" if base in ("", ".") else base
            src_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            for src in srcs:
                src = src.removeprefix("./").rstrip("/")
                if src_stage is not None:
                    prior = next((s for s in stages if s["name"] == src_stage), None)
                    assert prior is not None, f"COPY --from={src_stage}: no such stage"
                    # Made by that stage's own RUN steps, not taken from the context.
                    assert any(src in run for run in prior["run"]), f"{src}: no RUN in {src_stage} makes it"
                    st["files"].add(base)
                    continue
                under = {f for f in context if f == src or f.startswith(src + "/")}
                assert under, f"COPY {src}: not in a fresh clone's files (git ls-files) or dockerignored"
                for f in under:
                    rel = f[len(src):].lstrip("/") if f != src else Path(f).name
                    if len(srcs) > 1 or dest.endswith("/"):
                        target = f"{base}/{Path(src).name}/{rel}" if f != src else f"{base}/{rel}"
                    else:
                        target = f"{base}/{rel}" if f != src else base
                    st["files"].add(target.lstrip("/"))
    return stages[-1]["files"], {"stages": stages, "final": stages[-1]}


def test_dockerfile_image_carries_what_campy_needs():
    files, facts = _image_files()
    final = facts["final"]
    assert final["workdir"] == "/app"
    # The package, the pages and the stylesheet, pyproject for the install.
    for needed in ("pyproject.toml", "README.md", "campy/__main__.py", "campy/web/app.py",
                   "templates/base.html", "templates/grid.html", "static/campy.css"):
        assert needed in files, f"{needed} is not in the image"
    # htmx is not in git: it comes from a build stage, at the Makefile's pinned version.
    assert "static/vendor/htmx.min.js" in files
    make = (REPO / "Makefile").read_text()
    htmx_stage = next(s for s in facts["stages"] if s["name"] == "htmx")
    for key in ("HTMX_VERSION", "HTMX_SHA256"):
        pinned = re.search(rf"^{key}\s*:=\s*(\S+)", make, re.M).group(1)
        assert f"ARG {key}={pinned}" in DOCKERFILE.read_text(), f"Dockerfile's {key} differs from the Makefile's"
    assert any("sha256sum -c" in run for run in htmx_stage["run"])
    # Every tracked file of the package ships (the detector model too, once it is in campy/).
    tracked = subprocess.run(["git", "ls-files", "campy", "templates", "static"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    missing = [f for f in tracked if f not in files and "__pycache__" not in f]
    assert not missing, f"not in the image: {missing}"
    # Secrets and local state never.
    assert not [f for f in files if f.startswith(("config/", "data/", ".venv/")) or f.endswith("secrets.yaml")]
    # Never the demo, a healthcheck, ffmpeg.
    assert final["env"].get("CAMPY_NO_DEMO") == "1" and "--no-demo" in final["cmd"]
    assert final["healthcheck"] and "healthcheck" in final["healthcheck"]
    assert any("ffmpeg" in run for run in final["run"])
    assert any("pip install" in run and "-e ." in run for run in final["run"])


def test_shipped_configs_run_as_compose_wires_them(tmp_path):
    """Without Docker: go2rtc from config/go2rtc.compose.yaml (ports moved to free loopback
    ones) and `campy serve` on the shipped config/campy.yaml with the compose environment.
    CamPy starts with no cameras (not the demo), spawns no go2rtc of its own, and a camera
    added through the API lands in campy.yaml and in the external go2rtc."""
    import httpx

    from campy.go2rtc import find_binary
    from tests.helpers import CampyProcess, api, free_port, wait_until

    a, r, w = free_port(), free_port(), free_port()
    g2r_text = (REPO / "config" / "go2rtc.compose.yaml").read_text()
    for old, new in ((':1984"', f'127.0.0.1:{a}"'), (':8554"', f'127.0.0.1:{r}"'), (':8555"', f'127.0.0.1:{w}"')):
        assert old in g2r_text
        g2r_text = g2r_text.replace(f'"{old}', f'"{new}')
    (tmp_path / "go2rtc.yaml").write_text(g2r_text)
    creds = {"GO2RTC_API_USER": "campy", "GO2RTC_API_PASS": "compose-test-pass"}
    g = subprocess.Popen([str(find_binary()), "-c", "/dev/null", "-c", str(tmp_path / "go2rtc.yaml")],
                         env={"PATH": "/usr/bin:/bin", **creds},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    auth = ("campy", "compose-test-pass")
    campy = None
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{a}/api", auth=auth).status_code == 200,
                   timeout=15, what="go2rtc from go2rtc.compose.yaml")
        assert httpx.get(f"http://127.0.0.1:{a}/api").status_code == 401  # local_auth
        (tmp_path / "config").mkdir()
        config = tmp_path / "config" / "campy.yaml"
        config.write_text((REPO / "config" / "campy.yaml").read_text())
        env = {"CAMPY_GO2RTC_URL": f"http://127.0.0.1:{a}", "CAMPY_GO2RTC_RTSP_PORT": str(r),
               "CAMPY_GO2RTC_USERNAME": auth[0], "CAMPY_GO2RTC_PASSWORD": auth[1], "CAMPY_NO_DEMO": "1"}
        port = free_port()
        campy = CampyProcess(config, port, env=env)
        assert campy.go2rtc() is None, "CamPy started a go2rtc of its own"
        c = campy.client()
        assert c.get("/api/cameras").json() == []
        res = api(c, "POST", "/api/cameras", json={"name": "porch", "main": "rtsp://127.0.0.1:9/porch"})
        assert res.status_code == 201, res.text
        assert "porch:" in config.read_text() and "# CamPy configuration" in config.read_text()

        def in_go2rtc() -> bool:
            streams = httpx.get(f"http://127.0.0.1:{a}/api/streams", auth=auth).json() or {}
            return any(name.startswith("porch") for name in streams)

        wait_until(in_go2rtc, timeout=30, what="the new camera's stream in the external go2rtc")
    finally:
        if campy is not None:
            campy.stop()
        g.terminate()
        g.wait(10)
