"""Camera URLs: the scheme allow-list and inserting credentials.

One validator serves the YAML loader, the web form and the API, so all three refuse the
same things: go2rtc's command-running sources (``exec:``, ``ffmpeg:``, ``echo:``,
``expr:``), file paths, and anything that is not a network camera URL.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

ALLOWED_SCHEMES = ("rtsp", "rtsps", "rtspx", "rtmp", "rtmps", "http", "https")


def validate_camera_url(value: str) -> str | None:
    """An error message for a camera URL, or None when it is acceptable."""
    if not isinstance(value, str) or not value.strip():
        return "a URL is required"
    scheme, sep, _ = value.strip().partition(":")
    if not sep or not scheme.isascii() or "/" in scheme or " " in scheme:
        return f"not a camera URL; use one of {', '.join(ALLOWED_SCHEMES)}"
    if scheme.lower() not in ALLOWED_SCHEMES:
        return f"scheme '{scheme}' is not allowed (use {', '.join(ALLOWED_SCHEMES)})"
    if any(ch.isspace() for ch in value):
        return "the URL must not contain spaces"
    if "$" in value:
        return ("the URL must not contain '$' (go2rtc would replace ${...} in it with one of its "
                "secrets); percent-encode it as %24 if the camera really needs it")
    if "#" in value:
        return "the URL must not contain '#' (go2rtc parameters are set by CamPy)"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as err:
        return f"not a valid URL: {err}"
    if not parts.hostname:
        return "the URL needs a host, e.g. rtsp://192.168.1.21:554/Preview_01_main"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "put credentials in 'username' and 'password', not in the URL"
    if port is not None and not 0 < port < 65536:
        return "the port must be between 1 and 65535"
    return None


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL: where a password put into it would be sent."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def with_credentials(url: str, username: str | None, password_ref: str | None) -> str:
    """``url`` with ``user:password_ref@`` inserted (the username percent-encoded).

    ``password_ref`` is inserted as is: it is a ``${VAR}`` reference, never a password.
    """
    if not username:
        return url
    parts = urlsplit(url)
    userinfo = quote(username, safe="")
    if password_ref:
        userinfo += ":" + password_ref
    netloc = f"{userinfo}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
