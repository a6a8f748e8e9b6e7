"""Users, roles and password hashing (argon2id)."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from campy.clock import Clock
from campy.db.connection import Db

ROLES = ("admin", "operator", "viewer")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so a wrong username costs
# the same time as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("campy-dummy-password")


class UserError(ValueError):
    """A user could not be created or changed (bad name, role or password).

    Messages read ``field: what to do`` so forms can show them beside the field.
    """


class NoSuchUser(UserError):
    """The user named does not exist."""


class LastAdmin(UserError):
    """The change would leave no enabled admin."""


UNSET: Any = object()  # "leave the grant alone" (None means every camera)


@dataclass(frozen=True)
class User:
    """Who is asking: a signed-in user or an API token acting with a role and a camera grant.

    ``cameras`` is the grant: ``None`` means every camera (always so for admins), otherwise
    the set of camera names this principal may see. ``via`` says how it authenticated
    (``session`` or ``token``); ``token_id`` names the token.
    """

    id: int
    username: str
    role: str
    cameras: frozenset[str] | None = None
    via: str = "session"
    token_id: str | None = None
    scopes: frozenset[str] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_operate(self) -> bool:
        """Export, mark and acknowledge (admins and operators)."""
        return self.role in ("admin", "operator")

    def can_view(self, camera: str) -> bool:
        return self.role == "admin" or self.cameras is None or camera in self.cameras

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return f"token:{self.token_id}" if self.token_id else self.username


def grant_to_json(cameras: frozenset[str] | set[str] | list[str] | None) -> str | None:
    return None if cameras is None else json.dumps(sorted(set(cameras)))


def grant_from_json(value: str | None) -> frozenset[str] | None:
    return None if value is None else frozenset(json.loads(value))


def check_grant(cameras: Any, known: set[str] | frozenset[str], *,
                held: frozenset[str] = frozenset()) -> None:
    """A new grant may name configured cameras only (``held``: names the grant already has)."""
    unknown = sorted(c for c in set(cameras) if c not in known and c not in held)
    if unknown:
        have = ", ".join(sorted(known)) or "none"
        raise UserError(f"cameras: no camera {', '.join(map(repr, unknown))}; configured cameras: {have}")


def _row(r: dict[str, Any]) -> dict[str, Any]:
    cams = grant_from_json(r["cameras"])
    return {"id": r["id"], "username": r["username"], "role": r["role"],
            "cameras": None if cams is None else sorted(cams), "disabled": bool(r["disabled"]),
            "created_ms": r["created_ms"], "password_changed_ms": r["password_changed_ms"]}


def _user(row: dict[str, Any]) -> User:
    cams = None if row["role"] == "admin" else grant_from_json(row.get("cameras"))
    return User(id=row["id"], username=row["username"], role=row["role"], cameras=cams)


class UserStore:
    """Users in SQLite. Safe from any thread; writes go through ``db.write()``."""

    def __init__(self, db: Db, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or Clock()

    def create(self, *, username: str, password: str, role: str,
               cameras: frozenset[str] | set[str] | list[str] | None = None) -> User:
        if not _USERNAME_RE.match(username):
            raise UserError("username: use 1-64 letters, digits, '_', '.' or '-'")
        if role not in ROLES:
            raise UserError(f"role: must be one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise UserError("password: use at least 8 characters")
        password_hash = _hasher.hash(password)  # slow on purpose: outside the write lock
        with self._db.write():  # the check and the insert in one transaction
            if self._db.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
                raise UserError(f"username: {username!r} already exists")
            cur = self._db.execute(
                "INSERT INTO users (username, password_hash, role, cameras, created_ms) VALUES (?, ?, ?, ?, ?)",
                [username, password_hash, role, grant_to_json(cameras), self._clock.now_ms()],
            )
        return _user({"id": int(cur.lastrowid or 0), "username": username, "role": role,
                      "cameras": grant_to_json(cameras)})

    def set_password(self, username: str, password: str) -> None:
        if len(password) < 8:
            raise UserError("password: use at least 8 characters")
        password_hash = _hasher.hash(password)
        with self._db.write():
            self._db.execute("UPDATE users SET password_hash = ?, password_changed_ms = ? WHERE username = ?",
                             [password_hash, self._clock.now_ms(), username])

    def get(self, username: str) -> User | None:
        rows = list(
            self._db.query(
                "SELECT id, username, role, cameras FROM users WHERE username = ? AND disabled = 0",
                [username],
            )
        )
        return _user(rows[0]) if rows else None

    def get_by_id(self, user_id: int) -> User | None:
        rows = list(
            self._db.query(
                "SELECT id, username, role, cameras FROM users WHERE id = ? AND disabled = 0", [user_id]
            )
        )
        return _user(rows[0]) if rows else None

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password matches, else None (same cost either way)."""
        rows = list(
            self._db.query(
                "SELECT id, username, role, cameras, password_hash FROM users "
                "WHERE username = ? AND disabled = 0",
                [username],
            )
        )
        stored = rows[0]["password_hash"] if rows else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        return _user(rows[0])

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM users").fetchone()[0])

    # --- management (admin pages, JSON API, CLI) ---

    def list_users(self) -> list[dict[str, Any]]:
        """Every user, disabled ones included, by name; ``cameras`` is a sorted list or None."""
        rows = self._db.query("SELECT id, username, role, cameras, disabled, created_ms, password_changed_ms "
                              "FROM users ORDER BY username")
        return [_row(r) for r in rows]

    def row(self, username: str) -> dict[str, Any] | None:
        """One user as ``list`` shows it (disabled ones too), or None."""
        rows = list(self._db.query("SELECT id, username, role, cameras, disabled, created_ms, "
                                   "password_changed_ms FROM users WHERE username = ?", [username]))
        return _row(rows[0]) if rows else None

    def update(self, username: str, *, role: str | None = None, cameras: Any = UNSET,
               disabled: bool | None = None, password: str | None = None,
               known_cameras: set[str] | frozenset[str] | None = None) -> tuple[int, list[str]]:
        """Change a user; returns (user id, names of the fields that really changed).

        A grant may name only configured cameras (``known_cameras``), except names it
        already holds (a camera deleted later stays in old grants harmlessly). Refuses
        with ``LastAdmin`` when no enabled admin would remain.
        """
        if role is not None and role not in ROLES:
            raise UserError(f"role: must be one of {', '.join(ROLES)}")
        password_hash = None
        if password is not None:
            if len(password) < 8:
                raise UserError("password: use at least 8 characters")
            password_hash = _hasher.hash(password)  # slow on purpose: outside the write lock
        with self._db.write():
            cur = self._db.execute("SELECT id, role, cameras, disabled FROM users WHERE username = ?",
                                   [username]).fetchone()
            if cur is None:
                raise NoSuchUser(f"no user {username!r}")
            user_id, old_role, old_cams, old_disabled = cur
            sets: dict[str, Any] = {}
            if role is not None and role != old_role:
                sets["role"] = role
            if cameras is not UNSET:
                new = None if cameras is None else sorted(set(cameras))
                if new is not None and known_cameras is not None:
                    check_grant(new, known_cameras, held=grant_from_json(old_cams) or frozenset())
                if grant_to_json(new) != old_cams:
                    sets["cameras"] = grant_to_json(new)
            if disabled is not None and int(disabled) != old_disabled:
                sets["disabled"] = int(disabled)
            if password_hash is not None:
                sets["password_hash"] = password_hash
                sets["password_changed_ms"] = self._clock.now_ms()
            if not sets:
                return user_id, []
            self._db.execute(f"UPDATE users SET {', '.join(k + ' = ?' for k in sets)} WHERE id = ?",
                             [*sets.values(), user_id])
            self._check_admin_left(username)
        changed = [k for k in sets if k != "password_changed_ms"]
        return user_id, ["password" if k == "password_hash" else k for k in changed]

    def delete(self, username: str) -> int:
        """Delete a user (their sessions too); returns the id. Never the last enabled admin."""
        with self._db.write():
            cur = self._db.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()
            if cur is None:
                raise NoSuchUser(f"no user {username!r}")
            self._db.execute("DELETE FROM sessions WHERE user_id = ?", [cur[0]])
            self._db.execute("DELETE FROM users WHERE id = ?", [cur[0]])
            self._check_admin_left(username)
        return int(cur[0])

    def _check_admin_left(self, username: str) -> None:
        """Inside a write: raising rolls the change back."""
        n = self._db.execute("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0").fetchone()[0]
        if n == 0:
            raise LastAdmin(f"{username!r} is the last enabled admin: make another user an admin first")


def ensure_admin(store: UserStore, *, password: str | None) -> str | None:
    """Make sure user ``admin`` exists; returns a generated password when it made one.

    With ``password`` (``CAMPY_ADMIN_PASSWORD``) the admin's password is set to it on every
    start, so the environment stays the source of truth for that account.
    """
    existing = store.get("admin")
    if existing is None:
        generated = None
        if not password:
            generated = password = secrets.token_urlsafe(12)
        store.create(username="admin", password=password, role="admin")
        return generated
    if password:
        store.set_password("admin", password)
    return None
