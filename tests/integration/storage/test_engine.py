"""Engine settings: SQLite pragmas and BEGIN IMMEDIATE, URLs, aware-UTC timestamps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from core.ports import UnitOfWork
from core.storage import make_engine, upgrade
from tests.integration.storage import records


def test_sqlite_file_gets_parent_directories_and_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'bot.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 5000
            assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert (tmp_path / "a" / "b" / "bot.db").exists()
    finally:
        engine.dispose()


def test_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    upgrade("sqlite:///./data/supportbot.db")
    assert (tmp_path / "data" / "supportbot.db").exists()


def test_sqlite_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """Even a transaction that only reads holds the lock, so a second writer waits at BEGIN
    instead of deadlocking later when both try to upgrade their locks."""
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        with engine.connect() as first, engine.connect() as second:
            first.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is ours now
            driver = second.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA busy_timeout=50")
            with pytest.raises(OperationalError, match="database is locked"):
                second.execute(text("SELECT 1"))
            first.rollback()
            second.rollback()
            assert second.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_plain_postgresql_url_uses_psycopg() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/none")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_timestamps_come_back_as_aware_utc(uow_factory: Callable[[], UnitOfWork]) -> None:
    berlin = timezone(timedelta(hours=1))
    created = datetime(2026, 3, 29, 3, 30, 0, 250, tzinfo=berlin)
    with uow_factory() as uow:
        customer = uow.customers.add(records.customer())
        stored = uow.tickets.add(
            records.ticket(records.id_of(customer), created_at=created, updated_at=created)
        )
        uow.commit()
        loaded = uow.tickets.get(records.id_of(stored))
    assert loaded is not None
    assert loaded.created_at == created
    assert loaded.created_at.tzinfo is UTC
    assert loaded.created_at.hour == 2


def test_naive_timestamps_are_refused(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        customer = uow.customers.add(records.customer())
        naive = datetime(2026, 11, 23, 9, 0)
        with pytest.raises(StatementError, match="naive datetime"):
            uow.tickets.add(
                records.ticket(records.id_of(customer), created_at=naive, updated_at=naive)
            )


def test_foreign_keys_are_enforced(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.tickets.add(records.ticket(customer_id=999))


def test_engine_fixture_is_migrated(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tickets")).scalar() == 0


# SQLite has no server connection to lose.
ONLY_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _pooled_backend_killed(engine: Engine, database_url: str) -> int:
    """Use a connection, return it to the pool, and end its server process: a restart or
    a cut connection, as the pool sees it. Returns the process id it had."""
    with engine.connect() as connection:
        pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return pid


@ONLY_POSTGRESQL
def test_a_server_connection_that_died_while_idle_is_replaced(database_url: str) -> None:
    engine = make_engine(database_url, ping_after_idle_seconds=0)
    try:
        killed = _pooled_backend_killed(engine, database_url)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != killed
    finally:
        engine.dispose()


@ONLY_POSTGRESQL
def test_a_server_connection_used_a_moment_ago_is_not_pinged(database_url: str) -> None:
    """The price of pinging only idle connections: one that dies between two uses close
    together fails its next statement (and the pool then replaces it)."""
    engine = make_engine(database_url, ping_after_idle_seconds=60)
    try:
        _pooled_backend_killed(engine, database_url)
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()
