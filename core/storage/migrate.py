"""Schema migrations run from code: `upgrade(url)` at every start, no alembic.ini needed.

Alembic is configured programmatically with `script_location` pointing at the migrations
folder inside this package, so an installed supportbot can migrate its own database. Starting
several instances at once is safe: on PostgreSQL the upgrade runs in one transaction that
first takes a transaction-level advisory lock (released at commit, so it cannot leak through
the pool, DESIGN §6); on SQLite the transaction begins with `BEGIN IMMEDIATE`, which
serialises it the same way. The second instance then finds the database at head and does
nothing.

For a new revision: `alembic.command.revision(alembic_config(url), message=...,
autogenerate=True)` against a database at head, then check the result by hand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from core.storage.engine import is_sqlite, make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Any fixed 64-bit key works; deriving it from a name keeps it recognisable in pg_locks.
_PG_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('supportbot:migrate', 0))")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for our migrations; with `url`, usable by Alembic's own commands."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolates '%', which URL-encoded passwords contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at; None when it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`; a no-op when it is there already."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if is_sqlite(connection):
                _upgrade_sqlite(connection, revision)
            else:
                with connection.begin():
                    connection.execute(_PG_MIGRATION_LOCK)
                    _run_alembic(connection, revision)
    finally:
        engine.dispose()


def _upgrade_sqlite(connection: Connection, revision: str) -> None:
    """Batch mode rebuilds a table by copy, drop and rename; with foreign keys enforced the
    drop would cascade or fail, so SQLite's documented procedure turns them off for the
    change and checks them before commit (https://www.sqlite.org/lang_altertable.html,
    "Making Other Kinds Of Table Schema Changes"). The PRAGMA is a no-op inside a
    transaction, hence it goes to the driver connection before ours begins."""
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            _run_alembic(connection, revision)
            violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if violations:
                raise RuntimeError(f"migration broke foreign keys: {violations[:5]}")
    finally:
        driver_connection.execute("PRAGMA foreign_keys=ON")


def _run_alembic(connection: Connection, revision: str) -> None:
    # env.py runs the migrations on this connection, inside the transaction begun here.
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
