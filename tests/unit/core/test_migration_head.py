"""`HEAD`, which every start compares the database with, is the head Alembic finds."""

from __future__ import annotations

from core.storage.migrate import HEAD, head_revision


def test_head_constant_is_the_newest_migration() -> None:
    # A new revision without `HEAD` moved would leave every start believing the database
    # at head while it is one revision behind.
    assert head_revision() == HEAD
