"""RTSP Digest authentication the way Reolink firmware does it: MD5, no ``qop``."""

from __future__ import annotations

import hashlib
import re
import secrets

REALM = "BC Streaming Media"
_PARAM_RE = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)  # 32 hex characters, as the camera sends


def challenge(nonce: str) -> str:
    return f'Digest realm="{REALM}", nonce="{nonce}"'


def parse(header: str) -> dict[str, str] | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM_RE.finditer(rest)}


def verify(header: str | None, *, method: str, username: str, password: str, nonces: set[str]) -> bool:
    """True when ``header`` is a correct Digest answer to one of our ``nonces``.

    The ``uri`` is taken from the header itself, so clients that send the full URL and
    clients that send only the path both pass (both are seen in the wild).
    """
    if not header:
        return False
    p = parse(header)
    if not p or p.get("username") != username or p.get("realm") != REALM:
        return False
    if p.get("nonce") not in nonces or "uri" not in p or "response" not in p:
        return False
    ha1 = md5(f"{username}:{REALM}:{password}")
    ha2 = md5(f"{method}:{p['uri']}")
    expected = md5(f"{ha1}:{p['nonce']}:{ha2}")
    return secrets.compare_digest(expected, p["response"].lower())
