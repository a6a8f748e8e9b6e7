"""CamPy's error tree, one HTTP mapping (see ``campy.web.errors``).

    CampyError (500)
    ├── BadRequest (400)      a value the user sent is wrong; may carry per-field messages
    ├── NotFound (404)        an unknown camera or page
    ├── Conflict (409)        the request clashes with the current state (e.g. name taken)
    ├── QuotaExceeded (429)   a per-user limit (exports, marks) is reached
    └── Unavailable (503)     a part CamPy depends on (go2rtc) is down right now

Every message is written for the user and never contains a secret.
"""

from __future__ import annotations


class CampyError(Exception):
    """Base of CamPy's errors; ``status`` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class BadRequest(CampyError):
    """The request carries a wrong value (``fields`` names which)."""

    status = 400


class NotFound(CampyError):
    """The thing asked for does not exist."""

    status = 404


class Conflict(CampyError):
    """The request clashes with the current state."""

    status = 409


class Unavailable(CampyError):
    """A part CamPy depends on is down; try again shortly."""

    status = 503


class QuotaExceeded(CampyError):
    """A per-user limit (exports, marks) is reached; the message says which and what to do."""

    status = 429
