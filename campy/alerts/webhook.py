"""Webhook delivery: one JSON POST per alert, retried while the failure may be passing.

Retried: network errors (connect, timeout, reset) and HTTP 5xx and 429. Not retried: any
other 4xx (the request itself is wrong; sending it again cannot help) and 3xx (redirects
are not followed). Success is any 2xx.

Header values often hold tokens (``Authorization: Bearer …``) and URLs may carry them in
the query string or user info, so logs name the target and its host and path only, never
header values, query strings or response bodies (a server may echo the request back).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import msgspec

from campy.streams import scrub

log = logging.getLogger(__name__)

RETRY_AFTER_CAP_S = 30.0


class WebhookTarget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where to POST alerts; ``retries`` counts attempts after the first."""

    name: str
    url: str
    headers: dict[str, str] = {}
    timeout_seconds: float = 5
    retries: int = 3


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment: fit for a log line."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _secrets(target: WebhookTarget) -> list[str]:
    """Every value of ``target`` that must not reach a log, longest first."""
    values = [v for v in target.headers.values() if v]
    try:
        parts = urlsplit(target.url)
        values += [unquote(p) for p in (parts.username, parts.password) if p]
        values += [v for _, v in parse_qsl(parts.query) if v]
    except ValueError:
        pass
    return sorted(set(values), key=len, reverse=True)


def _delay(backoff: Sequence[float], attempt: int, response: httpx.Response | None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based)."""
    base = float(backoff[min(attempt, len(backoff) - 1)]) if backoff else 0.0
    if response is not None and response.status_code == 429:
        try:
            asked = float(response.headers.get("retry-after", ""))
        except ValueError:
            asked = 0.0
        base = max(base, min(asked, RETRY_AFTER_CAP_S))
    return base


@dataclass
class Delivery:
    """How a delivery ended: ``ok``; else the last ``status`` or ``error`` and a log-safe ``reason``."""

    ok: bool
    attempts: int
    reason: str = ""
    status: int | None = None
    error: BaseException | None = None


async def post_event(client: httpx.AsyncClient, target: WebhookTarget, payload: dict[str, Any], *,
                     backoff: Sequence[float] = (1, 2, 4)) -> bool:
    """POST ``payload`` as JSON to ``target``; True once a 2xx came back, False when given up."""
    return (await deliver(client, target, payload, backoff=backoff)).ok


async def deliver(client: httpx.AsyncClient, target: WebhookTarget, payload: dict[str, Any], *,
                  backoff: Sequence[float] = (1, 2, 4)) -> Delivery:
    """``post_event`` with the outcome: the settings page's "Send test" shows it."""
    body = msgspec.json.encode(payload)
    headers = {"content-type": "application/json", "user-agent": "campy-alerts", **target.headers}
    attempts = 1 + max(0, target.retries)
    reason, tried = "not sent", 0
    status: int | None = None
    error: BaseException | None = None
    for attempt in range(attempts):
        tried = attempt + 1
        response: httpx.Response | None = None
        try:
            response = await client.post(target.url, content=body, headers=headers,
                                         timeout=target.timeout_seconds)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as err:
            reason, error = scrub(f"{type(err).__name__}: {err}", _secrets(target)), err
            break  # a wrong URL stays wrong
        except httpx.HTTPError as err:
            reason = scrub(f"{type(err).__name__}: {err}", _secrets(target)) if str(err) else type(err).__name__
            error, status = err, None
        else:
            status, error = response.status_code, None
            if 200 <= status < 300:
                if attempt:
                    log.info("webhook %s delivered on attempt %d", target.name, attempt + 1)
                return Delivery(True, tried, status=status)
            reason = f"HTTP {status}"
            if not (status >= 500 or status == 429):
                break
        if attempt + 1 < attempts:
            wait = _delay(backoff, attempt, response)
            log.debug("webhook %s (%s) attempt %d failed: %s; retrying in %.1fs",
                      target.name, safe_url(target.url), attempt + 1, reason, wait)
            await asyncio.sleep(wait)
    log.warning("webhook %s (%s) failed after %d attempt(s): %s",
                target.name, safe_url(target.url), tried, reason)
    return Delivery(False, tried, reason, status, error)
