"""SQLite storage: one database in the data dir, WAL, a connection per thread, one writer."""

from campy.db.connection import Db, WriteOutsideLock
from campy.db.database import open_db
from campy.db.users import ROLES, User, UserError

__all__ = ["ROLES", "Db", "User", "UserError", "WriteOutsideLock", "open_db"]
