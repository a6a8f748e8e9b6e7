"""SQLite storage: one database in the data dir, WAL, numbered migrations."""

from campy.db.database import open_db
from campy.db.users import ROLES, User, UserError

__all__ = ["ROLES", "User", "UserError", "open_db"]
