"""Fixtures for integration tests on real databases: each test gets a migrated database on
SQLite (a file in tmp_path) and on PostgreSQL (127.0.0.1:5432), and a unit-of-work factory.

PostgreSQL: one uniquely named database per test session, migrated once, emptied after each
test (TRUNCATE … RESTART IDENTITY, much faster than a new database per test) and dropped
`WITH (FORCE)` at the end. A test that leaves connections open to it fails, so leaks show up
where they happen. Where PostgreSQL is unreachable its cases skip locally and fail under
CI=true (tests/support.require).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine

from core.ports import UnitOfWork
from core.storage import make_engine, unit_of_work_factory, upgrade
from core.storage.tables import metadata
from tests.support import is_port_open, require

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_CONNINFO = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def require_postgres() -> None:
    require(is_port_open(PG_HOST, PG_PORT), f"PostgreSQL on {PG_HOST}:{PG_PORT} is not reachable")


def _pg_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"


def _pg_conninfo(name: str) -> str:
    return f"host={PG_HOST} port={PG_PORT} user=postgres dbname={name}"


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty, uniquely named database; dropped (connections and all) on exit."""
    require_postgres()
    name = f"supportbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_CONNINFO, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN_CONNINFO, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def _migrated_postgres_database() -> Iterator[str]:
    with fresh_postgres_database() as name:
        upgrade(_pg_url(name))
        yield name


def _assert_no_open_connections(name: str) -> None:
    # A closed client's backend may take a moment to leave pg_stat_activity.
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    with psycopg.connect(PG_ADMIN_CONNINFO, autocommit=True) as admin:
        for _ in range(50):
            row = admin.execute(query, (name,)).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    pytest.fail(f"the test left connections open to {name}: dispose its engines")


def _empty_tables(name: str) -> None:
    tables = sql.SQL(", ").join(sql.Identifier(table.name) for table in metadata.sorted_tables)
    with psycopg.connect(_pg_conninfo(name), autocommit=True) as connection:
        connection.execute("SET lock_timeout = '10s'")
        connection.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'supportbot.db'}"
        upgrade(url)
        yield url
        return
    name: str = request.getfixturevalue("_migrated_postgres_database")
    try:
        yield _pg_url(name)
    finally:
        try:
            _assert_no_open_connections(name)
        finally:
            _empty_tables(name)


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database on each backend that was never migrated: for migration tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with fresh_postgres_database() as name:
        yield _pg_url(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def uow_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    """A zero-argument callable making a new unit of work on the migrated database."""
    return unit_of_work_factory(engine)
