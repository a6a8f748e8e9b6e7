"""API tokens of role ``metrics`` in the database (m010 widened the role constraint)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from campy.db.bearer import digest, mint
from campy.db.database import migrations, open_db
from campy.db.tokens import PREFIX, TokenStore
from campy.db.users import UserError


def test_a_token_made_before_m010_survives_it_and_metrics_tokens_can_be_made(tmp_path):
    path = tmp_path / "campy.db"
    old = Database(path)
    migrations.apply(old, stop_before="m010_metrics_tokens")
    tid, raw = mint(PREFIX)
    old.execute("INSERT INTO tokens (id, name, role, cameras, token_hash, created_ms, created_by) "
                "VALUES (?, 'script', 'viewer', '[\"front\"]', ?, 1, 'admin')", [tid, digest(raw)])
    old.conn.commit()
    old.close()
    db = open_db(path)  # applies m010 over the table that holds the row
    tokens = TokenStore(db)
    v = tokens.verify(raw)
    assert v is not None and v.role == "viewer" and v.can_view("front") and not v.can_view("back")
    _, mraw = tokens.create(name="prometheus", role="metrics", created_by="admin")
    m = tokens.verify(mraw)
    assert m is not None and m.role == "metrics" and not m.can_view("front") and not m.is_admin
    with pytest.raises(UserError):
        tokens.create(name="x", role="superuser", created_by="admin")
    with pytest.raises(sqlite3.IntegrityError), db.write():
        db.execute("UPDATE tokens SET role = 'root' WHERE id = ?", [tid])
