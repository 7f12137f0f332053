"""`SqlUnitOfWork`: one database connection and its transaction, behind the `UnitOfWork` port.

Why SQLAlchemy Core and a Connection rather than the ORM and a Session: the domain records
are frozen dataclasses that the ORM cannot map (it mutates instances and keeps an identity
map that goes stale between transactions), so an ORM layer would need a second set of classes
plus the same row-to-record mapping we write anyway. What matters here, the conditional
UPDATE of an approval, `ON CONFLICT DO NOTHING` and `FOR UPDATE SKIP LOCKED`, are single Core
statements, and with Core each repository method is exactly the SQL it runs.

The connection is checked out on `__enter__` and returned on `__exit__`; a transaction begins
with the first statement (SQLAlchemy's autobegin), so after `commit()` the same unit of work
can go on with a new transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, text

from core.ports import (
    Actions,
    ApiTokens,
    Audit,
    Customers,
    Drafts,
    Mailboxes,
    Messages,
    Outbox,
    Posts,
    Quarantine,
    Reports,
    SeenEvents,
    Tickets,
    UnitOfWork,
    Users,
)
from core.storage.engine import READ_ONLY
from core.storage.repositories import (
    SqlActions,
    SqlApiTokens,
    SqlAudit,
    SqlCustomers,
    SqlDrafts,
    SqlMailboxes,
    SqlMessages,
    SqlOutbox,
    SqlPosts,
    SqlQuarantine,
    SqlReports,
    SqlSeenEvents,
    SqlTickets,
    SqlUsers,
)

_ADVISORY_XACT_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


class SqlUnitOfWork:
    """Use in a `with` block; leaving it rolls back whatever was not committed."""

    def __init__(
        self, engine: Engine, *, read_only: bool = False, autocommit: bool = False
    ) -> None:
        self._engine = engine
        self._read_only = read_only
        self._autocommit = autocommit
        self._connection: Connection | None = None
        self._depth = 0  # savepoints open inside one another
        self.customers: Customers = SqlCustomers(self._current)
        self.tickets: Tickets = SqlTickets(self._current)
        self.messages: Messages = SqlMessages(self._current)
        self.drafts: Drafts = SqlDrafts(self._current)
        self.outbox: Outbox = SqlOutbox(self._current)
        self.quarantine: Quarantine = SqlQuarantine(self._current)
        self.audit: Audit = SqlAudit(self._current)
        self.actions: Actions = SqlActions(self._current)
        self.mailboxes: Mailboxes = SqlMailboxes(self._current)
        self.posts: Posts = SqlPosts(self._current)
        self.events: SeenEvents = SqlSeenEvents(self._current)
        self.reports: Reports = SqlReports(self._current)
        self.users: Users = SqlUsers(self._current)
        self.tokens: ApiTokens = SqlApiTokens(self._current)

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already in use; make a new one")
        connection = self._engine.connect()
        if self._read_only:
            connection = connection.execution_options(**{READ_ONLY: True})
        if self._autocommit and connection.dialect.name != "sqlite":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        self._connection = connection
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Closing rolls back a transaction still in progress and returns the connection
            # to the pool clean.
            connection.close()

    def commit(self) -> None:
        self._current().commit()

    def rollback(self) -> None:
        self._current().rollback()

    def lock(self, key: str) -> None:
        connection = self._current()
        if connection.dialect.name == "postgresql":
            connection.execute(_ADVISORY_XACT_LOCK, {"key": key})

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """SAVEPOINT … RELEASE, or ROLLBACK TO and RELEASE on an exception, as plain SQL in
        the current transaction, which the first statement begins if none is open (on
        SQLite our BEGIN IMMEDIATE, see engine.py; savepoints work there because pysqlite's
        own transaction handling is off). Each nesting level has its own name.

        Not `Connection.begin_nested()`: it compiles its SAVEPOINT clause afresh every time
        (0.1 ms against 0.02 ms), and intake takes one or two savepoints per message.
        """
        connection = self._current()
        name = f"sb_{self._depth}"
        self._depth += 1
        try:
            connection.exec_driver_sql(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
                connection.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
                raise
            connection.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        finally:
            self._depth -= 1

    def _current(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("use the unit of work inside a `with` block")
        return self._connection


def unit_of_work_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    """What services take: a zero-argument callable making a fresh unit of work each time."""

    def make() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    return make


def autocommit_uow_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    """Units of work whose statements each stand alone on PostgreSQL (no BEGIN, no
    ROLLBACK: two round trips less), for a request that reads without needing one snapshot
    for all its statements (a listing's count and page) and writes, if at all, a row that
    needs nothing else (a token's last use). No savepoints or locks in them: there is no
    transaction to hold them. On SQLite, ordinary units of work (round trips cost nothing)."""

    def make() -> UnitOfWork:
        return SqlUnitOfWork(engine, autocommit=True)

    return make


def read_only_uow_factory(engine: Engine) -> Callable[[], UnitOfWork]:
    """Units of work for reading only: on SQLite they take no write lock (see READ_ONLY), so
    a reader (the drafting pool preparing a prompt) never queues behind intake's writes."""

    def make() -> UnitOfWork:
        return SqlUnitOfWork(engine, read_only=True)

    return make
