"""Engines for a database URL, with the settings SQLite needs to survive several writers.

SQLite (DESIGN §6): WAL so readers outside our transactions (backups, the sqlite3 shell) do
not block the writer and commits stay cheap; `busy_timeout` so a writer waits for the lock
instead of failing at once; `foreign_keys=ON` because SQLite leaves them off; and every
transaction opened with `BEGIN IMMEDIATE`. A deferred `BEGIN` takes the write lock only at
the first write; two such transactions that both read and then write deadlock, and SQLite
answers one of them with "database is locked" without waiting. Taking the lock at BEGIN makes
writers queue instead, which is also what serialises lease claims on SQLite. A unit of work
cannot say in advance whether it will write, so read-only ones take the lock too: keep units
of work short, or open them read-only (`READ_ONLY`, `read_only_uow_factory`). We use the
documented recipe: disable pysqlite's own BEGIN handling
(`isolation_level = None`) and emit ours from the `begin` event (SQLAlchemy docs,
"Transactions with SQLite and the sqlite3 driver").

PostgreSQL goes through psycopg 3; a bare `postgresql://` URL is pointed at it, because
SQLAlchemy would otherwise look for psycopg2, which we do not install.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError

SQLITE_BUSY_TIMEOUT_MS = 5000
# Execution option for a connection that only reads: on SQLite its transactions begin
# DEFERRED, so in WAL mode they neither wait for nor block the writer (they read the last
# committed snapshot). A statement that writes on such a connection may fail with
# "database is locked" instead of waiting: use it for reads only.
READ_ONLY = "supportbot_read_only"
# A pooled server connection unused this long is pinged before use (see _ping_when_idle).
PING_AFTER_IDLE_S = 10.0
_IDLE_SINCE = "supportbot_idle_since"


def make_engine(
    url: str | URL, *, echo: bool = False, ping_after_idle_seconds: float = PING_AFTER_IDLE_S
) -> Engine:
    """An engine for `url`; for a SQLite file, its parent directories are created first."""
    parsed = _normalise(make_url(url))
    if parsed.get_backend_name() == "sqlite":
        _create_parent_directory(parsed)
        engine = create_engine(parsed, echo=echo)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(parsed, echo=echo)
    _ping_when_idle(engine, after_seconds=ping_after_idle_seconds)
    return engine


def _ping_when_idle(engine: Engine, *, after_seconds: float) -> None:
    """Check a pooled server connection before use when it sat idle for `after_seconds`:
    one that died meanwhile (server restarted, idle connection cut by a firewall) is then
    replaced instead of failing the request. `pool_pre_ping` would ping on every checkout,
    a round trip more for each unit of work, and an API request makes one or two."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return  # new, or used a moment ago
        try:
            is_alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc
        if not is_alive:
            raise DisconnectionError("the pooled connection did not answer a ping")


def is_sqlite(engine_or_connection: Engine | Connection) -> bool:
    return engine_or_connection.dialect.name == "sqlite"


def _normalise(url: URL) -> URL:
    if url.drivername == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    return url


def _create_parent_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Our own BEGIN below replaces pysqlite's implicit one, so PRAGMAs here run outside
        # any transaction (where `journal_mode` and `foreign_keys` take effect).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # In WAL mode NORMAL still survives a crash of the process; only a power loss can
            # drop the last commits, and then the source (IMAP cursor, Slack retry) was not
            # acknowledged either, because the cursor is written after intake, in order.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
