"""The API reference at ``/api/schema``: a server-rendered page from the OpenAPI document.

Litestar's own renderers (Swagger UI, ReDoc, Elements, RapiDoc, Scalar) load their scripts
from CDNs; CamPy's page loads none. ``/api/schema/openapi.json`` stays as it was; every other
``/api/schema/*`` path answers 404 (Litestar's not-found handler for schema paths).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.enums import MediaType
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.response import Template

METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


class Param(msgspec.Struct, frozen=True):
    name: str
    where: str
    required: bool
    type: str
    description: str


class Reply(msgspec.Struct, frozen=True):
    status: str
    description: str
    body: str


class Operation(msgspec.Struct, frozen=True):
    method: str
    path: str
    summary: str
    description: str
    params: list[Param]
    body: str
    replies: list[Reply]
    anchor: str


def schema_name(schema: dict[str, Any] | None) -> str:
    """A short name for a schema: the component name of a $ref, list[...] for arrays."""
    if not schema:
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return " | ".join(schema_name(s) for s in schema[key])
    kind = schema.get("type", "")
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if kind == "array":
        return f"list[{schema_name(schema.get('items'))}]"
    return str(kind or "object")


def _content_name(content: dict[str, Any] | None) -> str:
    if not content:
        return ""
    media, body = next(iter(content.items()))
    name = schema_name(body.get("schema"))
    return f"{name} ({media})" if name else media


def operations(doc: dict[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI document, sorted by path then method."""
    out: list[Operation] = []
    for path, item in sorted(doc.get("paths", {}).items()):
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [Param(name=p.get("name", ""), where=p.get("in", ""), required=bool(p.get("required")),
                            type=schema_name(p.get("schema")), description=p.get("description", ""))
                      for p in [*shared, *op.get("parameters", [])] if "name" in p]
            replies = [Reply(status=str(code), description=r.get("description", ""),
                             body=_content_name(r.get("content")))
                       for code, r in sorted(op.get("responses", {}).items())]
            out.append(Operation(
                method=method.upper(), path=path, summary=op.get("summary", ""),
                description=op.get("description", ""), params=params,
                body=_content_name((op.get("requestBody") or {}).get("content")), replies=replies,
                anchor=f"{method}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}"))
    return out


class CampyDocsPlugin(OpenAPIRenderPlugin):
    """Renders templates/api_docs.html (base.html, CamPy's stylesheet, no scripts of its own)."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        info = openapi_schema.get("info", {})
        ops = operations(openapi_schema)
        groups = [("JSON API", [o for o in ops if o.path.startswith("/api/")]),
                  ("Pages and forms (HTML)", [o for o in ops if not o.path.startswith("/api/")])]
        template = Template("api_docs.html", context={
            "ops": ops, "groups": groups, "title": info.get("title", "API"),
            "version": info.get("version", ""), "json_url": self.get_openapi_json_route(request)})
        engine = request.app.template_engine
        assert engine is not None
        html = engine.get_template("api_docs.html").render(**template.create_template_context(request))
        return str(html).encode()


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """``/api/schema`` → CamPy's page, ``/api/schema/openapi.json`` → the document."""
    return [CampyDocsPlugin(), JsonRenderPlugin()]
