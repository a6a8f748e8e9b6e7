"""The access matrix: every registered route, as every kind of principal, against a granted
and an ungranted camera.

Routes are discovered from the app object (HTTP methods, HEAD included, and the WebSocket);
only the expected outcome is data here (``RULES``). A route without a rule fails the test,
so a new route forces a decision about who may use it.

Principals: anonymous; viewer and operator granted ``front`` only; admin; and an API token
of each role (the tokens of viewer and operator granted ``front`` only). ``front`` is cam1,
``back`` is cam2. Expected classes:

* allowed: 2xx, a 3xx that is not to the login form, or 400/409/422/429 whose message is
  about the input (never about who is asking);
* refused: 401/403, a redirect to the login form, or 404 for an ungranted camera (exactly
  404 when the role would do: ungranted looks like missing);
* the WebSocket: go2rtc's first answer arrives (allowed) or the socket is refused/closed.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client as wsclient

from tests.helpers import ADMIN_PASSWORD, CampyProcess, free_port, login, wait_until, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries

CAM1, CAM2 = "front", "back"
RANK = {"viewer": 1, "operator": 2, "admin": 3}
TOKEN_PREFIXES = ("/api/", "/live/", "/metrics")


@dataclass(frozen=True)
class Rule:
    """Who may use a route. ``role`` is the least role, or a credential that is not a login:
    "public" (anyone), "signed" (a signed link's signature), "embed" (an embed token); those
    rows run once without and once with the credential. ``scope`` says what the route is
    about (a camera in the path, an event, an export job). ``mutates`` names what the route
    changes or removes (camera, user, token, embed): rows allowed to do it get a throwaway one."""

    role: str
    scope: str | None = None
    mutates: str | None = None


CREDENTIALS = ("signed", "embed")


VW, OP, AD = "viewer", "operator", "admin"
RULES: dict[str, Rule] = {
    "GET /healthz": Rule("public"),
    "GET /metrics": Rule("metrics"),  # an admin, or a token of role metrics (which may use nothing else)
    "GET /login": Rule("public"),
    "POST /login": Rule("public"),
    "POST /logout": Rule(VW),
    "GET /": Rule(VW),
    "GET /cameras/new": Rule(AD),
    "POST /cameras": Rule(AD),
    "POST /cameras/new/fill": Rule(AD),
    "POST /cameras/new/test": Rule(AD),
    "GET /cameras/{name:str}": Rule(VW, "camera"),
    "GET /cameras/{name:str}/badge": Rule(VW, "camera"),
    "GET /cameras/{name:str}/edit": Rule(AD, "camera"),
    "POST /cameras/{name:str}/edit": Rule(AD, "camera", mutates="camera"),
    "POST /cameras/{name:str}/delete": Rule(AD, "camera", mutates="camera"),
    "GET /system": Rule(AD),
    "GET /system/logs": Rule(AD),
    "GET /api/system/logs": Rule(AD),
    "GET /api/cameras": Rule(VW),
    "POST /api/cameras": Rule(AD),
    "GET /api/cameras/{name:str}": Rule(VW, "camera"),
    "PUT /api/cameras/{name:str}": Rule(AD, "camera", mutates="camera"),
    "DELETE /api/cameras/{name:str}": Rule(AD, "camera", mutates="camera"),
    "GET /api/status": Rule(VW),
    "GET /live/player/{file:str}": Rule("public"),  # go2rtc's player code: no secret in it
    "WS /live/ws": Rule(VW, "camera"),
    "GET /api/cameras/{name:str}/embeds": Rule(AD, "camera"),
    "POST /api/cameras/{name:str}/embeds": Rule(AD, "camera"),
    "DELETE /api/cameras/{name:str}/embeds/{embed_id:str}": Rule(AD, "camera", mutates="embed"),
    "GET /cameras/{name:str}/embeds": Rule(AD, "camera"),
    "POST /cameras/{name:str}/embeds": Rule(AD, "camera"),
    "POST /cameras/{name:str}/embeds/{embed_id:str}/revoke": Rule(AD, "camera", mutates="embed"),
    "GET /embed/assets/{file:str}": Rule("public"),
    "GET /embed/{embed_id:str}": Rule("embed"),
    "WS /live/embed/ws": Rule("embed"),
    "GET /api/users": Rule(AD),
    "POST /api/users": Rule(AD),
    "PATCH /api/users/{username:str}": Rule(AD, mutates="user"),
    "DELETE /api/users/{username:str}": Rule(AD, mutates="user"),
    "POST /api/users/{username:str}/end-sessions": Rule(AD, mutates="user"),
    "GET /users": Rule(AD),
    "POST /users": Rule(AD),
    "GET /users/new": Rule(AD),
    "GET /users/{username:str}/edit": Rule(AD),
    "POST /users/{username:str}/edit": Rule(AD, mutates="user"),
    "POST /users/{username:str}/password": Rule(AD, mutates="user"),
    "POST /users/{username:str}/disable": Rule(AD, mutates="user"),
    "POST /users/{username:str}/enable": Rule(AD, mutates="user"),
    "POST /users/{username:str}/end-sessions": Rule(AD, mutates="user"),
    "POST /users/{username:str}/delete": Rule(AD, mutates="user"),
    "GET /account": Rule(VW),
    "POST /account": Rule(VW),
    "GET /api/audit": Rule(AD),
    "GET /audit": Rule(AD),
    "GET /api/notifications": Rule(AD),
    "POST /api/notifications/{nid:int}/ack": Rule(AD),
    "GET /notifications": Rule(AD),
    "POST /notifications/{nid:int}/ack": Rule(AD),
    "GET /notifications/badge": Rule(AD),
    "GET /api/tokens": Rule(AD),
    "POST /api/tokens": Rule(AD),
    "DELETE /api/tokens/{token_id:str}": Rule(AD, mutates="token"),
    "GET /tokens": Rule(AD),
    "POST /tokens": Rule(AD),
    "POST /tokens/{token_id:str}/revoke": Rule(AD, mutates="token"),
    "GET /signed/events/{event_id:int}/snapshot.jpg": Rule("signed", "event"),
    "HEAD /signed/events/{event_id:int}/snapshot.jpg": Rule("signed", "event"),
    "GET /signed/events/{event_id:int}/clip.mp4": Rule("signed", "event"),
    "HEAD /signed/events/{event_id:int}/clip.mp4": Rule("signed", "event"),
    "POST /api/cameras/{name:str}/marks": Rule(OP, "camera"),
    "POST /api/cameras/{name:str}/exports": Rule(OP, "camera"),
    "GET /api/cameras/{name:str}/export.mp4": Rule(OP, "camera"),
    "GET /api/exports/{job_id:str}": Rule(OP, "export"),
    "GET /api/exports/{job_id:str}/download": Rule(OP, "export"),
    "HEAD /api/exports/{job_id:str}/download": Rule(OP, "export"),
    "GET /api/cameras/{name:str}/play.mp4": Rule(VW, "camera"),
    "GET /api/cameras/{name:str}/playback": Rule(VW, "camera"),
    "GET /api/cameras/{name:str}/recordings": Rule(VW, "camera"),
    "GET /api/cameras/{name:str}/timeline": Rule(VW, "camera"),
    "GET /api/cameras/{name:str}/segments/{seg_id:int}/video.mp4": Rule(VW, "camera"),
    "HEAD /api/cameras/{name:str}/segments/{seg_id:int}/video.mp4": Rule(VW, "camera"),
    "POST /api/recording/retention": Rule(AD),
    "GET /api/storage": Rule(VW),
    "GET /api/system/jobs": Rule(AD),
    "POST /api/system/jobs/run": Rule(AD),
    "GET /api/system/looplag": Rule(AD),
    "GET /api/system/processes": Rule(AD),
    "POST /system/jobs/run": Rule(AD),
    "GET /cameras/{name:str}/recordings": Rule(VW, "camera"),
    "POST /cameras/{name:str}/exports": Rule(OP, "camera"),
    "POST /cameras/{name:str}/marks": Rule(OP, "camera"),
    "GET /exports/{job_id:str}": Rule(OP, "export"),
    "GET /storage": Rule(VW),
    "GET /api/detection/status": Rule(VW),
    "GET /api/detection/service": Rule(AD),
    "GET /api/events": Rule(VW),
    "GET /api/events/{event_id:int}": Rule(VW, "event"),
    "GET /api/events/{event_id:int}/snapshot.jpg": Rule(VW, "event"),
    "POST /api/events/{event_id:int}/ack": Rule(OP, "event"),
    "GET /api/events/stream": Rule(VW),
    "GET /events": Rule(VW),
    "POST /events/{event_id:int}/ack": Rule(OP, "event"),
    "GET /cameras/{name:str}/detection": Rule(VW, "camera"),
    "GET /cameras/{name:str}/zones": Rule(AD, "camera"),
    "POST /cameras/{name:str}/zones": Rule(AD, "camera", mutates="camera"),
    "POST /cameras/{name:str}/zones/{zone:str}/delete": Rule(AD, "camera", mutates="camera"),
    "GET /cameras/{name:str}/detect-frame.jpg": Rule(AD, "camera"),
    "GET /cameras/{name:str}/latest.jpg": Rule(VW, "camera"),
    "GET /cameras/{name:str}/settings": Rule(AD, "camera"),
    "POST /cameras/{name:str}/settings": Rule(AD, "camera", mutates="camera"),
    "POST /cameras/{name:str}/masks": Rule(AD, "camera", mutates="camera"),
    "POST /cameras/{name:str}/masks/{index:int}/delete": Rule(AD, "camera", mutates="camera"),
    "GET /alerts/settings": Rule(AD),
    "POST /alerts/webhooks": Rule(AD),
    "POST /alerts/webhooks/{hook:str}/delete": Rule(AD),
    "POST /alerts/webhooks/{hook:str}/test": Rule(AD),
    "POST /alerts/mqtt": Rule(AD),
    "POST /alerts/mqtt/delete": Rule(AD),
    "POST /alerts/mqtt/test": Rule(AD),
    "POST /alerts/rules": Rule(AD),
    "POST /alerts/rules/{rule:str}/delete": Rule(AD),
    "GET /static/{file_path:path}": Rule("public"),  # stylesheet, scripts, htmx: nothing secret
    "HEAD /static/{file_path:path}": Rule("public"),
    "GET /api/schema": Rule(VW),
    "GET /api/schema/openapi.json": Rule(VW),
    "GET /api/schema/{path:str}": Rule("nothing"),  # Litestar's other schema pages: 404 to everyone
}


def rule_for(method: str, path: str) -> Rule | None:
    return RULES.get(f"{method} {path}")


def registered_routes(config_path) -> list[tuple[str, str, bool]]:
    """(method, path pattern, head_registered) for every HTTP method and ("WS", path) from the app."""
    from litestar.routes import HTTPRoute, WebSocketRoute

    from campy.runtime import Runtime
    from campy.web.app import create_app

    app = create_app(Runtime(config_path), manage_runtime=False)
    out = []
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            out.append(("WS", route.path, False))
        elif isinstance(route, HTTPRoute):
            methods = route.methods - {"OPTIONS"}
            for method in sorted(methods):
                out.append((method, route.path, "HEAD" in methods))
            if "GET" in methods and "HEAD" not in methods:
                out.append(("HEAD", route.path, False))  # not served, but must be authenticated
    return out


@dataclass
class Principal:
    name: str
    role: str | None  # None: anonymous
    cameras: frozenset[str] | None = None
    token: str | None = None
    token_id: str | None = None
    username: str | None = None
    password: str | None = None
    client: httpx.Client | None = None

    def can_view(self, cam: str) -> bool:
        return self.role == "admin" or self.cameras is None or cam in self.cameras

    @property
    def owner(self) -> str | None:
        """How export jobs name this principal (a token by its id)."""
        return f"token:{self.token_id}" if self.token_id else self.username


@dataclass
class World:
    campy: CampyProcess
    principals: dict[str, Principal]
    segs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, tuple[str, str]] = field(default_factory=dict)  # camera → (job id, owner)
    streams: dict[str, str] = field(default_factory=dict)
    embed: tuple[str, str] = ("", "")  # an embed of cam1: (id, token)
    signer: Any = None
    throwaways: int = 0
    ack_event: int = 0


USERS = {"viewer": ("vic", "viewer-password-1"), "operator": ("otto", "operator-password-1")}
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
EMBEDDER = "http://embedder.example"
EVENT_LEAD_MS = 20_000  # seeded events start this long after seeding, so their footage gets recorded


def _seed(data_dir, principals: dict[str, Principal]) -> int:
    """Users, tokens, one event per camera (with a snapshot) and a detection frame, written
    to the data dir's database before CamPy starts; returns when the events end (ms)."""
    from campy.db.database import open_db
    from campy.db.tokens import TokenStore
    from campy.db.users import UserStore
    from campy.detection.eventlog import EventLog

    db = open_db(data_dir / "campy.db")
    try:
        users, tokens, events = UserStore(db), TokenStore(db), EventLog(db)
        grant = [CAM1]
        for role, (username, password) in USERS.items():
            users.create(username=username, password=password, role=role, cameras=grant)
            principals[role] = Principal(role, role, frozenset(grant), username=username, password=password)
        for role in ("viewer", "operator", "admin", "metrics"):
            cams = None if role in ("admin", "metrics") else grant
            token_id, raw = tokens.create(name=f"{role} script", role=role, created_by="admin", cameras=cams)
            principals[f"{role}-token"] = Principal(f"{role}-token", role, None if cams is None else frozenset(cams),
                                                    token=raw, token_id=token_id)
        now = int(time.time() * 1000)
        start, end = now + EVENT_LEAD_MS, now + EVENT_LEAD_MS + 2_000
        for cam, label in ((CAM1, "person"), (CAM2, "car")):
            snaps = data_dir / "snapshots" / cam
            snaps.mkdir(parents=True, exist_ok=True)
            (snaps / "seed.jpg").write_bytes(JPEG)
            (snaps / "latest.jpg").write_bytes(JPEG)
            events.start(camera=cam, key=f"seed-{cam}", label=label, score=0.9, start_ms=start,
                         zones=[], box=[0, 0, 10, 10], snapshot="seed.jpg", mark_id=None)
            events.update(f"seed-{cam}", end_ms=end)
        # An event of cam1 for the acknowledgement test alone (the matrix acknowledges the others).
        events.start(camera=CAM1, key="seed-ack", label="dog", score=0.8, start_ms=now - 120_000, zones=[],
                     box=[0, 0, 10, 10], snapshot=None, mark_id=None)
        events.update("seed-ack", end_ms=now - 110_000)
        return end
    finally:
        db.close()


@pytest.fixture(scope="module")
def world(sims, tmp_path_factory):
    from campy.alerts.links import LinkSigner

    d = tmp_path_factory.mktemp("matrix")
    port = free_port()
    entries = camera_entries(sims)
    for e in entries:
        front = e["name"] == CAM1
        e["detect"] = {"fps": 1, "labels": ["person" if front else "car"],
                       "zones": {("porch" if front else "yard"): [[0, 0], [100, 0], [100, 100]]}}
    # Motion only: the events here are seeded, so the shipped object detector stays off.
    cfg = write_config(d / "campy.yaml", entries, port=port, password_secret=CAM_PASSWORD,
                       recording={"segment_seconds": 2, "min_free": "null"},
                       extra_top="detection: {detector: {model: null}}\n")
    principals: dict[str, Principal] = {"anonymous": Principal("anonymous", None)}
    events_end = _seed(cfg.parent / "data", principals)
    principals["admin"] = Principal("admin", "admin", None, username="admin", password=ADMIN_PASSWORD)
    proc = CampyProcess(cfg, port)
    try:
        w = World(proc, principals, signer=LinkSigner(cfg.parent / "data"))
        for p in principals.values():
            p.client = _client(w, p)
        admin = principals["admin"].client
        assert admin is not None
        for cam in (CAM1, CAM2):
            # Recorded past the seeded events and their post-roll, so their clips can be cut.
            segs = wait_until(lambda c=cam: (s := admin.get(f"/api/cameras/{c}/recordings").json())
                              and s[-1]["end_ms"] > events_end + 6_000 and s,
                              timeout=120, what=f"footage of {cam} past the seeded events")
            w.segs[cam] = segs[0]
            evs = admin.get("/api/events", params={"camera": cam}).json()
            w.events[cam] = next(e["id"] for e in evs if e["label"] != "dog")
            w.ack_event = next((e["id"] for e in evs if e["label"] == "dog"), w.ack_event)
            w.streams[cam] = admin.get(f"/api/cameras/{cam}").json()["streams"]["sub"]
        r = _call(w, principals["admin"], "POST", f"/api/cameras/{CAM1}/embeds", json={"origins": [EMBEDDER]})
        assert r.status_code == 201, r.text
        w.embed = (r.json()["id"], r.json()["token"])
        # An export of cam1 made by the operator, one of cam2 made by the admin.
        for cam, maker in ((CAM1, "operator"), (CAM2, "admin")):
            seg = w.segs[cam]
            r = _call(w, principals[maker], "POST", f"/api/cameras/{cam}/exports",
                      json={"start_ms": seg["start_ms"], "end_ms": seg["end_ms"]})
            assert r.status_code == 202, r.text
            job = r.json()["id"]
            wait_until(lambda j=job: admin.get(f"/api/exports/{j}").json()["state"] == "done", timeout=60,
                       what=f"export of {cam}")
            w.jobs[cam] = (job, principals[maker].owner or "")
        yield w
    finally:
        for p in principals.values():
            if p.client:
                p.client.close()
        left = proc.stop()
        assert not left, f"processes left behind: {left}"


def _client(w: World, p: Principal) -> httpx.Client:
    c = httpx.Client(base_url=w.campy.base_url, timeout=60, follow_redirects=False)
    if p.token:
        c.headers["Authorization"] = f"Bearer {p.token}"
    elif p.username:
        login(c, p.username, p.password or "")
    else:
        c.get("/login")  # a CSRF cookie, so anonymous refusals are about the session
    return c


def _call(w: World, p: Principal, method: str, url: str, *, client: httpx.Client | None = None,
          **kw: Any) -> httpx.Response:
    c = client or p.client
    assert c is not None
    headers = kw.pop("headers", {})
    if "csrftoken" in c.cookies and not p.token:
        headers["x-csrftoken"] = c.cookies["csrftoken"]
    return c.request(method, url, headers=headers, **kw)


def _throwaway(w: World, kind: str, cam: str | None) -> str:
    """A camera, user, token or embed made for one row that changes or removes it."""
    w.throwaways += 1
    n = w.throwaways
    admin = w.principals["admin"]
    if kind == "camera":
        r = _call(w, admin, "POST", "/api/cameras",
                  json={"name": f"tmp{n}", "main": "rtsp://127.0.0.1:9/tmp", "enabled": False})
        key = "name"
    elif kind == "user":
        r = _call(w, admin, "POST", "/api/users", json={"username": f"tmpuser{n}", "password": "throwaway-pw-1",
                                                        "role": "viewer", "cameras": [CAM1]})
        key = "username"
    elif kind == "token":
        r = _call(w, admin, "POST", "/api/tokens", json={"name": f"tmp{n}", "role": "viewer"})
        key = "id"
    else:
        r = _call(w, admin, "POST", f"/api/cameras/{cam}/embeds", json={"origins": [EMBEDDER]})
        key = "id"
    assert r.status_code == 201, r.text
    return str(r.json()[key])


def _fill(w: World, path: str, cam: str | None, made: dict[str, str]) -> str:
    """The concrete URL: every path parameter gets a real value for ``cam`` (``made``: the
    throwaway this row works on)."""
    values = {"file": "video-stream.js", "file_path": "campy.css", "path": "swagger", "zone": "porch",
              "index": "1", "hook": "nosuch", "rule": "nosuch",
              "username": USERS["viewer"][0], "token_id": w.principals["viewer-token"].token_id or "",
              "embed_id": w.embed[0], "nid": "1"}
    if path.startswith("/embed/assets/"):
        values["file"] = "embed.js"

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in made:
            return made[key]
        if key == "name":
            assert cam is not None
            return cam
        if key == "seg_id":
            return str(w.segs[cam]["id"]) if cam in w.segs else "1"
        if key == "event_id":
            return str(w.events[cam])
        if key == "job_id":
            return w.jobs[cam][0]
        assert key in values, f"no value for path parameter {key!r} of {path}: add one to _fill"
        return values[key]

    return re.sub(r"\{(\w+)(?::\w+)?\}", sub, path)


def _request_args(w: World, p: Principal, method: str, path: str, cam: str | None,
                  made: dict[str, str]) -> dict[str, Any]:
    """A realistic request, so that "allowed" is really exercised."""
    seg = w.segs.get(cam or "", {})
    rng = {"start_ms": seg.get("start_ms"), "end_ms": seg.get("end_ms")}
    n = free_port()
    new_cam = {"name": f"new{n}", "main": "rtsp://127.0.0.1:9/new", "enabled": False}
    table: dict[str, dict[str, Any]] = {
        "POST /cameras": {"data": {k: v for k, v in new_cam.items() if k != "enabled"}},
        "POST /api/cameras": {"json": new_cam},
        "PUT /api/cameras/{name:str}": {"json": {"name": made.get("name", cam), "main": "rtsp://127.0.0.1:9/edited",
                                                 "enabled": False}},
        "POST /cameras/{name:str}/edit": {"data": {"main": "rtsp://127.0.0.1:9/edited"}},
        "POST /cameras/{name:str}/zones": {"data": {"zone": "lawn", "points": "[[0,0],[50,0],[50,50]]"}},
        "POST /cameras/{name:str}/settings": {"data": {"section": "record", "enabled": "on", "mode": "events",
                                                       "days": "3"}},
        "POST /cameras/{name:str}/masks": {"data": {"points": "[[0,0],[50,0],[50,50]]"}},
        # Input errors by design (no such mask, webhook or rule; no MQTT broker typed): allowed past
        # authorisation, refused as input, nothing of the shared world changes.
        "POST /alerts/webhooks": {"data": {"name": "matrix", "url": "ftp://not-http"}},
        "POST /alerts/mqtt": {"data": {"host": ""}},
        "POST /alerts/rules": {"data": {"name": "matrix", "cameras": "nosuch"}},
        "POST /api/cameras/{name:str}/marks": {"json": {"seconds": 5}},
        "POST /cameras/{name:str}/marks": {"data": {"seconds": "5"}},
        "POST /api/cameras/{name:str}/exports": {"json": rng},
        "POST /cameras/{name:str}/exports": {"data": {k: str(v) for k, v in rng.items()}},
        "GET /api/cameras/{name:str}/export.mp4": {"params": {"start": rng["start_ms"], "end": rng["end_ms"]}},
        "GET /api/cameras/{name:str}/play.mp4": {"params": {"start": rng["start_ms"]}},
        "GET /api/cameras/{name:str}/playback": {"params": {"start": rng["start_ms"]}},
        "POST /api/cameras/{name:str}/embeds": {"json": {"origins": [EMBEDDER]}},
        "POST /cameras/{name:str}/embeds": {"data": {"origins": EMBEDDER, "expiry": "never"}},
        "POST /api/users": {"json": {"username": f"new{n}", "password": "matrix-password-1", "role": "viewer",
                                     "cameras": [CAM1]}},
        "POST /users": {"data": {"username": f"new{n}", "password": "matrix-password-1", "role": "viewer",
                                 "grant": "all"}},
        "PATCH /api/users/{username:str}": {"json": {"role": "operator"}},
        "POST /users/{username:str}/edit": {"data": {"role": "viewer", "grant": "all"}},
        "POST /users/{username:str}/password": {"data": {"password": "changed-pw-12", "password2": "changed-pw-12"}},
        # The right current password and two different new ones: checked past authorisation,
        # refused as input, and nobody's password changes.
        "POST /account": {"data": {"current": p.password or "", "password": "new-password-1",
                                   "password2": "new-password-2"}},
        "POST /api/tokens": {"json": {"name": "matrix", "role": "viewer", "cameras": [CAM1]}},
        "POST /tokens": {"data": {"name": "matrix", "role": "viewer", "cameras": CAM1}},
        "POST /api/system/jobs/run": {"json": {"id": "purge-expired"}},
        "POST /system/jobs/run": {"data": {"id": "purge-expired"}},
    }
    return dict(table.get(f"{method} {path}", {}))


def expected(p: Principal, method: str, path: str, rule: Rule, cam: str | None, owner: str | None,
             cred: bool) -> str:
    if rule.role in CREDENTIALS:  # the link's signature or the embed token decides, not who asks
        return "allowed" if cred else "refused"
    if rule.role == "public":
        return "allowed"
    if p.role is None or (p.token and not path.startswith(TOKEN_PREFIXES)):
        return "refused"
    if p.role == "metrics" or rule.role == "metrics":  # a metrics token: /metrics and nothing else
        return "allowed" if p.role in ("metrics", "admin") and rule.role == "metrics" else "refused"
    if rule.role == "nothing":
        return "not-found"
    if RANK[p.role] < RANK[rule.role]:
        return "refused"
    if cam is not None and not p.can_view(cam):
        return "not-found"
    if rule.scope == "export" and p.role != "admin" and p.owner != owner:
        return "not-found"
    return "allowed"


# What refusals by identity say (campy/web/auth.py, campy/web/errors.py): never the reason
# for a 4xx that was "allowed past authorisation".
AUTH_PHRASES = ("log in first", "authentication required", "only an admin may", "only an operator",
                "api tokens work on", "unknown, expired or revoked", "may not view")
ADMIN_ONLY_TEXT = (CAM_PASSWORD, quote(CAM_PASSWORD, safe=""), "rtsp://")


def _check_text(p: Principal, label: str, r: httpx.Response, body: bytes) -> None:
    kind = r.headers.get("content-type", "")
    if p.role == "admin" or not any(t in kind for t in ("text/html", "json", "text/plain", "event-stream")):
        return
    text = body.decode(errors="replace")
    for secret in ADMIN_ONLY_TEXT:
        assert secret not in text, f"{label}: the answer to a {p.role} contains {secret!r}"


def _classify(label: str, r: httpx.Response, body: bytes, want: str, *, head_unserved: bool,
              unauthenticated: bool, ungranted: bool) -> None:
    code, text = r.status_code, body.decode(errors="replace")
    to_login = code in (302, 303) and r.headers.get("location", "").startswith("/login")
    assert code < 500, f"{label}: {code} {text[:300]}"
    if head_unserved:
        # HEAD on a GET-only route is never served, whoever asks: Litestar answers 405 once it
        # has matched the path, before authentication (the same for any camera name).
        assert code in (401, 403, 404, 405) or to_login, f"{label}: HEAD not registered yet answered {code}"
        return
    if unauthenticated:  # no session, or a token off its paths: the middleware refuses
        assert code == 401 or to_login, f"{label}: should be refused as unauthenticated, got {code}"
        return
    if want == "allowed":
        assert code not in (401, 403, 404) and not to_login, f"{label}: should be allowed, got {code} {text[:300]}"
        if code >= 400:
            assert code in (400, 409, 422, 429), f"{label}: {code} {text[:300]}"
            assert not any(ph in text.lower() for ph in AUTH_PHRASES), f"{label}: refused by who, not what: {text}"
    elif want == "not-found":
        assert code == 404, f"{label}: should be 404 (an ungranted camera answers like a missing one), got {code}"
    else:
        # The app-wide camera guard runs before role guards: an ungranted camera is a 404 there.
        assert code in (401, 403) or to_login or (ungranted and code == 404), \
            f"{label}: should be refused, got {code} {text[:300]}"


Row = tuple[str, str, Rule, str | None, bool, bool]  # method, path, rule, camera, HEAD unserved, credential


def _rows(w: World) -> list[Row]:
    rows: list[Row] = []
    missing = []
    for method, path, head_registered in registered_routes(w.campy.config):
        rule = rule_for("GET" if method == "HEAD" and not head_registered else method, path)
        if rule is None:
            missing.append(f"{method} {path}")
            continue
        cams: list[str | None] = [CAM1, CAM2] if rule.scope else [None]
        creds = [False, True] if rule.role in CREDENTIALS else [False]
        for cam in cams:
            for cred in creds:
                rows.append((method, path, rule, cam, method == "HEAD" and not head_registered, cred))
    assert not missing, f"routes without a rule in RULES (decide who may use them): {missing}"
    # Routes that change or remove things run last.
    return sorted(rows, key=lambda row: row[2].mutates is not None)


def _run_http(w: World, p: Principal, row: Row) -> None:
    method, path, rule, cam, head_unserved, cred = row
    owner = w.jobs[cam][1] if rule.scope == "export" and cam else None
    want = expected(p, method, path, rule, cam, owner, cred)
    made: dict[str, str] = {}
    if rule.mutates and want == "allowed":  # never change or remove what other rows use
        param = {"camera": "name", "user": "username", "token": "token_id", "embed": "embed_id"}[rule.mutates]
        made[param] = _throwaway(w, rule.mutates, cam)
    url = _fill(w, path, cam, made)
    kw = _request_args(w, p, method, path, cam, made)
    if cred and rule.role == "signed":
        url = w.signer.sign(url)[0]
    elif cred and rule.role == "embed":
        kw["params"] = {"token": w.embed[1]}
    label = f"{p.name} {method} {url}{' (with its credential)' if cred else ''}"
    client = None
    if path in ("/login", "/logout") and method == "POST":
        client = httpx.Client(base_url=w.campy.base_url, timeout=30, follow_redirects=False)
        if p.token:
            client.headers["Authorization"] = f"Bearer {p.token}"
        if path == "/logout" and p.username and not p.token:
            login(client, p.username, p.password or "")
        else:
            client.get("/login")
        if path == "/login":
            user, pw = (p.username, p.password) if p.password else USERS["viewer"]
            kw = {"data": {"username": user, "password": pw, "_csrf_token": client.cookies.get("csrftoken", "")}}
    try:
        c = client or p.client
        assert c is not None
        headers = {}
        if "csrftoken" in c.cookies and not p.token:
            headers["x-csrftoken"] = c.cookies["csrftoken"]
        with c.stream(method, url, headers=headers, **kw) as r:
            if "event-stream" in r.headers.get("content-type", "") or path.endswith("play.mp4"):
                body = b""
                for chunk in r.iter_bytes():
                    body += chunk
                    if b"hello" in body or len(body) > 1000:
                        break
                if r.status_code == 200 and "event-stream" in r.headers.get("content-type", ""):
                    assert b"hello" in body, f"{label}: no hello on the event stream"
            else:
                body = r.read()
        if path == "/logout" and want == "allowed":
            # Logging out sends you to the login form, and the session is over.
            assert r.status_code == 303 and r.headers["location"] == "/login", label
            assert c.get("/api/cameras").status_code == 401, f"{label}: the session still works"
            return
    finally:
        if client is not None:
            client.close()
    _log(f"{label} -> {r.status_code} ({'unserved' if head_unserved else want})")
    unauthenticated = rule.role not in ("public", *CREDENTIALS) and (
        p.role is None or (p.token is not None and not path.startswith(TOKEN_PREFIXES)))
    _classify(label, r, body, want, head_unserved=head_unserved, unauthenticated=unauthenticated,
              ungranted=cam is not None and not p.can_view(cam) and rule.role not in CREDENTIALS)
    _check_text(p, label, r, body)


def _log(line: str) -> None:
    """With CAMPY_MATRIX_LOG=<file>, every row and its answer (to read the matrix)."""
    if os.environ.get("CAMPY_MATRIX_LOG"):
        with open(os.environ["CAMPY_MATRIX_LOG"], "a") as f:
            f.write(line + "\n")


def _run_ws(w: World, p: Principal, row: Row) -> None:
    _, path, rule, cam, _, cred = row
    want = expected(p, "WS", path, rule, cam, None, cred)
    url = w.campy.base_url.replace("http", "ws") + path
    headers = {"Origin": w.campy.base_url}
    if rule.role == "embed":  # the embedding page's origin; the embed token, when the row has it
        headers = {"Origin": EMBEDDER}
        url += f"?token={w.embed[1]}" if cred else ""
    else:
        assert cam is not None
        url += f"?src={quote(w.streams[cam])}"
    if p.token:
        headers["Authorization"] = f"Bearer {p.token}"
    elif p.client is not None and "campy_session" in p.client.cookies:
        headers["Cookie"] = f"campy_session={p.client.cookies['campy_session']}"
    label = f"{p.name} WS {url}"
    _log(f"{label} ({want})")
    if want == "allowed":
        with wsclient.connect(url, additional_headers=headers, open_timeout=10) as conn:
            conn.send(json.dumps({"type": "mse", "value": "avc1.640029"}))
            reply = json.loads(conn.recv(timeout=20))
            assert reply["type"] == "mse", f"{label}: {reply}"
    else:
        with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
            with wsclient.connect(url, additional_headers=headers, open_timeout=10) as conn:
                conn.send(json.dumps({"type": "mse", "value": "avc1.640029"}))
                conn.recv(timeout=10)
                pytest.fail(f"{label}: go2rtc answered a principal who may not watch")


PRINCIPALS = ["anonymous", "viewer", "operator", "admin", "viewer-token", "operator-token", "admin-token",
              "metrics-token"]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_every_route_as(world, who):
    p = world.principals[who]
    for row in _rows(world):
        if row[0] == "WS":
            _run_ws(world, p, row)
        else:
            _run_http(world, p, row)


def test_every_rule_names_a_route_the_app_has(world):
    """A rule for a route that no longer exists is stale: the table must match the app."""
    routes = {f"{m} {p}" for m, p, _ in registered_routes(world.campy.config)}
    stale = [key for key in RULES if key not in routes]
    assert not stale, f"rules for routes the app does not have: {stale}"


def _names(html: str) -> set[str]:
    return set(re.findall(r'data-camera="([^"]+)"', html))


def test_lists_show_a_viewer_only_granted_cameras(world):
    v = world.principals["viewer"].client
    assert v is not None
    assert [c["name"] for c in v.get("/api/cameras").json()] == [CAM1]
    events = v.get("/api/events").json()
    assert {e["camera"] for e in events} == {CAM1}
    assert v.get("/api/events", params={"camera": CAM2}).status_code == 404
    status = wait_until(lambda: (s := v.get("/api/detection/status").json()) and s, timeout=30,
                        what="detection status")
    assert set(status) == {CAM1}
    storage = v.get("/api/storage").json()
    assert [c["camera"] for c in storage["cameras"]] == [CAM1]
    assert {g["camera"] for g in storage["gaps"]} <= {CAM1}
    assert "free_bytes" not in storage and "path" not in storage
    assert storage["used_bytes"] == storage["cameras"][0]["size_bytes"]
    for page in ("/", "/events", "/storage"):
        html = v.get(page).text
        assert _names(html) == {CAM1}, f"{page} shows {_names(html)}"
    events_page = v.get("/events").text
    assert "yard" not in events_page and ">car<" not in events_page  # cam2's zone and label
    assert f'value="{CAM2}"' not in events_page
    admin = world.principals["admin"].client
    assert admin is not None
    assert _names(admin.get("/").text) >= {CAM1, CAM2}


def test_an_ungranted_camera_answers_exactly_like_a_missing_one(world):
    v = world.principals["viewer"].client
    assert v is not None
    for path in ("/api/cameras/{}", "/api/cameras/{}/recordings", "/api/cameras/{}/timeline"):
        ungranted, missing = v.get(path.format(CAM2)), v.get(path.format("nosuch"))
        assert ungranted.status_code == missing.status_code == 404
        assert ungranted.text.replace(CAM2, "X") == missing.text.replace("nosuch", "X")


def test_viewers_see_no_export_mark_or_acknowledge_buttons(world):
    v, o = world.principals["viewer"].client, world.principals["operator"].client
    assert v is not None and o is not None
    rec_v, rec_o = v.get(f"/cameras/{CAM1}/recordings").text, o.get(f"/cameras/{CAM1}/recordings").text
    assert 'id="mark-now"' not in rec_v and 'class="export"' not in rec_v
    assert 'id="mark-now"' in rec_o and 'class="export"' in rec_o
    ev_v, ev_o = v.get("/events").text, o.get("/events").text
    assert "Acknowledge</button>" not in ev_v and "Download clip" not in ev_v
    assert "Download clip" in ev_o and "Acknowledge</button>" in ev_o  # the ack test's event is still open
    cam_o = o.get(f"/cameras/{CAM1}").text
    assert f"/cameras/{CAM1}/edit" not in cam_o and f"/cameras/{CAM1}/zones" not in cam_o
    assert 'id="embed-open"' not in cam_o
    for page in ("/", "/events", "/storage"):
        nav = o.get(page).text
        assert all(f'href="{p}"' not in nav for p in ("/users", "/tokens", "/audit", "/system", "/cameras/new"))


def test_acknowledging_an_event_records_who_and_when(world):
    o = world.principals["operator"]
    event_id = world.ack_event
    assert event_id
    r = _call(world, o, "POST", f"/api/events/{event_id}/ack")
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["acked_by"] == "otto" and first["acked_ms"]
    # A second acknowledgement (here by the admin) does not overwrite the first.
    again = _call(world, world.principals["admin"], "POST", f"/api/events/{event_id}/ack").json()
    assert (again["acked_by"], again["acked_ms"]) == ("otto", first["acked_ms"])
    page = world.principals["viewer"].client.get("/events").text  # type: ignore[union-attr]
    assert "acknowledged by otto" in page
