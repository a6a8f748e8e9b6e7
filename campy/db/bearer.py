"""Bearer secrets shared by API tokens and embeds: ``<prefix><id>_<secret>``.

The id (12 hex digits) finds the row; the 32-byte secret is checked against a SHA-256 hash
(a high-entropy secret needs no slow hash). The plain value is shown once and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def mint(prefix: str) -> tuple[str, str]:
    """A new ``(id, raw)`` pair."""
    ident = secrets.token_hex(6)
    return ident, f"{prefix}{ident}_{secrets.token_urlsafe(32)}"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def matches(stored_digest: str, raw: str) -> bool:
    return hmac.compare_digest(stored_digest, digest(raw))
