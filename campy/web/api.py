"""JSON API under ``/api``: the same operations as the pages, one error shape."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, JSONBody

from campy.errors import NotFound
from campy.web.auth import current_user, require_admin, require_user
from campy.web.cameras import CameraIn, camera_view, create_camera, delete_camera, update_camera


class ApiController(Controller):
    path = "/api"
    guards = [require_user]

    @get("/cameras", sync_to_thread=False)
    def list_cameras(self, request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
        runtime = request.app.state.runtime
        user = current_user(request)
        return [camera_view(runtime, n, admin=user.is_admin) for n in runtime.config.cameras if user.can_view(n)]

    @get("/cameras/{name:str}", sync_to_thread=False)
    def get_camera(self, request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
        runtime = request.app.state.runtime
        if name not in runtime.config.cameras:
            raise NotFound(f"no camera {name!r}")
        return camera_view(runtime, name, admin=current_user(request).is_admin)

    @post("/cameras", guards=[require_admin], status_code=201)
    async def add_camera(self, request: Request[Any, Any, Any], data: JSONBody[CameraIn]) -> dict[str, Any]:
        runtime = request.app.state.runtime
        await create_camera(runtime, data, request=request)
        return camera_view(runtime, data.name, admin=True)

    @put("/cameras/{name:str}", guards=[require_admin])
    async def update_camera(self, request: Request[Any, Any, Any], name: FromPath[str],
                            data: JSONBody[CameraIn]) -> dict[str, Any]:
        runtime = request.app.state.runtime
        await update_camera(runtime, name, data, request=request)
        return camera_view(runtime, name, admin=True)

    @delete("/cameras/{name:str}", guards=[require_admin], status_code=204)
    async def delete_camera(self, request: Request[Any, Any, Any], name: FromPath[str]) -> None:
        await delete_camera(request.app.state.runtime, name, request=request)

    @get("/status", sync_to_thread=False)
    def status(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        runtime = request.app.state.runtime
        err = runtime.config_error
        out: dict[str, Any] = {
            "go2rtc": {"up": runtime.health.go2rtc_up,
                       "restarts": getattr(runtime.server, "restarts", 0)},
            "loop_lag": runtime.looplag.summary(),
        }
        # The config's issues name every camera (and may quote URLs): admins only.
        if current_user(request).is_admin:
            out["config_error"] = str(err) if err else None
        return out
