"""Schema migrations run from code: `upgrade(url)` at every start, no alembic.ini needed.

Alembic is configured programmatically with `script_location` pointing at the migrations
folder inside this package, so an installed supportbot can migrate its own database. Starting
several instances at once is safe: on PostgreSQL the upgrade runs in one transaction that
first takes a transaction-level advisory lock (released at commit, so it cannot leak through
the pool, DESIGN §6); on SQLite the transaction begins with `BEGIN IMMEDIATE`, which
serialises it the same way. The second instance then finds the database at head and does
nothing.

Start-up is cheap when the database is already at head (every start after the first): the
revision is read with one SELECT and compared with `HEAD`, and Alembic (about 0.2 s of
imports, and its script directory scan) is loaded only when there is something to do.

For a new revision: `alembic.command.revision(alembic_config(url), message=...,
autogenerate=True)` against a database at head, check the result by hand, and set `HEAD` to
its id (a unit test compares `HEAD` with Alembic's own answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from core.storage.engine import READ_ONLY, is_sqlite, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions; tests/unit checks it against Alembic.
HEAD = "0009"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps

# Any fixed 64-bit key works; deriving it from a name keeps it recognisable in pg_locks.
_PG_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('supportbot:migrate', 0))")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for our migrations; with `url`, usable by Alembic's own commands."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolates '%', which URL-encoded passwords contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision this code knows, as Alembic finds it in the scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at; None when it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            return read_revision(connection)
    finally:
        engine.dispose()


def read_revision(connection: Connection) -> str | None:
    """The revision recorded in the version table, read without Alembic; None when the
    table is absent or empty. We never branch, so there is at most one row."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"{VERSION_TABLE} holds {len(rows)} revisions: {sorted(rows)}")
    return rows[0] if rows else None


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`; a no-op when it is there already."""
    engine = make_engine(url)
    try:
        if revision in ("head", HEAD) and _is_at_head(engine):
            return
        with engine.connect() as connection:
            if is_sqlite(connection):
                _upgrade_sqlite(connection, revision)
            else:
                with connection.begin():
                    connection.execute(_PG_MIGRATION_LOCK)
                    _run_alembic(connection, revision)
    finally:
        engine.dispose()


def _is_at_head(engine: Engine) -> bool:
    """The check every start makes, on a read-only connection of its own (no write lock on
    SQLite). An upgrade that follows takes its lock and lets Alembic decide afresh, so an
    instance migrating at the same moment is still waited for."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return read_revision(connection) == HEAD


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
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
