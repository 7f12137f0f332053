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
import typing
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    RowMapping,
    Table,
    Text,
    Update,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import NotFound
from core.model import (
    ActionStatus,
    ApiToken,
    Attachment,
    AuditEvent,
    Channel,
    ChannelPost,
    Customer,
    Decision,
    Draft,
    DraftStatus,
    MailboxState,
    Message,
    OutboxItem,
    OutboxStatus,
    QuarantineItem,
    QuarantineStatus,
    ScheduledAction,
    Ticket,
    TicketPage,
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


def _record(cls: type[R], row: RowMapping, **overrides: Any) -> R:
    """Build `cls` from a row whose column names are the dataclass's field names."""
    kwargs = {
        name: overrides[name] if name in overrides else convert(row[name])
        for name, convert in _converters(cls)
    }
    return cls(**kwargs)


def _values(record: DataclassInstance, *, skip: Collection[str] = ("id",)) -> dict[str, Any]:
    """Column values for `record`: its fields minus `skip`, enums as their string values."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name in skip:
            continue
        value = getattr(record, f.name)
        values[f.name] = value.value if isinstance(value, Enum) else value
    return values


def _inserted_id(connection: Connection, statement: Insert) -> int:
    primary_key = connection.execute(statement).inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def _require_id(record_id: int | None, what: str) -> int:
    if record_id is None:
        raise ValueError(f"cannot save a {what} without an id; add it first")
    return record_id


def _update_one(connection: Connection, statement: Update, what: str) -> None:
    if connection.execute(statement).rowcount != 1:
        raise NotFound(what)


def _dialect_insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the backend's `ON CONFLICT` clauses (both spell them the same way)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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


def _normalise_email(email: str) -> str:
    return email.strip().lower()


class SqlCustomers(_Repository):
    def get(self, customer_id: int) -> Customer | None:
        return self._one(t.customers.c.id == customer_id)

    def get_by_email(self, email: str) -> Customer | None:
        """Case-insensitive: addresses are stored lower-cased, so the unique index decides."""
        return self._one(t.customers.c.email == _normalise_email(email))

    def add(self, customer: Customer) -> Customer:
        customer = dataclasses.replace(customer, email=_normalise_email(customer.email))
        new_id = _inserted_id(self._conn, t.customers.insert().values(**_values(customer)))
        return dataclasses.replace(customer, id=new_id)

    def save(self, customer: Customer) -> None:
        customer_id = _require_id(customer.id, "customer")
        customer = dataclasses.replace(customer, email=_normalise_email(customer.email))
        statement = (
            t.customers.update().where(t.customers.c.id == customer_id).values(**_values(customer))
        )
        _update_one(self._conn, statement, f"customer {customer_id}")

    def _one(self, condition: Any) -> Customer | None:
        row = self._conn.execute(select(t.customers).where(condition)).mappings().first()
        return None if row is None else _record(Customer, row)


class SqlTickets(_Repository):
    def add(self, ticket: Ticket) -> Ticket:
        """The public ref derives from the id, which exists only after the INSERT; both
        statements run in the caller's transaction, so no one sees a ticket without a ref."""
        new_id = _inserted_id(
            self._conn, t.tickets.insert().values(**_values(ticket, skip=("id", "ref")))
        )
        ref = f"T{new_id}"
        self._conn.execute(t.tickets.update().where(t.tickets.c.id == new_id).values(ref=ref))
        return dataclasses.replace(ticket, id=new_id, ref=ref)

    def get(self, ticket_id: int) -> Ticket | None:
        return self._one(t.tickets.c.id == ticket_id)

    def get_by_ref(self, ref: str) -> Ticket | None:
        return self._one(t.tickets.c.ref == ref)

    def save(self, ticket: Ticket) -> None:
        """Writes every field but the id and the ref, which never change."""
        ticket_id = _require_id(ticket.id, "ticket")
        statement = (
            t.tickets.update()
            .where(t.tickets.c.id == ticket_id)
            .values(**_values(ticket, skip=("id", "ref")))
        )
        _update_one(self._conn, statement, f"ticket {ticket_id}")

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
        query = select(func.count()).where(
            t.tickets.c.customer_id == customer_id, t.tickets.c.created_at >= since
        )
        return int(self._conn.execute(query).scalar_one())

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
            # A substring can use no B-tree index on either backend; the other filters narrow
            # first. lower() on both sides: SQLite's LIKE folds ASCII only, PostgreSQL's none.
            conditions.append(func.lower(c.subject).contains(query.text.lower(), autoescape=True))
        counted = select(func.count()).select_from(t.tickets).where(*conditions)
        total = self._conn.execute(counted).scalar_one()
        column = _TICKET_SORT[query.sort]
        ordered = column.desc() if query.descending else column.asc()
        tiebreak = c.id.desc() if query.descending else c.id.asc()
        rows = self._conn.execute(
            select(t.tickets)
            .where(*conditions)
            .order_by(ordered.nulls_last(), tiebreak)
            .limit(query.limit)
            .offset(query.offset)
        ).mappings()
        return TicketPage(tuple(_record(Ticket, row) for row in rows), int(total))

    def _one(self, condition: Any) -> Ticket | None:
        row = self._conn.execute(select(t.tickets).where(condition)).mappings().first()
        return None if row is None else _record(Ticket, row)


_TICKET_SORT = {
    TicketSort.CREATED_AT: t.tickets.c.created_at,
    TicketSort.UPDATED_AT: t.tickets.c.updated_at,
    TicketSort.PRIORITY: t.tickets.c.priority,  # "P0" < "P3": ascending is most urgent first
    TicketSort.RESOLUTION_DUE: t.tickets.c.resolution_due,
}


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


class SqlMessages(_Repository):
    def add(self, message: Message) -> Message:
        values = _values(message)
        values["attachments"] = [_attachment_metadata(a) for a in message.attachments]
        values["recipients"] = _encode_recipients(message.recipients)
        new_id = _inserted_id(self._conn, t.messages.insert().values(**values))
        if message.attachments:
            self._conn.execute(
                t.attachments.insert(),
                [
                    {**_attachment_metadata(a), "message_id": new_id, "content": a.content}
                    for a in message.attachments
                ],
            )
        return dataclasses.replace(message, id=new_id)

    def get_by_external_id(self, channel: Channel, external_id: str) -> Message | None:
        query = select(t.messages).where(
            t.messages.c.channel == channel.value, t.messages.c.external_id == external_id
        )
        found = self._load(query)
        return found[0] if found else None

    def find_ticket_id(self, external_ids: Sequence[str]) -> int | None:
        if not external_ids:
            return None
        query = (
            select(t.messages.c.ticket_id)
            .where(t.messages.c.external_id.in_(list(external_ids)))
            .order_by(t.messages.c.created_at.desc(), t.messages.c.id.desc())
            .limit(1)
        )
        ticket_id = self._conn.execute(query).scalar()
        return None if ticket_id is None else int(ticket_id)

    def list_for_ticket(self, ticket_id: int, *, with_content: bool = True) -> list[Message]:
        columns = t.messages.c if with_content else _except(t.messages, "raw")
        query = (
            select(*columns)
            .where(t.messages.c.ticket_id == ticket_id)
            .order_by(t.messages.c.created_at, t.messages.c.id)
        )
        return self._load(query, with_content=with_content)

    def _load(self, query: Any, *, with_content: bool = True) -> list[Message]:
        """Messages with their attachments: two queries, however many messages. Without
        content, the raw bytes and the attachments' contents stay in the database (None)."""
        rows = list(self._conn.execute(query).mappings())
        if not rows:
            return []
        by_message: dict[int, list[Attachment]] = {row["id"]: [] for row in rows}
        columns = t.attachments.c if with_content else _except(t.attachments, "content")
        attachment_rows = self._conn.execute(
            select(*columns)
            .where(t.attachments.c.message_id.in_(list(by_message)))
            .order_by(t.attachments.c.id)
        ).mappings()
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


def _except(table: Any, name: str) -> list[Any]:
    return [column for column in table.c if column.name != name]


def _draft(row: RowMapping) -> Draft:
    return _record(
        Draft,
        row,
        sources=_decode_recipients(row["sources"]),
        flags=_decode_recipients(row["flags"]),
    )


class SqlDrafts(_Repository):
    def add(self, draft: Draft) -> Draft:
        values = _values(draft)
        values["sources"] = _encode_recipients(draft.sources)
        values["flags"] = _encode_recipients(draft.flags)
        new_id = _inserted_id(self._conn, t.drafts.insert().values(**values))
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
        query = (
            select(t.drafts).where(t.drafts.c.ticket_id == ticket_id).order_by(t.drafts.c.version)
        )
        return [_draft(row) for row in self._conn.execute(query).mappings()]

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
        c = t.drafts.c
        statement = (
            t.drafts.update()
            .where(
                c.id == draft_id,
                c.version == version,
                c.status.in_([s.value for s in from_statuses]),
            )
            .values(
                status=to_status.value,
                decided_by=func.coalesce(literal(actor, t.drafts.c.decided_by.type), c.decided_by),
                decided_at=func.coalesce(literal(at, t.UtcDateTime()), c.decided_at),
                text=func.coalesce(literal(text, Text()), c.text),
            )
        )
        return self._conn.execute(statement).rowcount == 1

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


class SqlQuarantine(_Repository):
    def add(self, item: QuarantineItem) -> QuarantineItem:
        new_id = _inserted_id(self._conn, t.quarantine.insert().values(**_values(item)))
        return dataclasses.replace(item, id=new_id)

    def get(self, item_id: int) -> QuarantineItem | None:
        found = self._load(select(t.quarantine).where(t.quarantine.c.id == item_id))
        return found[0] if found else None

    def get_by_source_id(self, source_id: str) -> QuarantineItem | None:
        """The newest item for this source not yet reprocessed (held or ignored): a retried
        message that fails again finds it and is not quarantined twice."""
        query = (
            select(t.quarantine)
            .where(
                t.quarantine.c.source_id == source_id,
                t.quarantine.c.status != QuarantineStatus.REPROCESSED.value,
            )
            .order_by(t.quarantine.c.received_at.desc(), t.quarantine.c.id.desc())
            .limit(1)
        )
        found = self._load(query)
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
    def _load(self, query: Any) -> builtins.list[QuarantineItem]:
        return [_record(QuarantineItem, row) for row in self._conn.execute(query).mappings()]


class SqlAudit(_Repository):
    def add(self, event: AuditEvent) -> AuditEvent:
        new_id = _inserted_id(self._conn, t.audit_events.insert().values(**_values(event)))
        return dataclasses.replace(event, id=new_id)

    def list_for_ticket(self, ticket_id: int) -> list[AuditEvent]:
        query = (
            select(t.audit_events)
            .where(t.audit_events.c.ticket_id == ticket_id)
            .order_by(t.audit_events.c.at, t.audit_events.c.id)
        )
        return [_record(AuditEvent, row) for row in self._conn.execute(query).mappings()]

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
        a done row is never run again. RETURNING yields a row only when one was written.
        All rows go in one multi-row INSERT: one per row cost a ticket's intake 16 ms."""
        if not actions:
            return 0
        c = t.scheduled_actions.c
        insert = _dialect_insert(self._conn, t.scheduled_actions).values(
            [_values(action) for action in actions]
        )
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
        ).returning(c.id)
        return len(self._conn.execute(statement).all())

    def cancel_for_ticket(
        self,
        ticket_id: int,
        *,
        kinds: Sequence[str],
        except_keys: Sequence[str] = (),
        key_contains: str | None = None,
    ) -> int:
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
        self, *, now: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[ScheduledAction]:
        """Select due, unleased (or lease-expired) rows and lease them; the caller commits.

        On PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass over rows
        another transaction is leasing right now instead of waiting for them. SQLite has no
        row locks (SQLAlchemy renders no FOR UPDATE there), but the transaction began with
        `BEGIN IMMEDIATE`, so no other writer runs between our SELECT and UPDATE.
        """
        c = t.scheduled_actions.c
        statement = _lease_statement(
            self._conn,
            t.scheduled_actions,
            claimable=(c.status == ActionStatus.PENDING.value, c.due_at <= now),
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


class SqlApiTokens(_Repository):
    def add(self, token: ApiToken) -> ApiToken:
        new_id = _inserted_id(self._conn, t.api_tokens.insert().values(**_values(token)))
        return dataclasses.replace(token, id=new_id)

    def get_by_hash(self, token_hash: str) -> ApiToken | None:
        query = select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _record(ApiToken, row)

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

    def save(self, state: MailboxState) -> None:
        """One `INSERT … ON CONFLICT (name) DO UPDATE`: no read first, so two pollers saving
        the same mailbox at once cannot both try to insert it."""
        values = _values(state)
        insert = _dialect_insert(self._conn, t.mailboxes).values(**values)
        statement = insert.on_conflict_do_update(
            index_elements=[t.mailboxes.c.name],
            set_={name: insert.excluded[name] for name in values if name != "name"},
        )
        self._conn.execute(statement)

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
