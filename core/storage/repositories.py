"""SQL implementations of the repository ports in core/ports.py, one class per Protocol.

Each repository runs SQLAlchemy Core statements on the connection of the unit of work that
owns it, so everything done through one unit of work is one transaction. Rows become the
frozen records of core/model.py through one generic helper (`_record`) that fills a
dataclass by field name and turns enum values back into enums; `_values` goes the other way.
Only the fields that are not plain columns (attachments, recipients, references) are mapped
by hand.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import math
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Insert,
    RowMapping,
    Select,
    Table,
    Text,
    Update,
    and_,
    bindparam,
    case,
    extract,
    false,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import NotFound
from core.model import (
    ActionStatus,
    ApiToken,
    Attachment,
    AuditEvent,
    Breach,
    Channel,
    ChannelPost,
    Customer,
    DayCounts,
    Decision,
    Draft,
    DraftStatus,
    MailboxState,
    Message,
    OutboxItem,
    OutboxStatus,
    PeriodQuery,
    PeriodReport,
    Priority,
    QuarantineItem,
    QuarantineStatus,
    ScheduledAction,
    Ticket,
    TicketPage,
    TicketPosition,
    TicketQuery,
    TicketSort,
    TicketStatus,
    User,
)
from core.storage import tables as t

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")

ConnectionSource = Callable[[], Connection]
"""Returns the unit of work's current connection; repositories never own one."""


# --- mapping between rows and records ------------------------------------------------------


def _identity(value: Any) -> Any:
    return value


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _converter_for(hint: Any) -> Callable[[Any], Any]:
    """How a column value becomes the field's type: enums from their value, bytes from a
    driver's buffer (psycopg may hand back memoryview); anything else passes through."""
    for arg in typing.get_args(hint) if isinstance(hint, UnionType) else (hint,):
        if isinstance(arg, type) and issubclass(arg, Enum):
            return _optional(arg)
        if arg is bytes:
            return _optional(bytes)
    return _identity


@cache
def _converters(cls: type[DataclassInstance]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter_for(hints[f.name])) for f in dataclasses.fields(cls))


def _record(cls: type[R], row: Mapping[Any, Any], **overrides: Any) -> R:
    """Build `cls` from a row whose column names are the dataclass's field names."""
    kwargs = {
        name: overrides[name] if name in overrides else convert(row[name])
        for name, convert in _converters(cls)
    }
    return cls(**kwargs)


def _records(cls: type[R], result: CursorResult[Any]) -> tuple[R, ...]:
    """`_record` for every row of `result`, with each field's column position looked up
    once: a listing of fifty tickets spent a fifth of its Python time finding columns by
    name, row after row."""
    position = {name: n for n, name in enumerate(result.keys())}
    plan = [(name, position[name], convert) for name, convert in _converters(cls)]
    return tuple(cls(**{name: convert(row[n]) for name, n, convert in plan}) for row in result)


def _values(record: DataclassInstance, *, skip: Collection[str] = ("id",)) -> dict[str, Any]:
    """Column values for `record`: its fields minus `skip`, enums as their string values."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name in skip:
            continue
        value = getattr(record, f.name)
        values[f.name] = value.value if isinstance(value, Enum) else value
    return values


def _inserted_id(
    connection: Connection, statement: Insert, values: dict[str, Any] | None = None
) -> int:
    primary_key = connection.execute(statement, values).inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def _require_id(record_id: int | None, what: str) -> int:
    if record_id is None:
        raise ValueError(f"cannot save a {what} without an id; add it first")
    return record_id


def _update_one(
    connection: Connection, statement: Update, what: str, values: dict[str, Any] | None = None
) -> None:
    if connection.execute(statement, values).rowcount != 1:
        raise NotFound(what)


def _dialect_insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the backend's `ON CONFLICT` clauses (both spell them the same way)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """COUNT of the rows meeting `condition` (a CASE without ELSE is NULL, which COUNT
    skips): one aggregate per question in one pass, on any SQL backend."""
    return func.count(case((condition, 1)))


def _nearest_rank(ordered: Sequence[float], share: float) -> float | None:
    """The value at rank ⌈share·n⌉ of sorted values, as `core.digest` defines percentiles."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _lease_is_free(lease_until: ColumnElement[Any], now: datetime) -> ColumnElement[bool]:
    """Never leased, released, or leased by someone whose lease has run out."""
    return lease_until.is_(None) | (lease_until < now)


def _lease_statement(
    conn: Connection,
    table: Table,
    *,
    claimable: tuple[ColumnElement[bool], ...],
    order_by: tuple[ColumnElement[Any], ...],
    now: datetime,
    owner: str,
    lease_seconds: float,
    limit: int,
) -> Update | None:
    """The claim shared by outbox items and scheduled actions: pick up to `limit` claimable
    rows whose lease is free, then lease them with one UPDATE … RETURNING; None when there
    is nothing to claim. `FOR UPDATE SKIP LOCKED` lets PostgreSQL claimers pass over rows
    another transaction is leasing; on SQLite the `BEGIN IMMEDIATE` write lock keeps other
    writers out between SELECT and UPDATE. The UPDATE repeats the conditions, so a row that
    changed in between is not taken."""
    conditions = (*claimable, _lease_is_free(table.c.lease_until, now))
    ids = list(
        conn.execute(
            select(table.c.id)
            .where(*conditions)
            .order_by(*order_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return None
    return (
        table.update()
        .where(table.c.id.in_(ids), *conditions)
        .values(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=table.c.attempts + 1,
        )
        .returning(*table.c)
    )


class _Repository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    @property
    def _conn(self) -> Connection:
        return self._connection()


# --- repositories --------------------------------------------------------------------------
#
# The statements intake runs for every message are built once, at import, with bind
# parameters (named `b_…` so they never clash with a column in an UPDATE's SET) and the
# values are passed to `execute`. Building a statement and its cache key on each call cost
# about 75 µs of the ~100 µs a simple query took on SQLite; a reused statement keeps its
# cache key (SQLAlchemy memoizes it on the object) and goes straight to the compiled cache.


def _normalise_email(email: str) -> str:
    return email.strip().lower()


_CUSTOMER_BY_ID = select(t.customers).where(t.customers.c.id == bindparam("b_id"))
_CUSTOMER_BY_EMAIL = select(t.customers).where(t.customers.c.email == bindparam("b_email"))
_INSERT_CUSTOMER = t.customers.insert()
_UPDATE_CUSTOMER = t.customers.update().where(t.customers.c.id == bindparam("b_id"))


class SqlCustomers(_Repository):
    def get(self, customer_id: int) -> Customer | None:
        return self._one(_CUSTOMER_BY_ID, b_id=customer_id)

    def get_by_email(self, email: str) -> Customer | None:
        """Case-insensitive: addresses are stored lower-cased, so the unique index decides."""
        return self._one(_CUSTOMER_BY_EMAIL, b_email=_normalise_email(email))

    def add(self, customer: Customer) -> Customer:
        customer = dataclasses.replace(customer, email=_normalise_email(customer.email))
        new_id = _inserted_id(self._conn, _INSERT_CUSTOMER, _values(customer))
        return dataclasses.replace(customer, id=new_id)

    def save(self, customer: Customer) -> None:
        customer_id = _require_id(customer.id, "customer")
        customer = dataclasses.replace(customer, email=_normalise_email(customer.email))
        values = {**_values(customer), "b_id": customer_id}
        _update_one(self._conn, _UPDATE_CUSTOMER, f"customer {customer_id}", values)

    def _one(self, statement: Any, **params: Any) -> Customer | None:
        row = self._conn.execute(statement, params).mappings().first()
        return None if row is None else _record(Customer, row)


_TICKET_BY_ID = select(t.tickets).where(t.tickets.c.id == bindparam("b_id"))
_TICKET_BY_REF = select(t.tickets).where(t.tickets.c.ref == bindparam("b_ref"))
_INSERT_TICKET = t.tickets.insert()
_UPDATE_TICKET = t.tickets.update().where(t.tickets.c.id == bindparam("b_id"))
_COUNT_CUSTOMER_TICKETS = select(func.count()).where(
    t.tickets.c.customer_id == bindparam("b_customer_id"),
    t.tickets.c.created_at >= bindparam("b_since", type_=t.UtcDateTime()),
)


class SqlTickets(_Repository):
    def add(self, ticket: Ticket) -> Ticket:
        """The public ref derives from the id, which exists only after the INSERT; both
        statements run in the caller's transaction, so no one sees a ticket without a ref."""
        new_id = _inserted_id(self._conn, _INSERT_TICKET, _values(ticket, skip=("id", "ref")))
        ref = f"T{new_id}"
        self._conn.execute(_UPDATE_TICKET, {"ref": ref, "b_id": new_id})
        return dataclasses.replace(ticket, id=new_id, ref=ref)

    def get(self, ticket_id: int) -> Ticket | None:
        return self._one(_TICKET_BY_ID, b_id=ticket_id)

    def get_by_ref(self, ref: str) -> Ticket | None:
        return self._one(_TICKET_BY_REF, b_ref=ref)

    def save(self, ticket: Ticket) -> None:
        """Writes every field but the id and the ref, which never change."""
        ticket_id = _require_id(ticket.id, "ticket")
        values = {**_values(ticket, skip=("id", "ref")), "b_id": ticket_id}
        _update_one(self._conn, _UPDATE_TICKET, f"ticket {ticket_id}", values)

    def list(
        self, *, status: TicketStatus | None = None, limit: int = 50, offset: int = 0
    ) -> list[Ticket]:
        query = select(t.tickets)
        if status is not None:
            query = query.where(t.tickets.c.status == status.value)
        query = (
            query.order_by(t.tickets.c.created_at.desc(), t.tickets.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_record(Ticket, row) for row in self._conn.execute(query).mappings()]

    def count_for_customer_since(self, customer_id: int, since: datetime) -> int:
        params = {"b_customer_id": customer_id, "b_since": since}
        return int(self._conn.execute(_COUNT_CUSTOMER_TICKETS, params).scalar_one())

    def search(self, query: TicketQuery) -> TicketPage:
        c = t.tickets.c
        conditions: list[ColumnElement[bool]] = []
        if query.status is not None:
            conditions.append(c.status == query.status.value)
        if query.priority is not None:
            conditions.append(c.priority == query.priority.value)
        if query.category is not None:
            conditions.append(c.category == query.category)
        if query.assignee is not None:
            conditions.append(c.assignee == query.assignee)
        if query.customer_email is not None:
            # The unique index on customers.email finds the one id; tickets use their index.
            customer = select(t.customers.c.id).where(
                t.customers.c.email == _normalise_email(query.customer_email)
            )
            conditions.append(c.customer_id.in_(customer.scalar_subquery()))
        if query.text:
            # A substring can use no B-tree index. On PostgreSQL the trigram index on
            # lower(subject) serves it (0009); on SQLite the other filters narrow first.
            # lower() on both sides: SQLite's LIKE folds ASCII only, PostgreSQL's none.
            conditions.append(func.lower(c.subject).contains(query.text.lower(), autoescape=True))
        # Count no further than the limit: one more says "more than that" (a broad filter
        # would otherwise read every match, a million for none, however small the page).
        matching = select(c.id).where(*conditions).limit(query.count_limit + 1).subquery()
        counted = int(self._conn.execute(select(func.count()).select_from(matching)).scalar_one())
        # Every page is read with one row beyond it, which says whether the listing goes on
        # (and where the next page starts) without a second count as deep as the page.
        if counted <= query.count_limit:
            rows = self._page(query, conditions, known=counted)
            return TicketPage(rows[: query.limit], counted, next=_next(query, rows))
        rows = self._page(query, conditions)
        if len(rows) > query.limit:
            # By cursor the page's depth is unknown: the count limit is all that is known.
            deep = query.count_limit if query.after else query.offset + query.limit
            more_than = max(query.count_limit, deep)
            return TicketPage(rows[:-1], more_than, total_exact=False, next=_next(query, rows))
        if rows and query.after is None:  # the last page: now the total is known
            return TicketPage(rows, query.offset + len(rows))
        return TicketPage(rows, query.count_limit, total_exact=False)  # last page or past it

    def _page(
        self,
        query: TicketQuery,
        conditions: Sequence[ColumnElement[bool]],
        *,
        known: int | None = None,
    ) -> tuple[Ticket, ...]:
        """`query`'s page and the row after it, of the matching tickets, of which there are
        `known` when counted. PostgreSQL, asked for a few rows in an indexed order, scans
        that index and filters, expecting matches all along; when they cluster at the far
        end, or there are none, it reads most of the table (a second, say, for status=new by
        resolution due). A known small number of matches is therefore fetched first (a
        MATERIALIZED CTE, by the filters' own indexes) and sorted after. A cursor's place is
        a row comparison on (sort column, id), which PostgreSQL reads from the sort's index
        as a range start, so a deep page costs what the first does."""
        if known is not None and query.offset >= known:
            return ()
        name = _TICKET_SORT[query.sort]
        rows = query.limit + 1
        is_postgresql = self._conn.dialect.name == "postgresql"
        source: Any = t.tickets
        if known is not None and is_postgresql:
            source = select(t.tickets).where(*conditions).cte("matches").prefix_with("MATERIALIZED")
            conditions = ()
        elif is_postgresql and name in _NULLABLE_SORTS and (query.descending or query.after):
            source = _nulls_after(query, conditions, query.offset + rows)  # cursor included
            conditions = ()
        if query.after is not None and source.name != _FIRSTS:
            conditions = (*conditions, _after(source.c, query))
        column = source.c[name]
        ordered = column.desc() if query.descending else column.asc()
        if name in _NULLABLE_SORTS:
            # Only where NULLs can be: on a NOT NULL column NULLS LAST changes no order, but
            # PostgreSQL then cannot read a DESC order from an index (which has NULLs first).
            ordered = ordered.nulls_last()
        tiebreak = source.c.id.desc() if query.descending else source.c.id.asc()
        found = self._conn.execute(
            select(source)
            .where(*conditions)
            .order_by(ordered, tiebreak)
            .limit(rows)
            .offset(query.offset)
        )
        return _records(Ticket, found)

    def _one(self, statement: Any, **params: Any) -> Ticket | None:
        row = self._conn.execute(statement, params).mappings().first()
        return None if row is None else _record(Ticket, row)


_TICKET_SORT = {
    TicketSort.CREATED_AT: "created_at",
    TicketSort.UPDATED_AT: "updated_at",
    TicketSort.PRIORITY: "priority",  # "P0" < "P3": ascending is most urgent first
    TicketSort.RESOLUTION_DUE: "resolution_due",
}
_NULLABLE_SORTS = frozenset(name for name in _TICKET_SORT.values() if t.tickets.c[name].nullable)
_FIRSTS = "firsts"  # the subquery of _nulls_after, which applies a cursor itself


def _nulls_after(query: TicketQuery, conditions: Sequence[ColumnElement[bool]], rows: int) -> Any:
    """The first `rows` matches (after the query's cursor, if any) in `name` NULLS LAST
    order, for the database to sort. PostgreSQL's index on `name`, read backwards, gives
    DESC NULLS *first*, so it would sort every match instead (a quarter of a second for a
    million); and a cursor's "after this value, or NULL" is an OR no index serves. The
    non-NULL ones come from the index in order, the NULL ones after them by id, each at
    most `rows`."""
    name = _TICKET_SORT[query.sort]
    column, tickets_id = t.tickets.c[name], t.tickets.c.id
    newest_first = query.descending
    present_after: list[ColumnElement[bool]] = []
    absent_after: list[ColumnElement[bool]] = []
    if query.after is not None and query.after.value is None:  # already among the NULLs
        present_after.append(false())
        absent_after.append(_beyond(tickets_id, query.after.ticket_id, newest_first))
    elif query.after is not None:
        present_after.append(_beyond_place(t.tickets.c, query))
    present = (
        select(t.tickets)
        .where(*conditions, column.is_not(None), *present_after)
        .order_by(column.desc() if newest_first else column.asc(), _by_id(tickets_id, query))
        .limit(rows)
    )
    absent = (
        select(t.tickets)
        .where(*conditions, column.is_(None), *absent_after)
        .order_by(_by_id(tickets_id, query))
        .limit(rows)
    )
    return union_all(present, absent).subquery(_FIRSTS)


def _by_id(tickets_id: Any, query: TicketQuery) -> Any:
    return tickets_id.desc() if query.descending else tickets_id.asc()


def _beyond(expression: Any, value: Any, descending: bool) -> ColumnElement[bool]:
    """`expression` comes after `value` in the listing's direction."""
    later: ColumnElement[bool] = expression < value if descending else expression > value
    return later


def _beyond_place(columns: Any, query: TicketQuery) -> ColumnElement[bool]:
    """After the cursor's (value, id) on (sort column, id), as one row comparison:
    PostgreSQL reads it as a range of the sort column's index (of (priority, id) whole)."""
    assert query.after is not None
    name = _TICKET_SORT[query.sort]
    column = columns[name]
    value = literal(query.after.value, type_=t.tickets.c[name].type)
    place = tuple_(value, literal(query.after.ticket_id))
    return _beyond(tuple_(column, columns.id), place, query.descending)


def _after(columns: Any, query: TicketQuery) -> ColumnElement[bool]:
    """The rows after the query's cursor in its order (NULLs last, by id among them)."""
    assert query.after is not None
    column = columns[_TICKET_SORT[query.sort]]
    if query.after.value is None:
        return and_(column.is_(None), _beyond(columns.id, query.after.ticket_id, query.descending))
    later = _beyond_place(columns, query)
    return or_(later, column.is_(None)) if query.sort.value in _NULLABLE_SORTS else later


def _next(query: TicketQuery, rows: Sequence[Ticket]) -> TicketPosition | None:
    """Where the page after this one starts: at its last ticket, when a row follows it."""
    if len(rows) <= query.limit:
        return None
    last = rows[query.limit - 1]
    assert last.id is not None
    value = getattr(last, query.sort.value)
    if isinstance(value, Enum):
        value = value.value
    return TicketPosition(query.sort, query.descending, value, last.id)


def _attachment_metadata(attachment: Attachment) -> dict[str, Any]:
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
    }


def _encode_recipients(recipients: Sequence[str]) -> str:
    """A JSON list, so any address round-trips exactly, even one with a quoted space."""
    return json.dumps(list(recipients), ensure_ascii=False)


def _decode_recipients(stored: str) -> tuple[str, ...]:
    return tuple(json.loads(stored))


def _except(table: Any, name: str) -> list[Any]:
    return [column for column in table.c if column.name != name]


_INSERT_MESSAGE = t.messages.insert()
_INSERT_ATTACHMENT = t.attachments.insert()
_MESSAGE_BY_EXTERNAL_ID = select(t.messages).where(
    t.messages.c.channel == bindparam("b_channel"),
    t.messages.c.external_id == bindparam("b_external_id"),
)
_TICKET_ID_BY_EXTERNAL_IDS = (
    select(t.messages.c.ticket_id)
    .where(t.messages.c.external_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(t.messages.c.created_at.desc(), t.messages.c.id.desc())
    .limit(1)
)
# By `with_content`: without it, the raw bytes and the attachments' contents stay stored.
_MESSAGES_FOR_TICKET = {
    with_content: select(*(t.messages.c if with_content else _except(t.messages, "raw")))
    .where(t.messages.c.ticket_id == bindparam("b_ticket_id"))
    .order_by(t.messages.c.created_at, t.messages.c.id)
    for with_content in (True, False)
}
_ATTACHMENTS_FOR_MESSAGES = {
    with_content: select(*(t.attachments.c if with_content else _except(t.attachments, "content")))
    .where(t.attachments.c.message_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(t.attachments.c.id)
    for with_content in (True, False)
}


class SqlMessages(_Repository):
    def add(self, message: Message) -> Message:
        values = _values(message)
        values["attachments"] = [_attachment_metadata(a) for a in message.attachments]
        values["recipients"] = _encode_recipients(message.recipients)
        new_id = _inserted_id(self._conn, _INSERT_MESSAGE, values)
        if message.attachments:
            self._conn.execute(
                _INSERT_ATTACHMENT,
                [
                    {**_attachment_metadata(a), "message_id": new_id, "content": a.content}
                    for a in message.attachments
                ],
            )
        return dataclasses.replace(message, id=new_id)

    def get_by_external_id(self, channel: Channel, external_id: str) -> Message | None:
        params = {"b_channel": channel.value, "b_external_id": external_id}
        found = self._load(_MESSAGE_BY_EXTERNAL_ID, params)
        return found[0] if found else None

    def find_ticket_id(self, external_ids: Sequence[str]) -> int | None:
        if not external_ids:
            return None
        params = {"b_ids": list(external_ids)}
        ticket_id = self._conn.execute(_TICKET_ID_BY_EXTERNAL_IDS, params).scalar()
        return None if ticket_id is None else int(ticket_id)

    def list_for_ticket(self, ticket_id: int, *, with_content: bool = True) -> list[Message]:
        query = _MESSAGES_FOR_TICKET[with_content]
        return self._load(query, {"b_ticket_id": ticket_id}, with_content=with_content)

    def _load(
        self, query: Any, params: dict[str, Any] | None = None, *, with_content: bool = True
    ) -> list[Message]:
        """Messages with their attachments: two queries, however many messages. Without
        content, the raw bytes and the attachments' contents stay in the database (None)."""
        rows = list(self._conn.execute(query, params).mappings())
        if not rows:
            return []
        by_message: dict[int, list[Attachment]] = {row["id"]: [] for row in rows}
        # `add` writes a message's attachment rows and their metadata column together, so
        # messages whose metadata lists none have no rows: most need no second query.
        with_files = [row["id"] for row in rows if row["attachments"]]
        attachment_rows = (
            self._conn.execute(
                _ATTACHMENTS_FOR_MESSAGES[with_content], {"b_ids": with_files}
            ).mappings()
            if with_files
            else ()
        )
        skipped: dict[str, Any] = {} if with_content else {"content": None}
        for row in attachment_rows:
            by_message[row["message_id"]].append(_record(Attachment, row, **skipped))
        return [
            _record(
                Message,
                row,
                attachments=tuple(by_message[row["id"]]),
                recipients=_decode_recipients(row["recipients"]),
                **({} if with_content else {"raw": None}),
            )
            for row in rows
        ]


def _draft(row: RowMapping) -> Draft:
    return _record(
        Draft,
        row,
        sources=_decode_recipients(row["sources"]),
        flags=_decode_recipients(row["flags"]),
    )


_INSERT_DRAFT = t.drafts.insert()
_DRAFTS_FOR_TICKET = (
    select(t.drafts)
    .where(t.drafts.c.ticket_id == bindparam("b_ticket_id"))
    .order_by(t.drafts.c.version)
)
_TRANSITION_DRAFT = (
    t.drafts.update()
    .where(
        t.drafts.c.id == bindparam("b_id"),
        t.drafts.c.version == bindparam("b_version"),
        t.drafts.c.status.in_(bindparam("b_from", expanding=True)),
    )
    .values(
        status=bindparam("b_status", type_=t.drafts.c.status.type),
        decided_by=func.coalesce(
            bindparam("b_actor", type_=t.drafts.c.decided_by.type), t.drafts.c.decided_by
        ),
        decided_at=func.coalesce(bindparam("b_at", type_=t.UtcDateTime()), t.drafts.c.decided_at),
        text=func.coalesce(bindparam("b_text", type_=Text()), t.drafts.c.text),
    )
)


class SqlDrafts(_Repository):
    def add(self, draft: Draft) -> Draft:
        values = _values(draft)
        values["sources"] = _encode_recipients(draft.sources)
        values["flags"] = _encode_recipients(draft.flags)
        new_id = _inserted_id(self._conn, _INSERT_DRAFT, values)
        return dataclasses.replace(draft, id=new_id)

    def get(self, draft_id: int) -> Draft | None:
        row = (
            self._conn.execute(select(t.drafts).where(t.drafts.c.id == draft_id)).mappings().first()
        )
        return None if row is None else _draft(row)

    def latest_for_ticket(self, ticket_id: int) -> Draft | None:
        drafts = self.list_for_ticket(ticket_id)
        return drafts[-1] if drafts else None

    def list_for_ticket(self, ticket_id: int) -> list[Draft]:
        """Oldest version first."""
        rows = self._conn.execute(_DRAFTS_FOR_TICKET, {"b_ticket_id": ticket_id}).mappings()
        return [_draft(row) for row in rows]

    def transition(
        self,
        draft_id: int,
        *,
        version: int,
        from_statuses: Sequence[DraftStatus],
        to_status: DraftStatus,
        actor: str | None = None,
        at: datetime | None = None,
        text: str | None = None,
    ) -> bool:
        """One conditional UPDATE, so the database decides a race: of two approvers (or two
        clicks) only one matches `status IN (...)`; the other's UPDATE, blocked on the row
        lock (PostgreSQL) or the write lock (SQLite), then matches nothing.

        `None` keeps the stored value, so a later step (approved → sent) that names no actor
        does not erase who approved.
        """
        if not from_statuses:
            return False
        params = {
            "b_id": draft_id,
            "b_version": version,
            "b_from": [s.value for s in from_statuses],
            "b_status": to_status.value,
            "b_actor": actor,
            "b_at": at,
            "b_text": text,
        }
        return self._conn.execute(_TRANSITION_DRAFT, params).rowcount == 1

    def add_decision(self, decision: Decision) -> Decision:
        new_id = _inserted_id(self._conn, t.decisions.insert().values(**_values(decision)))
        return dataclasses.replace(decision, id=new_id)

    def list_decisions(self, draft_id: int) -> list[Decision]:
        query = (
            select(t.decisions)
            .where(t.decisions.c.draft_id == draft_id)
            .order_by(t.decisions.c.at, t.decisions.c.id)
        )
        return [_record(Decision, row) for row in self._conn.execute(query).mappings()]


class SqlOutbox(_Repository):
    def add(self, item: OutboxItem) -> OutboxItem:
        values = _values(item)
        values["references"] = " ".join(item.references)
        new_id = _inserted_id(self._conn, t.outbox.insert().values(**values))
        return dataclasses.replace(item, id=new_id)

    def get(self, item_id: int) -> OutboxItem | None:
        found = self._load(select(t.outbox).where(t.outbox.c.id == item_id))
        return found[0] if found else None

    def list_for_ticket(self, ticket_id: int) -> list[OutboxItem]:
        query = (
            select(t.outbox)
            .where(t.outbox.c.ticket_id == ticket_id)
            .order_by(t.outbox.c.created_at, t.outbox.c.id)
        )
        return self._load(query)

    def mark_sent(self, item_id: int, *, at: datetime) -> bool:
        """Conditional on `pending`, like a draft transition: of two senders racing for the
        same item, only one records the send. The lease is released with it."""
        statement = (
            t.outbox.update()
            .where(t.outbox.c.id == item_id, t.outbox.c.status == OutboxStatus.PENDING.value)
            .values(status=OutboxStatus.SENT.value, sent_at=at, lease_owner=None, lease_until=None)
        )
        return self._conn.execute(statement).rowcount == 1

    def claim_due(
        self, *, now: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[OutboxItem]:
        """Lease pending items that are due and not leased (or whose lease ran out), oldest
        id first; the caller commits. Locking as in `SqlActions.claim_due`: `FOR UPDATE SKIP
        LOCKED` on PostgreSQL, the `BEGIN IMMEDIATE` write lock on SQLite."""
        c = t.outbox.c
        statement = _lease_statement(
            self._conn,
            t.outbox,
            claimable=(
                c.status == OutboxStatus.PENDING.value,
                c.next_attempt_at.is_(None) | (c.next_attempt_at <= now),
            ),
            order_by=(c.id,),
            now=now,
            owner=owner,
            lease_seconds=lease_seconds,
            limit=limit,
        )
        if statement is None:
            return []
        # RETURNING promises no order.
        return sorted(self._load(statement), key=lambda item: item.id or 0)

    def count_automatic_since(self, recipient: str, since: datetime) -> int:
        """Case-insensitive on the address, with the database's `lower()` on both sides
        (ASCII-only on SQLite), which the index on (lower(recipient), created_at) serves.
        Every status counts: a failed acknowledgement was still meant for that address."""
        c = t.outbox.c
        query = select(func.count()).where(
            c.automatic.is_(True),
            func.lower(c.recipient) == func.lower(recipient),
            c.created_at >= since,
        )
        return int(self._conn.execute(query).scalar_one())

    def record_failure(
        self, item_id: int, *, owner: str, error: str, retry_at: datetime | None
    ) -> bool:
        """Conditional on `owner` holding the lease of a pending item, like
        `SqlActions.complete`: a sender whose lease was taken over records nothing."""
        c = t.outbox.c
        status = OutboxStatus.FAILED if retry_at is None else OutboxStatus.PENDING
        statement = (
            t.outbox.update()
            .where(c.id == item_id, c.lease_owner == owner, c.status == OutboxStatus.PENDING.value)
            .values(
                status=status.value,
                last_error=error,
                next_attempt_at=retry_at,
                lease_owner=None,
                lease_until=None,
            )
        )
        return self._conn.execute(statement).rowcount == 1

    def _load(self, statement: Any) -> list[OutboxItem]:
        return [
            _record(OutboxItem, row, references=tuple(row["references"].split()))
            for row in self._conn.execute(statement).mappings()
        ]


_INSERT_QUARANTINED = t.quarantine.insert()
_QUARANTINED_BY_SOURCE_ID = (
    select(t.quarantine)
    .where(
        t.quarantine.c.source_id == bindparam("b_source_id"),
        t.quarantine.c.status != QuarantineStatus.REPROCESSED.value,
    )
    .order_by(t.quarantine.c.received_at.desc(), t.quarantine.c.id.desc())
    .limit(1)
)


class SqlQuarantine(_Repository):
    def add(self, item: QuarantineItem) -> QuarantineItem:
        new_id = _inserted_id(self._conn, _INSERT_QUARANTINED, _values(item))
        return dataclasses.replace(item, id=new_id)

    def get(self, item_id: int) -> QuarantineItem | None:
        found = self._load(select(t.quarantine).where(t.quarantine.c.id == item_id))
        return found[0] if found else None

    def get_by_source_id(self, source_id: str) -> QuarantineItem | None:
        """The newest item for this source not yet reprocessed (held or ignored): a retried
        message that fails again finds it and is not quarantined twice."""
        found = self._load(_QUARANTINED_BY_SOURCE_ID, {"b_source_id": source_id})
        return found[0] if found else None

    def list(self, *, status: QuarantineStatus | None = None) -> list[QuarantineItem]:
        """Newest first, like the ticket list."""
        query = select(t.quarantine)
        if status is not None:
            query = query.where(t.quarantine.c.status == status.value)
        return self._load(
            query.order_by(t.quarantine.c.received_at.desc(), t.quarantine.c.id.desc())
        )

    def set_status(self, item_id: int, status: QuarantineStatus) -> None:
        statement = (
            t.quarantine.update().where(t.quarantine.c.id == item_id).values(status=status.value)
        )
        _update_one(self._conn, statement, f"quarantined item {item_id}")

    # `builtins.list`: inside this class body, `list` is the method above.
    def _load(
        self, query: Any, params: dict[str, Any] | None = None
    ) -> builtins.list[QuarantineItem]:
        rows = self._conn.execute(query, params).mappings()
        return [_record(QuarantineItem, row) for row in rows]


_INSERT_AUDIT_EVENT = t.audit_events.insert()


class SqlAudit(_Repository):
    def add(self, event: AuditEvent) -> AuditEvent:
        new_id = _inserted_id(self._conn, _INSERT_AUDIT_EVENT, _values(event))
        return dataclasses.replace(event, id=new_id)

    def list_for_ticket(self, ticket_id: int) -> list[AuditEvent]:
        query = (
            select(t.audit_events)
            .where(t.audit_events.c.ticket_id == ticket_id)
            .order_by(t.audit_events.c.at, t.audit_events.c.id)
        )
        return [_record(AuditEvent, row) for row in self._conn.execute(query).mappings()]

    def ticket_ids_with(self, actions: Sequence[str]) -> list[int]:
        c = t.audit_events.c
        query = (
            select(c.ticket_id)
            .distinct()
            .where(c.action.in_(list(actions)), c.ticket_id.is_not(None))
            .order_by(c.ticket_id)
        )
        return [int(row) for row in self._conn.execute(query).scalars()]

    def list_for_key(self, action: str, idem_key: str) -> list[AuditEvent]:
        """A LIKE on the detail text narrows the rows (written by `json.dumps`, so the key
        appears as `"idem_key": "<key>"`); the parsed detail decides."""
        c = t.audit_events.c
        needle = f'"idem_key": {json.dumps(idem_key)}'
        query = (
            select(t.audit_events)
            .where(c.action == action, c.detail.contains(needle, autoescape=True))
            .order_by(c.at, c.id)
        )
        events = [_record(AuditEvent, row) for row in self._conn.execute(query).mappings()]
        return [e for e in events if json.loads(e.detail).get("idem_key") == idem_key]


@cache
def _add_or_revive_statement(dialect: str) -> Insert:
    """`SqlActions.add_or_revive`'s statement for one backend, built once. RETURNING only
    on PostgreSQL: sqlite3 counts the rows an executemany wrote (and psycopg does not),
    and without RETURNING SQLite runs the rows three times faster."""
    c = t.scheduled_actions.c
    is_postgresql = dialect == "postgresql"
    insert = (postgresql.insert if is_postgresql else sqlite.insert)(t.scheduled_actions)
    statement = insert.on_conflict_do_update(
        index_elements=[c.idem_key],
        set_={
            "status": ActionStatus.PENDING.value,
            "due_at": insert.excluded.due_at,
            "payload": insert.excluded.payload,
            "lease_owner": None,
            "lease_until": None,
            "last_error": None,
        },
        where=c.status == ActionStatus.CANCELLED.value,
    )
    return statement.returning(c.id) if is_postgresql else statement


_CANCEL_TICKET_ACTIONS = (
    t.scheduled_actions.update()
    .where(
        t.scheduled_actions.c.ticket_id == bindparam("b_ticket_id"),
        t.scheduled_actions.c.kind.in_(bindparam("b_kinds", expanding=True)),
        t.scheduled_actions.c.status == ActionStatus.PENDING.value,
        t.scheduled_actions.c.idem_key.not_in(bindparam("b_except", expanding=True)),
    )
    .values(status=ActionStatus.CANCELLED.value)
)


class SqlActions(_Repository):
    """Durable scheduled actions, leased to one owner at a time (notes/libraries.md §2)."""

    def add_if_absent(self, action: ScheduledAction) -> bool:
        """`ON CONFLICT DO NOTHING`: several instances may enqueue the same idempotency key
        at once, and the unique index keeps exactly one without anyone seeing an error."""
        statement = (
            _dialect_insert(self._conn, t.scheduled_actions)
            .values(**_values(action))
            .on_conflict_do_nothing(index_elements=[t.scheduled_actions.c.idem_key])
            # A returned id, not rowcount: with RETURNING, psycopg reports rowcount -1.
            .returning(t.scheduled_actions.c.id)
        )
        return self._conn.execute(statement).first() is not None

    def get_by_key(self, idem_key: str) -> ScheduledAction | None:
        query = select(t.scheduled_actions).where(t.scheduled_actions.c.idem_key == idem_key)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _record(ScheduledAction, row)

    def add_or_revive(self, *actions: ScheduledAction) -> int:
        """`ON CONFLICT DO UPDATE … WHERE status = 'cancelled'`: a deadline that moves away
        and back (a pause with no business time in it) gets its cancelled rows back, while
        a done row is never run again. Rows are counted only when written: by RETURNING on
        PostgreSQL, by the driver's row count on SQLite (a DO UPDATE whose WHERE fails
        changes nothing). One prebuilt statement runs with the list of rows: a statement
        per row cost a ticket's intake 16 ms, and a multi-row `.values([...])` is compiled
        afresh on every call (1.5 ms)."""
        if not actions:
            return 0
        dialect = self._conn.dialect.name
        result = self._conn.execute(
            _add_or_revive_statement(dialect), [_values(a) for a in actions]
        )
        return len(result.all()) if dialect == "postgresql" else int(result.rowcount)

    def cancel_for_ticket(
        self,
        ticket_id: int,
        *,
        kinds: Sequence[str],
        except_keys: Sequence[str] = (),
        key_contains: str | None = None,
    ) -> int:
        if key_contains is None:  # what every follow-up runs: a prebuilt statement
            params = {
                "b_ticket_id": ticket_id,
                "b_kinds": list(kinds),
                "b_except": list(except_keys),
            }
            return int(self._conn.execute(_CANCEL_TICKET_ACTIONS, params).rowcount)
        c = t.scheduled_actions.c
        conditions = [
            c.ticket_id == ticket_id,
            c.kind.in_(list(kinds)),
            c.status == ActionStatus.PENDING.value,
        ]
        if except_keys:
            conditions.append(c.idem_key.not_in(list(except_keys)))
        if key_contains is not None:
            conditions.append(c.idem_key.contains(key_contains, autoescape=True))
        statement = (
            t.scheduled_actions.update()
            .where(*conditions)
            .values(status=ActionStatus.CANCELLED.value)
        )
        return int(self._conn.execute(statement).rowcount)

    def list_for_kind(
        self, kind: str, *, statuses: Sequence[ActionStatus] = ()
    ) -> list[ScheduledAction]:
        c = t.scheduled_actions.c
        query = select(t.scheduled_actions).where(c.kind == kind)
        if statuses:
            query = query.where(c.status.in_([s.value for s in statuses]))
        rows = self._conn.execute(query.order_by(c.due_at, c.id)).mappings()
        return [_record(ScheduledAction, row) for row in rows]

    def claim_due(
        self,
        *,
        now: datetime,
        owner: str,
        lease_seconds: float,
        limit: int,
        kinds: Collection[str] | None = None,
    ) -> list[ScheduledAction]:
        """Select due, unleased (or lease-expired) rows and lease them; the caller commits.

        On PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass over rows
        another transaction is leasing right now instead of waiting for them. SQLite has no
        row locks (SQLAlchemy renders no FOR UPDATE there), but the transaction began with
        `BEGIN IMMEDIATE`, so no other writer runs between our SELECT and UPDATE.
        """
        c = t.scheduled_actions.c
        claimable = [c.status == ActionStatus.PENDING.value, c.due_at <= now]
        if kinds is not None:
            claimable.append(c.kind.in_(sorted(kinds)))
        statement = _lease_statement(
            self._conn,
            t.scheduled_actions,
            claimable=tuple(claimable),
            order_by=(c.due_at, c.id),
            now=now,
            owner=owner,
            lease_seconds=lease_seconds,
            limit=limit,
        )
        if statement is None:
            return []
        claimed = [
            _record(ScheduledAction, row) for row in self._conn.execute(statement).mappings()
        ]
        return sorted(claimed, key=lambda action: (action.due_at, action.id or 0))

    def finish(self, idem_key: str, *, owner: str, now: datetime) -> bool:
        c = t.scheduled_actions.c
        statement = (
            t.scheduled_actions.update()
            .where(
                c.idem_key == idem_key,
                c.status == ActionStatus.PENDING.value,
                (c.lease_owner == owner) | _lease_is_free(c.lease_until, now),
            )
            .values(status=ActionStatus.DONE.value, done_at=now)
        )
        return self._conn.execute(statement).rowcount == 1

    def complete(self, action_id: int, *, owner: str) -> bool:
        c = t.scheduled_actions.c
        statement = (
            t.scheduled_actions.update()
            .where(
                c.id == action_id,
                c.lease_owner == owner,
                c.status == ActionStatus.PENDING.value,
            )
            # The port passes no time; done_at is for people reading the table, not for rules.
            .values(status=ActionStatus.DONE.value, done_at=datetime.now(UTC))
        )
        return self._conn.execute(statement).rowcount == 1


class SqlReports(_Repository):
    def tickets_alive(self, start: datetime, end: datetime) -> list[Ticket]:
        c = t.tickets.c
        query = (
            select(t.tickets)
            .where(c.created_at < end, c.resolved_at.is_(None) | (c.resolved_at >= start))
            .order_by(c.created_at, c.id)
        )
        return [_record(Ticket, row) for row in self._conn.execute(query).mappings()]

    def period(self, query: PeriodQuery) -> PeriodReport:
        """Counts in one pass over the period's alive tickets, percentiles in a second, the
        breaches and the unhappiest in two more (only with `details`), each served by the
        indexes on the times it ranges over (0009). The Python reference is
        `core.digest.summarize`; tests hold the two equal on both backends."""
        c = t.tickets.c
        start, end = query.start, query.end

        def within(column: ColumnElement[Any]) -> ColumnElement[bool]:
            return (column >= start) & (column < end)

        alive = (c.created_at < end) & (c.resolved_at.is_(None) | (c.resolved_at >= start))
        still_open = c.status.in_([s.value for s in query.open_statuses]) & (
            c.resolved_at.is_(None) | (c.resolved_at >= end)
        )
        # Age at `end` below a limit ⇔ created after `end - limit`: each bucket holds those
        # below its limit but not below the one before; the last holds the rest.
        below = [c.created_at > end - limit for limit in query.age_limits]
        age_buckets = [
            still_open & limit & ~below[n - 1] if n else still_open & limit
            for n, limit in enumerate(below)
        ]
        age_buckets.append(still_open & ~below[-1] if below else still_open)
        clocks = (
            ("first response", c.first_response_due, c.first_responded_at),
            ("resolution", c.resolution_due, c.resolved_at),
        )
        sla: list[ColumnElement[int]] = []
        for _, due, done in clocks:
            done_in_period = done.is_not(None) & within(done)
            sla.append(_count_if(due.is_not(None) & done_in_period & (done <= due)))
            sla.append(
                _count_if(due.is_not(None) & (done_in_period | (done.is_(None) & within(due))))
            )
        is_new = within(c.created_at)
        groups = self._conn.execute(
            select(
                c.priority,
                c.category,
                _count_if(is_new),
                # The category's first new ticket, for Counter.most_common's ties.
                func.min(case((is_new, c.created_at))),
                func.min(case((is_new, c.id))),
                _count_if(within(c.resolved_at)),
                *(_count_if(bucket) for bucket in age_buckets),
                *sla,
            )
            .where(alive)
            .group_by(c.priority, c.category)
        ).all()
        open_by_priority = {p.value: 0 for p in Priority}
        open_by_age = [0] * len(age_buckets)
        categories: dict[str, tuple[int, datetime, int]] = {}
        new = resolved = met = total = 0
        for priority, category, n_new, first_at, first_id, n_resolved, *rest in groups:
            ages, (fr_met, fr_total, rs_met, rs_total) = rest[: len(age_buckets)], rest[-4:]
            new, resolved = new + n_new, resolved + n_resolved
            open_by_priority[str(priority)] += sum(ages)
            open_by_age = [a + b for a, b in zip(open_by_age, ages, strict=True)]
            met, total = met + fr_met + rs_met, total + fr_total + rs_total
            if n_new:
                seen = categories.get(category, (0, first_at, first_id))
                categories[category] = (
                    seen[0] + n_new,
                    min(seen[1], first_at),
                    min(seen[2], first_id),
                )
        top = sorted(categories.items(), key=lambda item: (-item[1][0], *item[1][1:]))
        first_response, resolution = self._times(query, alive, within)
        breaches: tuple[Breach, ...] = ()
        unhappy: tuple[Ticket, ...] = ()
        if query.details:
            breaches = self._breaches(alive, within, clocks, limit=query.breach_limit)
            rows = self._conn.execute(
                select(t.tickets)
                .where(alive, still_open, c.sentiment >= query.unhappy_sentiment)
                .order_by(c.sentiment.desc(), c.sentiment_score, c.created_at, c.id)
                .limit(query.unhappy_limit)
            ).mappings()
            unhappy = tuple(_record(Ticket, row) for row in rows)
        return PeriodReport(
            new=new,
            resolved=resolved,
            open_by_priority=open_by_priority,
            open_by_age=tuple(open_by_age),
            first_response_minutes=first_response,
            resolution_minutes=resolution,
            sla_met=met,
            sla_total=total,
            breaches=breaches,
            top_categories=tuple(
                (str(name), count) for name, (count, *_) in top[: query.top_categories]
            ),
            unhappy=unhappy,
        )

    def _breaches(
        self,
        alive: ColumnElement[bool],
        within: Callable[[Any], ColumnElement[bool]],
        clocks: Sequence[tuple[str, Any, Any]],
        *,
        limit: int | None,
    ) -> tuple[Breach, ...]:
        """Each clock answered late in the period, or due in it and not answered, by due
        time, then by ticket (creation, id), first response before resolution."""
        c = t.tickets.c

        def breached(order: int, clock: str, due: Any, done: Any) -> Select[Any]:
            late = done.is_not(None) & within(done) & (done > due)
            return select(
                c.ref,
                c.subject,
                literal(clock).label("clock"),
                due.label("due"),
                done.label("at"),
                c.created_at,
                c.id,
                literal(order).label("clock_order"),
            ).where(alive, due.is_not(None), late | (done.is_(None) & within(due)))

        breaches = union_all(*(breached(n, *clock) for n, clock in enumerate(clocks)))
        listed = breaches.selected_columns
        ordered = breaches.order_by(listed.due, listed.created_at, listed.id, listed.clock_order)
        rows = self._conn.execute(ordered if limit is None else ordered.limit(limit)).all()
        return tuple(Breach(row.ref, row.subject, row.clock, row.due, row.at) for row in rows)

    def _times(
        self,
        query: PeriodQuery,
        alive: ColumnElement[bool],
        within: Callable[[Any], ColumnElement[bool]],
    ) -> tuple[tuple[float | None, ...], tuple[float | None, ...]]:
        """Nearest-rank percentiles of the minutes to first response and to resolution, of
        those in the period. PostgreSQL's `percentile_disc` is exactly that (the first value
        whose rank reaches share·n, in the same float arithmetic) over the exact seconds;
        SQLite has no percentile aggregate, so its (few) rows come here."""
        c = t.tickets.c
        done = (c.first_responded_at, c.resolved_at)
        in_period = alive & (within(done[0]) | within(done[1]))
        if self._conn.dialect.name == "postgresql":
            seconds = [
                func.percentile_disc(share)
                .within_group(extract("epoch", column - c.created_at))
                .filter(within(column))
                for column in done
                for share in query.shares
            ]
            row = self._conn.execute(select(*seconds).where(in_period)).one()
            minutes = [None if value is None else float(value) / 60 for value in row]
            k = len(query.shares)
            return tuple(minutes[:k]), tuple(minutes[k:])
        rows = self._conn.execute(select(c.created_at, *done).where(in_period)).all()
        spans: tuple[list[float], list[float]] = ([], [])
        for created, *times in rows:
            for found, at in zip(spans, times, strict=True):
                if at is not None and query.start <= at < query.end:
                    found.append((at - created).total_seconds() / 60)
        first_response, resolution = (
            tuple(_nearest_rank(sorted(found), share) for share in query.shares) for found in spans
        )
        return first_response, resolution

    def history(
        self, end: datetime, *, days: int, open_statuses: Sequence[TicketStatus]
    ) -> list[DayCounts]:
        """One pass over the span's alive tickets: each becomes its creation day, its
        resolution day and the days its SLA clocks broke (-1 before the span, `days` after),
        grouped and counted by the database; the few hundred groups are spread over the days
        here, with `core.digest.history_from`'s rules."""
        c = t.tickets.c
        bounds = [end - timedelta(days=days - n) for n in range(days + 1)]

        def day_of(at: Any) -> Any:
            steps = [(at < bound, n - 1) for n, bound in enumerate(bounds)]
            return case((at.is_(None), null()), *steps, else_=days)

        def broke_on(due: Any, done: Any) -> Any:
            return case(
                (due.is_(None), null()),
                (done.is_(None), day_of(due)),
                (done > due, day_of(done)),
                else_=null(),
            )

        unresolved_open = c.resolved_at.is_(None) & c.status.in_([s.value for s in open_statuses])
        days_of = select(
            day_of(c.created_at).label("created"),
            day_of(c.resolved_at).label("resolved"),
            broke_on(c.first_response_due, c.first_responded_at).label("first_response"),
            broke_on(c.resolution_due, c.resolved_at).label("resolution"),
            case((unresolved_open, 1), else_=0).label("unresolved_open"),
        ).where(c.created_at < end, c.resolved_at.is_(None) | (c.resolved_at >= bounds[0]))
        # Grouped outside: PostgreSQL would not match a GROUP BY expression to the select's
        # when their bound parameters differ.
        spans = days_of.subquery()
        keys = (
            spans.c.created,
            spans.c.resolved,
            spans.c.first_response,
            spans.c.resolution,
            spans.c.unresolved_open,
        )
        groups = self._conn.execute(select(*keys, func.count()).group_by(*keys)).all()
        new, backlog, breaches = [0] * days, [0] * days, [0] * days
        for created, resolved, first_response, resolution, unresolved, count in groups:
            last = days - 1 if resolved is None else min(resolved, days - 1)
            for day in range(max(created, 0), last + 1):  # the days it was alive in
                if created == day:
                    new[day] += count
                if (resolved is not None and resolved > day) or (resolved is None and unresolved):
                    backlog[day] += count
                breaches[day] += count * ((first_response == day) + (resolution == day))
        return [
            DayCounts(bounds[day], new=new[day], backlog=backlog[day], breaches=breaches[day])
            for day in range(days)
        ]

    def decision_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        c = t.decisions.c
        query = select(c.action, func.count()).where(c.at >= start, c.at < end).group_by(c.action)
        return {str(action): int(n) for action, n in self._conn.execute(query)}

    def ticket_counts(self) -> dict[tuple[str, str], int]:
        c = t.tickets.c
        query = select(c.status, c.priority, func.count()).group_by(c.status, c.priority)
        return {(str(s), str(p)): int(n) for s, p, n in self._conn.execute(query)}

    def outbox_counts(self) -> dict[str, int]:
        c = t.outbox.c
        query = select(c.status, func.count()).group_by(c.status)
        return {str(status): int(n) for status, n in self._conn.execute(query)}

    def draft_counts(self) -> dict[str, int]:
        c = t.drafts.c
        query = select(c.status, func.count()).group_by(c.status)
        return {str(status): int(n) for status, n in self._conn.execute(query)}


class SqlUsers(_Repository):
    def add(self, user: User) -> User:
        new_id = _inserted_id(self._conn, t.users.insert().values(**_values(user)))
        return dataclasses.replace(user, id=new_id)

    def get(self, user_id: int) -> User | None:
        return self._one(t.users.c.id == user_id)

    def get_by_login(self, login: str) -> User | None:
        return self._one(t.users.c.login == login)

    def save(self, user: User) -> None:
        user_id = _require_id(user.id, "user")
        statement = t.users.update().where(t.users.c.id == user_id).values(**_values(user))
        _update_one(self._conn, statement, f"user {user_id}")

    def list(self) -> builtins.list[User]:
        rows = self._conn.execute(select(t.users).order_by(t.users.c.login)).mappings()
        return [_record(User, row) for row in rows]

    def _one(self, condition: Any) -> User | None:
        row = self._conn.execute(select(t.users).where(condition)).mappings().first()
        return None if row is None else _record(User, row)


_TOKEN_WITH_OWNER = (
    select(t.api_tokens, *(column.label(f"owner_{column.name}") for column in t.users.c))
    .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
    .where(t.api_tokens.c.token_hash == bindparam("b_hash"))
)


class SqlApiTokens(_Repository):
    def add(self, token: ApiToken) -> ApiToken:
        new_id = _inserted_id(self._conn, t.api_tokens.insert().values(**_values(token)))
        return dataclasses.replace(token, id=new_id)

    def get_by_hash(self, token_hash: str) -> ApiToken | None:
        query = select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _record(ApiToken, row)

    def get_with_owner(self, token_hash: str) -> tuple[ApiToken, User] | None:
        row = self._conn.execute(_TOKEN_WITH_OWNER, {"b_hash": token_hash}).mappings().first()
        if row is None:
            return None
        owner = {name: row[f"owner_{name}"] for name, _ in _converters(User)}
        return _record(ApiToken, row), _record(User, owner)

    def list_for_user(self, user_id: int) -> builtins.list[ApiToken]:
        c = t.api_tokens.c
        query = select(t.api_tokens).where(c.user_id == user_id).order_by(c.id)
        return [_record(ApiToken, row) for row in self._conn.execute(query).mappings()]

    def touch(self, token_id: int, *, at: datetime) -> None:
        c = t.api_tokens.c
        self._conn.execute(t.api_tokens.update().where(c.id == token_id).values(last_used_at=at))

    def revoke(self, token_id: int) -> bool:
        c = t.api_tokens.c
        statement = (
            t.api_tokens.update().where(c.id == token_id, c.revoked.is_(False)).values(revoked=True)
        )
        return self._conn.execute(statement).rowcount == 1


class SqlMailboxes(_Repository):
    def get(self, name: str) -> MailboxState | None:
        query = select(t.mailboxes).where(t.mailboxes.c.name == name)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _record(MailboxState, row)

    def save(
        self, state: MailboxState, *, owner: str | None = None, now: datetime | None = None
    ) -> bool:
        """One `INSERT … ON CONFLICT (name) DO UPDATE [WHERE <lease free or ours>]`: no read
        first, so two pollers saving the same mailbox at once cannot both try to insert it,
        and the lease is checked on the row as it is when written."""
        c = t.mailboxes.c
        values = _values(state)
        insert = _dialect_insert(self._conn, t.mailboxes).values(**values)
        condition = None
        if owner is not None and now is not None:
            condition = (c.lease_owner == owner) | _lease_is_free(c.lease_until, now)
        statement = insert.on_conflict_do_update(
            index_elements=[c.name],
            set_={name: insert.excluded[name] for name in values if name != "name"},
            where=condition,
        ).returning(c.name)  # a returned row: psycopg counted no row for this upsert
        return self._conn.execute(statement).first() is not None

    def list(self) -> builtins.list[MailboxState]:
        query = select(t.mailboxes).order_by(t.mailboxes.c.name)
        return [_record(MailboxState, row) for row in self._conn.execute(query).mappings()]

    def try_lease(self, name: str, *, owner: str, now: datetime, seconds: float) -> bool:
        """One `INSERT … ON CONFLICT (name) DO UPDATE … WHERE <free or ours> RETURNING`.

        PostgreSQL locks the conflicting row and evaluates the WHERE on its newest version,
        so of two instances racing for a free lease the second sees the first's and updates
        nothing; SQLite serialises writers with `BEGIN IMMEDIATE`. A returned row, not
        rowcount (psycopg reports -1 with RETURNING)."""
        c = t.mailboxes.c
        until = now + timedelta(seconds=seconds)
        insert = _dialect_insert(self._conn, t.mailboxes).values(
            name=name, lease_owner=owner, lease_until=until
        )
        statement = insert.on_conflict_do_update(
            index_elements=[c.name],
            set_={"lease_owner": owner, "lease_until": until},
            where=(c.lease_owner == owner) | _lease_is_free(c.lease_until, now),
        ).returning(c.name)
        return self._conn.execute(statement).first() is not None

    def release(self, name: str, owner: str) -> bool:
        c = t.mailboxes.c
        statement = (
            t.mailboxes.update()
            .where(c.name == name, c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .returning(c.name)
        )
        return self._conn.execute(statement).first() is not None

    def lease_holder(self, name: str, *, now: datetime) -> tuple[str, datetime] | None:
        c = t.mailboxes.c
        query = select(c.lease_owner, c.lease_until).where(
            c.name == name, c.lease_owner.is_not(None), c.lease_until >= now
        )
        row = self._conn.execute(query).first()
        return None if row is None else (row[0], row[1])


class SqlPosts(_Repository):
    def add(self, post: ChannelPost) -> ChannelPost:
        new_id = _inserted_id(self._conn, t.channel_posts.insert().values(**_values(post)))
        return dataclasses.replace(post, id=new_id)

    def list_for_ticket(self, ticket_id: int) -> list[ChannelPost]:
        query = (
            select(t.channel_posts)
            .where(t.channel_posts.c.ticket_id == ticket_id)
            .order_by(t.channel_posts.c.created_at, t.channel_posts.c.id)
        )
        return [_record(ChannelPost, row) for row in self._conn.execute(query).mappings()]

    def find(self, channel: str, ts: str) -> ChannelPost | None:
        """By the unique (channel, ts); `ts` compares as text, exactly as Slack sent it."""
        query = select(t.channel_posts).where(
            t.channel_posts.c.channel == channel, t.channel_posts.c.ts == ts
        )
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _record(ChannelPost, row)


class SqlSeenEvents(_Repository):
    def forget_before(self, cutoff: datetime) -> int:
        statement = t.seen_events.delete().where(t.seen_events.c.seen_at < cutoff)
        return int(self._conn.execute(statement).rowcount)

    def first_time(self, source: str, event_id: str, *, at: datetime) -> bool:
        """`ON CONFLICT DO NOTHING` on the primary key, like `SqlActions.add_if_absent`: of
        two instances handed the same event, the second's INSERT waits for the first's
        transaction (the unique index on PostgreSQL, the `BEGIN IMMEDIATE` write lock on
        SQLite) and then inserts nothing. Should the first roll back, the second inserts."""
        c = t.seen_events.c
        statement = (
            _dialect_insert(self._conn, t.seen_events)
            .values(source=source, event_id=event_id, seen_at=at)
            .on_conflict_do_nothing(index_elements=[c.source, c.event_id])
            # A returned row, not rowcount: with RETURNING, psycopg reports rowcount -1.
            .returning(c.source)
        )
        return self._conn.execute(statement).first() is not None
