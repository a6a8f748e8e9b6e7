"""The alerts settings page (admins): webhooks, the MQTT broker and alert rules, written to
campy.yaml's ``alerts`` section, and "Send test" through the real delivery code.

The MQTT password goes to the secrets file (``!secret alerts_mqtt_password``) and is never
shown again; webhook header values (often tokens) are never shown either, only their names.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from campy.alerts.mqtt import MqttConfig
from campy.alerts.trial import BUDGET_S, send_test_mqtt, send_test_webhook
from campy.alerts.webhook import WebhookTarget
from campy.alerts.wiring import _resolve
from campy.config import ConfigError
from campy.config import edits
from campy.web.auditing import audit, changed
from campy.web.auth import require_admin
from campy.web.settings import field_errors, number


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        return parts.scheme, parts.hostname or "", parts.port
    except ValueError:
        return "", url, None


def _csv(text: Any) -> list[str]:
    return [t.strip() for t in str(text or "").split(",") if t.strip()]


def _headers(text: str) -> tuple[dict[str, str] | None, str | None]:
    """"Name: value" lines → headers; (None, None) for an empty box (keep the current ones)."""
    if not text.strip():
        return None, None
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            return None, f"'{line.strip()[:40]}' is not a header: write one 'Name: value' a line"
        out[name.strip()] = value.strip()
    return out, None


def _context(runtime: Any, *, errors: dict[str, dict[str, str]] | None = None, typed: dict[str, Any] | None = None,
             saved: str | None = None, webhook: str | None = None, rule: str | None = None,
             tests: dict[str, tuple[bool, str]] | None = None) -> dict[str, Any]:
    cfg = runtime.config
    a = cfg.alerts
    hooks = {n: {"url": w.url, "header_names": sorted(w.headers), "timeout_seconds": w.timeout_seconds,
                 "retries": w.retries} for n, w in a.webhooks.items()}
    rules = {n: {"cameras": list(r.cameras), "labels": list(r.labels), "zones": list(r.zones),
                 "cooldown_seconds": r.cooldown_seconds, "webhooks": list(r.webhooks), "mqtt": r.mqtt}
             for n, r in a.rules.items()}
    mqtt = None
    if a.mqtt is not None:
        mqtt = {"host": a.mqtt.host, "port": a.mqtt.port, "username": a.mqtt.username or "",
                "topic_prefix": a.mqtt.topic_prefix, "tls": a.mqtt.tls, "password_set": bool(a.mqtt.password)}
    typed = typed or {}
    hook_form = typed.get("webhook") or ({"name": webhook, **hooks[webhook], "headers": ""}
                                         if webhook in hooks else {"name": "", "url": "", "headers": "",
                                                                   "timeout_seconds": 5, "retries": 3})
    rule_form = typed.get("rule") or ({"name": rule, **rules[rule]} if rule in rules else
                                      {"name": "", "cameras": [], "labels": [], "zones": [], "cooldown_seconds": 60,
                                       "webhooks": [], "mqtt": True})
    mqtt_form = typed.get("mqtt") or mqtt or {"host": "", "port": 1883, "username": "", "topic_prefix": "campy",
                                              "tls": False}
    bridge = runtime.alerts
    status = bridge.dispatcher.stats if bridge is not None else None
    publisher = bridge.mqtt if bridge is not None else None
    return {"webhooks": hooks, "rules": rules, "mqtt": mqtt, "hook_form": hook_form, "rule_form": rule_form,
            "mqtt_form": mqtt_form, "editing_hook": webhook in hooks or bool(typed.get("webhook_existing")),
            "editing_rule": rule in rules or bool(typed.get("rule_existing")),
            "cameras": sorted(cfg.cameras), "errors": errors or {}, "saved": saved, "tests": tests or {},
            "status": status, "mqtt_state": publisher.state if publisher else None,
            "mqtt_error": publisher.error if publisher else None, "budget": int(BUDGET_S)}


def _page(request: HTMXRequest, ctx: dict[str, Any], failed: bool) -> Template:
    return Template("alert_settings.html", context=ctx, status_code=400 if failed and not request.htmx else 200)


class AlertSettingsPages(Controller):
    guards = [require_admin]

    @get("/alerts/settings", sync_to_thread=False)
    def alerts_page(self, request: HTMXRequest, webhook: FromQuery[str | None] = None,
                    rule: FromQuery[str | None] = None) -> Template:
        return Template("alert_settings.html",
                        context=_context(request.app.state.runtime, webhook=webhook, rule=rule))

    async def _apply(self, request: HTMXRequest, what: str, target: str, change: Any, *,
                     prefix: str, typed: dict[str, Any], detail: str | None = None) -> Template:
        runtime = request.app.state.runtime
        try:
            change()
        except ConfigError as err:
            ctx = _context(runtime, errors={what: field_errors(err, prefix)}, typed=typed)
            return _page(request, ctx, True)
        await audit(request, f"config.alerts.{what}", target=target, detail=detail)
        await runtime.reload_now()
        return _page(request, _context(runtime, saved=f"{what} {target}".strip()), False)

    @post("/alerts/webhooks", status_code=200)
    async def save_webhook(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        form = await request.form()
        name = str(form.get("name", "")).strip()
        existing = name in runtime.config.alerts.webhooks
        url = str(form.get("url", "")).strip()
        typed: dict[str, Any] = {"webhook": {"name": name, "url": url, "headers": "",
                             "header_names": sorted(runtime.config.alerts.webhooks[name].headers) if existing else [],
                             "timeout_seconds": form.get("timeout_seconds", ""), "retries": form.get("retries", "")},
                 "webhook_existing": existing}
        headers, problem = _headers(str(form.get("headers", "")))
        if str(form.get("clear_headers", "")) in ("on", "true", "1"):
            headers = {}
        errors: dict[str, str] = {}
        if not name:
            errors["name"] = "alerts.webhooks: give the webhook a name (lower-case letters, digits, '_')"
        if problem:
            errors["headers"] = f"alerts.webhooks.{name}.headers: {problem}"
        old = runtime.config.alerts.webhooks.get(name)
        if old is not None and old.headers and headers is None and _origin(old.url) != _origin(url):
            # Header values are often tokens: never send kept ones to a new place.
            errors["headers"] = (f"alerts.webhooks.{name}.headers: the URL now points to another host: "
                                 "enter the headers again, or tick 'Remove all headers'")
        if errors:
            return _page(request, _context(runtime, errors={"webhook": errors}, typed=typed), True)

        def change() -> None:
            edits.set_webhook(runtime.store, name, url=url, headers=headers,
                              timeout_seconds=number(form.get("timeout_seconds")), retries=number(form.get("retries")))
        return await self._apply(request, "webhook", name, change, prefix=f"alerts.webhooks.{name}", typed=typed,
                                 detail=changed(["url", "timeout_seconds", "retries"] + (["headers"] if headers is not None else [])))

    @post("/alerts/webhooks/{hook:str}/delete", status_code=200)
    async def delete_webhook(self, request: HTMXRequest, hook: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        return await self._apply(request, "webhook", hook, lambda: edits.delete_webhook(runtime.store, hook),
                                 prefix=f"alerts.webhooks.{hook}", typed={}, detail="deleted")

    @post("/alerts/webhooks/{hook:str}/test", status_code=200)
    async def test_webhook(self, request: HTMXRequest, hook: FromPath[str]) -> Template:
        """Send a test alert to a saved webhook once; answer within 10 s with what happened."""
        runtime = request.app.state.runtime
        w = runtime.config.alerts.webhooks.get(hook)
        if w is None:
            result = (False, f"no webhook named '{hook}' in campy.yaml (save it first)")
        else:
            target = WebhookTarget(name=hook, url=w.url, headers={k: _resolve(v) or "" for k, v in w.headers.items()},
                                   timeout_seconds=w.timeout_seconds, retries=0)
            result = await send_test_webhook(target)
        await audit(request, "alerts.test.webhook", target=hook, ok=result[0])
        return _test_answer(request, runtime, f"hook-{hook}", result)

    @post("/alerts/mqtt", status_code=200)
    async def save_mqtt(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        form = await request.form()
        values = {"host": str(form.get("host", "")).strip() or None, "port": number(form.get("port")),
                  "username": str(form.get("username", "")).strip() or None,
                  "topic_prefix": str(form.get("topic_prefix", "")).strip() or None,
                  "tls": str(form.get("tls", "")) in ("on", "true", "1")}
        password = str(form.get("password", "")) or None
        clear = str(form.get("clear_password", "")) in ("on", "true", "1")
        old = runtime.config.alerts.mqtt
        typed = {"mqtt": {**values, "host": values["host"] or "", "username": values["username"] or "",
                          "port": form.get("port", ""), "password_set": bool(old and old.password)}}
        if not values["host"]:
            return _page(request, _context(runtime, errors={"mqtt": {"host": "alerts.mqtt.host: the broker's host "
                                                                             "name or address is required"}},
                                           typed=typed), True)
        if old is not None and old.password and not password and not clear and \
                (old.host, old.port) != (values["host"], values["port"] or 1883):
            msg = "alerts.mqtt.password: the broker's address changed: enter its password again"
            return _page(request, _context(runtime, errors={"mqtt": {"password": msg}}, typed=typed), True)
        fields = [k for k, v in values.items() if v is not None] + (["password"] if password or clear else [])
        return await self._apply(request, "mqtt", "", lambda: edits.set_mqtt(runtime.store, values, password=password,
                                                                           clear_password=clear),
                                 prefix="alerts.mqtt", typed=typed, detail=changed(fields))

    @post("/alerts/mqtt/delete", status_code=200)
    async def delete_mqtt(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        return await self._apply(request, "mqtt", "", lambda: edits.delete_mqtt(runtime.store),
                                 prefix="alerts.mqtt", typed={}, detail="deleted")

    @post("/alerts/mqtt/test", status_code=200)
    async def test_mqtt(self, request: HTMXRequest) -> Template:
        """Publish a test alert with the settings as typed (the saved password when none is typed
        and the broker is the saved one); answer within 10 s with what happened."""
        runtime = request.app.state.runtime
        form = await request.form()
        old = runtime.config.alerts.mqtt
        host = str(form.get("host", "")).strip() or (old.host if old else "")
        port = number(form.get("port")) or (old.port if old else 1883)
        password = str(form.get("password", "")) or None
        if password is None and old is not None and (old.host, old.port) == (host, port):
            password = _resolve(old.password)
        if not host:
            result = (False, "enter the broker's host first")
        elif not isinstance(port, int) or not 1 <= port <= 65535:
            result = (False, "the port must be a whole number from 1 to 65535")
        else:
            cfg = MqttConfig(host=host, port=port, username=str(form.get("username", "")).strip() or None,
                             password=password,
                             topic_prefix=str(form.get("topic_prefix", "")).strip() or "campy",
                             client_id=old.client_id if old else "campy",
                             tls=str(form.get("tls", "")) in ("on", "true", "1"))
            result = await send_test_mqtt(cfg)
        await audit(request, "alerts.test.mqtt", target=host or "-", ok=result[0])
        return _test_answer(request, runtime, "mqtt", result)

    @post("/alerts/rules", status_code=200)
    async def save_rule(self, request: HTMXRequest) -> Template:
        runtime = request.app.state.runtime
        form = await request.form()
        name = str(form.get("name", "")).strip()
        values = {"cameras": [str(c) for c in form.getall("cameras", [])], "labels": _csv(form.get("labels")),
                  "zones": _csv(form.get("zones")), "cooldown_seconds": number(form.get("cooldown_seconds")),
                  "webhooks": [str(w) for w in form.getall("webhooks", [])],
                  "mqtt": str(form.get("mqtt", "")) in ("on", "true", "1")}
        typed = {"rule": {"name": name, **values, "cooldown_seconds": form.get("cooldown_seconds", "")},
                 "rule_existing": name in runtime.config.alerts.rules}
        if not name:
            return _page(request, _context(runtime, errors={"rule": {"name": "alerts.rules: give the rule a name "
                                                                             "(lower-case letters, digits, '_')"}},
                                           typed=typed), True)
        return await self._apply(request, "rule", name, lambda: edits.set_rule(runtime.store, name, values),
                                 prefix=f"alerts.rules.{name}", typed=typed, detail=changed(list(values)))

    @post("/alerts/rules/{rule:str}/delete", status_code=200)
    async def delete_rule(self, request: HTMXRequest, rule: FromPath[str]) -> Template:
        runtime = request.app.state.runtime
        return await self._apply(request, "rule", rule, lambda: edits.delete_rule(runtime.store, rule),
                                 prefix=f"alerts.rules.{rule}", typed={}, detail="deleted")


def _test_answer(request: HTMXRequest, runtime: Any, key: str, result: tuple[bool, str]) -> Template:
    if request.htmx:
        return Template("_alert_test.html", context={"ok": result[0], "message": result[1], "key": key})
    return _page(request, _context(runtime, tests={key: result}), False)
