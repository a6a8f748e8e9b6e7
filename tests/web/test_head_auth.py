"""HEAD goes through the auth middleware like GET (it used to be skipped).

In-process (Litestar's TestClient, no go2rtc): the question is only what the middleware
and the guards decide.
"""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from tests.helpers import free_port, write_config


@pytest.fixture
def client(tmp_path):
    from campy.runtime import Runtime
    from campy.web.app import create_app

    cfg = write_config(tmp_path / "campy.yaml", [{"name": "cam1", "main": "rtsp://127.0.0.1:9/a"}],
                       port=free_port(), password_secret="unused-secret")
    runtime = Runtime(cfg)
    runtime.users.create(username="viewer1", password="viewer-password-1", role="viewer", cameras=["cam1"])
    with TestClient(create_app(runtime, manage_runtime=False)) as c:
        yield c


def _login(c: TestClient) -> None:
    c.get("/login")
    r = c.post("/login", data={"username": "viewer1", "password": "viewer-password-1", "next": "/",
                               "_csrf_token": c.cookies["csrftoken"]}, follow_redirects=False)
    assert r.status_code == 303


def test_head_is_authenticated_like_get(client):
    # Anonymous: refused by the middleware.
    r = client.head("/api/cameras/cam1/segments/1/video.mp4")
    assert r.status_code == 401
    _login(client)
    # Signed in: the middleware now identifies the user on HEAD too, so the request reaches
    # the handler (which has no such segment). Before, HEAD skipped the middleware and the
    # guard refused a signed-in user with 401. (Exports need an operator: a viewer's HEAD
    # on an export download is a 403 from the role guard.)
    r = client.head("/api/cameras/cam1/segments/1/video.mp4")
    assert r.status_code == 404
    assert client.head("/api/exports/nope/download").status_code == 403


def test_a_bearer_header_skips_csrf_only_where_tokens_work(client):
    """Outside /api and /live a bearer header is no reason to skip the CSRF check (the login
    form included): the request must carry the CSRF token like any form post."""
    r = client.post("/login", data={"username": "viewer1", "password": "viewer-password-1"},
                    headers={"Authorization": "Bearer campy_x_y"}, follow_redirects=False)
    assert r.status_code == 403 and "csrf" in r.text.lower()
