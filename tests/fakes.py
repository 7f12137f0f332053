"""In-memory fakes of the storage ports, for unit tests of `core/` (no mocks of our code).

The fake keeps the semantics that matter: a transaction that is not committed leaves no
trace, uniqueness of message source ids, and conditional draft transitions.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from types import TracebackType
from typing import Any, Self, TypeVar

from core.digest import history_from, summarize
from core.model import (
    ActionStatus,
    ApiToken,
    AuditEvent,
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
    QuarantineItem,
    QuarantineStatus,
    ScheduledAction,
    Ticket,
    TicketPage,
    TicketPosition,
    TicketQuery,
    TicketStatus,
    User,
)


@dataclass
class _Tables:
    customers: dict[int, Customer] = field(default_factory=dict)
    tickets: dict[int, Ticket] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)
    drafts: dict[int, Draft] = field(default_factory=dict)
    decisions: dict[int, Decision] = field(default_factory=dict)
    outbox: dict[int, OutboxItem] = field(default_factory=dict)
    quarantine: dict[int, QuarantineItem] = field(default_factory=dict)
    audit: dict[int, AuditEvent] = field(default_factory=dict)
    actions: dict[int, ScheduledAction] = field(default_factory=dict)
    mailboxes: dict[str, MailboxState] = field(default_factory=dict)
    mailbox_leases: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    posts: dict[int, ChannelPost] = field(default_factory=dict)
    events: dict[tuple[str, str], datetime] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    tokens: dict[int, ApiToken] = field(default_factory=dict)

    def insert(self, table: dict[int, Any], row: Any) -> Any:
        """Ids count per table from 1, as a database sequence would."""
        row_id = max(table, default=0) + 1
        row = replace(row, id=row_id)
        table[row_id] = row
        return row


_Leasable = TypeVar("_Leasable", OutboxItem, ScheduledAction)


def _lease(
    table: dict[int, Any],
    candidates: list[_Leasable],
    *,
    now: datetime,
    owner: str,
    seconds: float,
    limit: int,
) -> list[_Leasable]:
    """Lease the first `limit` candidates whose lease is free, as the SQL claim does."""
    free = [r for r in candidates if r.lease_until is None or r.lease_until < now][:limit]
    claimed = []
    for row in free:
        leased = replace(
            row,
            lease_owner=owner,
            lease_until=now + timedelta(seconds=seconds),
            attempts=row.attempts + 1,
        )
        table[row.id] = leased
        claimed.append(leased)
    return claimed


class FakeStore:
    """The 'database': survives across units of work, like a real one."""

    def __init__(self) -> None:
        self.tables = _Tables()
        self.fail_on: str | None = None  # name of a method that raises, to test the shunt

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class _Repo:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    @property
    def t(self) -> _Tables:
        return self._store.tables

    def _maybe_fail(self, name: str) -> None:
        if self._store.fail_on == name:
            raise RuntimeError(f"injected failure in {name}")


class FakeCustomers(_Repo):
    def get(self, customer_id: int) -> Customer | None:
        return self.t.customers.get(customer_id)

    def get_by_email(self, email: str) -> Customer | None:
        return next((c for c in self.t.customers.values() if c.email == email.lower()), None)

    def add(self, customer: Customer) -> Customer:
        if self.get_by_email(customer.email):
            raise ValueError("duplicate customer email")
        row: Customer = self.t.insert(
            self.t.customers, replace(customer, email=customer.email.lower())
        )
        return row

    def save(self, customer: Customer) -> None:
        assert customer.id in self.t.customers
        self.t.customers[customer.id] = customer


class FakeTickets(_Repo):
    def add(self, ticket: Ticket) -> Ticket:
        self._maybe_fail("tickets.add")
        row: Ticket = self.t.insert(self.t.tickets, ticket)
        row = replace(row, ref=f"T{row.id}")
        self.t.tickets[row.id] = row  # type: ignore[index]
        return row

    def get(self, ticket_id: int) -> Ticket | None:
        return self.t.tickets.get(ticket_id)

    def get_by_ref(self, ref: str) -> Ticket | None:
        return next((t for t in self.t.tickets.values() if t.ref == ref), None)

    def save(self, ticket: Ticket) -> None:
        assert ticket.id in self.t.tickets
        self.t.tickets[ticket.id] = ticket

    def list(
        self, *, status: TicketStatus | None = None, limit: int = 50, offset: int = 0
    ) -> list[Ticket]:
        rows = [t for t in self.t.tickets.values() if status is None or t.status is status]
        rows.sort(key=lambda t: (t.created_at, t.id or 0), reverse=True)
        return rows[offset : offset + limit]

    def count_for_customer_since(self, customer_id: int, since: datetime) -> int:
        return sum(
            1
            for t in self.t.tickets.values()
            if t.customer_id == customer_id and t.created_at >= since
        )

    def search(self, query: TicketQuery) -> TicketPage:
        customers = {c.id: c.email for c in self.t.customers.values()}

        def matches(t: Ticket) -> bool:
            email = (query.customer_email or "").strip().lower()
            return (
                (query.status is None or t.status is query.status)
                and (query.priority is None or t.priority is query.priority)
                and (query.category is None or t.category == query.category)
                and (query.assignee is None or t.assignee == query.assignee)
                and (not email or customers.get(t.customer_id) == email)
                and (not query.text or query.text.lower() in t.subject.lower())
            )

        rows = [t for t in self.t.tickets.values() if matches(t)]
        key = query.sort.value
        present = [t for t in rows if getattr(t, key) is not None]
        present.sort(key=lambda t: (getattr(t, key), t.id or 0), reverse=query.descending)
        ordered = present + [t for t in rows if getattr(t, key) is None]
        if query.after is not None:
            ordered = [t for t in ordered if _is_after(t, query)]
        window = ordered[query.offset : query.offset + query.limit + 1]
        page = tuple(window[: query.limit])
        following = None
        if len(window) > query.limit:
            value = getattr(page[-1], key)
            value = value.value if isinstance(value, Enum) else value
            following = TicketPosition(query.sort, query.descending, value, page[-1].id or 0)
        # The SQL's total: exact up to the count limit or on the last page, else "more than".
        if len(rows) <= query.count_limit:
            return TicketPage(page, len(rows), next=following)
        if following is not None:
            deep = query.count_limit if query.after else query.offset + query.limit
            return TicketPage(page, max(query.count_limit, deep), False, following)
        if page and query.after is None:
            return TicketPage(page, len(rows))
        return TicketPage(page, query.count_limit, total_exact=False)


def _is_after(ticket: Ticket, query: TicketQuery) -> bool:
    """After the query's cursor in its order: by value (NULLs last), then by id."""
    assert query.after is not None
    value, place, ticket_id = getattr(ticket, query.sort.value), query.after, ticket.id or 0
    if place.value is None:
        later = ticket_id < place.ticket_id if query.descending else ticket_id > place.ticket_id
        return value is None and later
    if value is None:
        return True
    mine, theirs = (value, ticket_id), (place.value, place.ticket_id)
    return mine < theirs if query.descending else mine > theirs  # type: ignore[operator]


class FakeMessages(_Repo):
    def add(self, message: Message) -> Message:
        if self.get_by_external_id(message.channel, message.external_id):
            raise ValueError("unique (channel, external_id) violated")
        row: Message = self.t.insert(self.t.messages, message)
        return row

    def get_by_external_id(self, channel: Channel, external_id: str) -> Message | None:
        return next(
            (
                m
                for m in self.t.messages.values()
                if m.channel is channel and m.external_id == external_id
            ),
            None,
        )

    def find_ticket_id(self, external_ids: Sequence[str]) -> int | None:
        wanted = set(external_ids)
        found = [m for m in self.t.messages.values() if m.external_id in wanted]
        return max(found, key=lambda m: m.id or 0).ticket_id if found else None

    def list_for_ticket(self, ticket_id: int, *, with_content: bool = True) -> list[Message]:
        return sorted(
            (
                m if with_content else replace(m, raw=None)
                for m in self.t.messages.values()
                if m.ticket_id == ticket_id
            ),
            key=lambda m: m.id or 0,
        )


class FakeDrafts(_Repo):
    def add(self, draft: Draft) -> Draft:
        if any(
            d.ticket_id == draft.ticket_id and d.version == draft.version
            for d in self.t.drafts.values()
        ):
            raise ValueError("unique (ticket_id, version) violated")
        row: Draft = self.t.insert(self.t.drafts, draft)
        return row

    def get(self, draft_id: int) -> Draft | None:
        return self.t.drafts.get(draft_id)

    def latest_for_ticket(self, ticket_id: int) -> Draft | None:
        drafts = self.list_for_ticket(ticket_id)
        return drafts[-1] if drafts else None

    def list_for_ticket(self, ticket_id: int) -> list[Draft]:
        return sorted(
            (d for d in self.t.drafts.values() if d.ticket_id == ticket_id),
            key=lambda d: d.version,
        )

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
        draft = self.t.drafts.get(draft_id)
        if draft is None or draft.version != version or draft.status not in from_statuses:
            return False
        self.t.drafts[draft_id] = replace(
            draft,
            status=to_status,
            decided_by=draft.decided_by if actor is None else actor,
            decided_at=draft.decided_at if at is None else at,
            text=draft.text if text is None else text,
        )
        return True

    def add_decision(self, decision: Decision) -> Decision:
        row: Decision = self.t.insert(self.t.decisions, decision)
        return row

    def list_decisions(self, draft_id: int) -> list[Decision]:
        return [d for d in self.t.decisions.values() if d.draft_id == draft_id]


class FakeOutbox(_Repo):
    def add(self, item: OutboxItem) -> OutboxItem:
        if any(o.message_id == item.message_id for o in self.t.outbox.values()):
            raise ValueError("unique message_id violated")
        row: OutboxItem = self.t.insert(self.t.outbox, item)
        return row

    def get(self, item_id: int) -> OutboxItem | None:
        return self.t.outbox.get(item_id)

    def list_for_ticket(self, ticket_id: int) -> list[OutboxItem]:
        return [o for o in self.t.outbox.values() if o.ticket_id == ticket_id]

    def mark_sent(self, item_id: int, *, at: datetime) -> bool:
        item = self.t.outbox.get(item_id)
        if item is None or item.status is not OutboxStatus.PENDING:
            return False
        self.t.outbox[item_id] = replace(item, status=OutboxStatus.SENT, sent_at=at)
        return True

    def claim_due(
        self, *, now: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[OutboxItem]:
        due = [
            o
            for o in sorted(self.t.outbox.values(), key=lambda o: o.id or 0)
            if o.status is OutboxStatus.PENDING
            and (o.next_attempt_at is None or o.next_attempt_at <= now)
        ]
        return _lease(self.t.outbox, due, now=now, owner=owner, seconds=lease_seconds, limit=limit)

    def count_automatic_since(self, recipient: str, since: datetime) -> int:
        return sum(
            1
            for o in self.t.outbox.values()
            if o.automatic and o.recipient == recipient and o.created_at >= since
        )

    def record_failure(
        self, item_id: int, *, owner: str, error: str, retry_at: datetime | None
    ) -> bool:
        o = self.t.outbox.get(item_id)
        if o is None or o.lease_owner != owner or o.status is not OutboxStatus.PENDING:
            return False
        self.t.outbox[item_id] = replace(
            o,
            status=OutboxStatus.PENDING if retry_at else OutboxStatus.FAILED,
            last_error=error,
            next_attempt_at=retry_at,
            lease_owner=None,
            lease_until=None,
        )
        return True


class FakeQuarantine(_Repo):
    def add(self, item: QuarantineItem) -> QuarantineItem:
        row: QuarantineItem = self.t.insert(self.t.quarantine, item)
        return row

    def get(self, item_id: int) -> QuarantineItem | None:
        return self.t.quarantine.get(item_id)

    def get_by_source_id(self, source_id: str) -> QuarantineItem | None:
        found = [
            q
            for q in self.t.quarantine.values()
            if q.source_id == source_id and q.status is not QuarantineStatus.REPROCESSED
        ]
        return max(found, key=lambda q: q.id or 0) if found else None

    def list(self, *, status: QuarantineStatus | None = None) -> list[QuarantineItem]:
        return [q for q in self.t.quarantine.values() if status is None or q.status is status]

    def set_status(self, item_id: int, status: QuarantineStatus) -> None:
        self.t.quarantine[item_id] = replace(self.t.quarantine[item_id], status=status)


class FakeAudit(_Repo):
    def add(self, event: AuditEvent) -> AuditEvent:
        row: AuditEvent = self.t.insert(self.t.audit, event)
        return row

    def list_for_ticket(self, ticket_id: int) -> list[AuditEvent]:
        return [e for e in self.t.audit.values() if e.ticket_id == ticket_id]

    def ticket_ids_with(self, actions: Sequence[str]) -> list[int]:
        wanted = set(actions)
        return sorted(
            {e.ticket_id for e in self.t.audit.values() if e.action in wanted and e.ticket_id}
        )

    def list_for_key(self, action: str, idem_key: str) -> list[AuditEvent]:
        return [
            e
            for e in self.t.audit.values()
            if e.action == action and json.loads(e.detail).get("idem_key") == idem_key
        ]


class FakeActions(_Repo):
    def add_if_absent(self, action: ScheduledAction) -> bool:
        if self.get_by_key(action.idem_key) is not None:
            return False
        self.t.insert(self.t.actions, action)
        return True

    def get_by_key(self, idem_key: str) -> ScheduledAction | None:
        return next((a for a in self.t.actions.values() if a.idem_key == idem_key), None)

    def add_or_revive(self, *actions: ScheduledAction) -> int:
        return sum(self._add_or_revive_one(action) for action in actions)

    def _add_or_revive_one(self, action: ScheduledAction) -> bool:
        existing = self.get_by_key(action.idem_key)
        if existing is None:
            self.t.insert(self.t.actions, action)
            return True
        if existing.status is not ActionStatus.CANCELLED:
            return False
        self.t.actions[existing.id] = replace(  # type: ignore[index]
            existing,
            status=ActionStatus.PENDING,
            due_at=action.due_at,
            payload=action.payload,
            lease_owner=None,
            lease_until=None,
            last_error=None,
        )
        return True

    def cancel_for_ticket(
        self,
        ticket_id: int,
        *,
        kinds: Sequence[str],
        except_keys: Sequence[str] = (),
        key_contains: str | None = None,
    ) -> int:
        cancelled = 0
        for key, a in list(self.t.actions.items()):
            if (
                a.ticket_id == ticket_id
                and a.kind in kinds
                and a.status is ActionStatus.PENDING
                and a.idem_key not in except_keys
                and (key_contains is None or key_contains in a.idem_key)
            ):
                self.t.actions[key] = replace(a, status=ActionStatus.CANCELLED)
                cancelled += 1
        return cancelled

    def list_for_kind(
        self, kind: str, *, statuses: Sequence[ActionStatus] = ()
    ) -> list[ScheduledAction]:
        return sorted(
            (
                a
                for a in self.t.actions.values()
                if a.kind == kind and (not statuses or a.status in statuses)
            ),
            key=lambda a: (a.due_at, a.id or 0),
        )

    def claim_due(
        self,
        *,
        now: datetime,
        owner: str,
        lease_seconds: float,
        limit: int,
        kinds: Collection[str] | None = None,
    ) -> list[ScheduledAction]:
        due = [
            a
            for a in sorted(self.t.actions.values(), key=lambda a: a.due_at)
            if a.status is ActionStatus.PENDING
            and a.due_at <= now
            and (kinds is None or a.kind in kinds)
        ]
        return _lease(self.t.actions, due, now=now, owner=owner, seconds=lease_seconds, limit=limit)

    def finish(self, idem_key: str, *, owner: str, now: datetime) -> bool:
        a = self.get_by_key(idem_key)
        if a is None or a.status is not ActionStatus.PENDING:
            return False
        is_free = a.lease_until is None or a.lease_until < now
        if a.lease_owner != owner and not is_free:
            return False
        self.t.actions[a.id] = replace(a, status=ActionStatus.DONE)  # type: ignore[index]
        return True

    def complete(self, action_id: int, *, owner: str) -> bool:
        a = self.t.actions.get(action_id)
        if a is None or a.lease_owner != owner or a.status is not ActionStatus.PENDING:
            return False
        self.t.actions[action_id] = replace(a, status=ActionStatus.DONE)
        return True


class FakeMailboxes(_Repo):
    def get(self, name: str) -> MailboxState | None:
        return self.t.mailboxes.get(name)

    def save(
        self, state: MailboxState, *, owner: str | None = None, now: datetime | None = None
    ) -> bool:
        held = self.t.mailbox_leases.get(state.name)
        is_others = held is not None and owner is not None and held[0] != owner
        if is_others and now is not None and held is not None and held[1] >= now:
            return False
        self.t.mailboxes[state.name] = state
        return True

    def list(self) -> list[MailboxState]:
        return sorted(self.t.mailboxes.values(), key=lambda m: m.name)

    def try_lease(self, name: str, *, owner: str, now: datetime, seconds: float) -> bool:
        held = self.t.mailbox_leases.get(name)
        if held is not None and held[0] != owner and held[1] >= now:
            return False
        self.t.mailbox_leases[name] = (owner, now + timedelta(seconds=seconds))
        self.t.mailboxes.setdefault(name, MailboxState(name=name))
        return True

    def release(self, name: str, owner: str) -> bool:
        held = self.t.mailbox_leases.get(name)
        if held is None or held[0] != owner:
            return False
        del self.t.mailbox_leases[name]
        return True

    def lease_holder(self, name: str, *, now: datetime) -> tuple[str, datetime] | None:
        held = self.t.mailbox_leases.get(name)
        return held if held is not None and held[1] >= now else None


class FakePosts(_Repo):
    def add(self, post: ChannelPost) -> ChannelPost:
        if self.find(post.channel, post.ts) is not None:
            raise ValueError("unique (channel, ts) violated")
        row: ChannelPost = self.t.insert(self.t.posts, post)
        return row

    def list_for_ticket(self, ticket_id: int) -> list[ChannelPost]:
        return sorted(
            (p for p in self.t.posts.values() if p.ticket_id == ticket_id), key=lambda p: p.id or 0
        )

    def find(self, channel: str, ts: str) -> ChannelPost | None:
        return next((p for p in self.t.posts.values() if p.channel == channel and p.ts == ts), None)


class FakeReports(_Repo):
    def tickets_alive(self, start: datetime, end: datetime) -> list[Ticket]:
        return sorted(
            (
                t
                for t in self.t.tickets.values()
                if t.created_at < end and (t.resolved_at is None or t.resolved_at >= start)
            ),
            key=lambda t: (t.created_at, t.id or 0),
        )

    def period(self, query: PeriodQuery) -> PeriodReport:
        """The Python reference over the alive tickets, as the SQL is checked against."""
        return summarize(self.tickets_alive(query.start, query.end), query)

    def history(
        self, end: datetime, *, days: int, open_statuses: Sequence[TicketStatus]
    ) -> list[DayCounts]:
        span = self.tickets_alive(end - timedelta(days=days), end)
        return history_from(span, end=end, days=days, open_statuses=open_statuses)

    def decision_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.t.decisions.values():
            if start <= d.at < end:
                counts[d.action.value] = counts.get(d.action.value, 0) + 1
        return counts

    def ticket_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for t in self.t.tickets.values():
            key = (t.status.value, t.priority.value)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def outbox_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.t.outbox.values():
            counts[o.status.value] = counts.get(o.status.value, 0) + 1
        return counts

    def draft_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.t.drafts.values():
            counts[d.status.value] = counts.get(d.status.value, 0) + 1
        return counts


class FakeUsers(_Repo):
    def add(self, user: User) -> User:
        assert self.get_by_login(user.login) is None, "login taken"
        row: User = self.t.insert(self.t.users, user)
        return row

    def get(self, user_id: int) -> User | None:
        return self.t.users.get(user_id)

    def get_by_login(self, login: str) -> User | None:
        return next((u for u in self.t.users.values() if u.login == login), None)

    def save(self, user: User) -> None:
        assert user.id in self.t.users
        self.t.users[user.id] = user

    def list(self) -> list[User]:
        return sorted(self.t.users.values(), key=lambda u: u.login)


class FakeApiTokens(_Repo):
    def add(self, token: ApiToken) -> ApiToken:
        row: ApiToken = self.t.insert(self.t.tokens, token)
        return row

    def get_by_hash(self, token_hash: str) -> ApiToken | None:
        return next((t for t in self.t.tokens.values() if t.token_hash == token_hash), None)

    def get_with_owner(self, token_hash: str) -> tuple[ApiToken, User] | None:
        token = self.get_by_hash(token_hash)
        if token is None or token.user_id not in self.t.users:
            return None
        return token, self.t.users[token.user_id]

    def list_for_user(self, user_id: int) -> list[ApiToken]:
        return [t for t in self.t.tokens.values() if t.user_id == user_id]

    def touch(self, token_id: int, *, at: datetime) -> None:
        self.t.tokens[token_id] = replace(self.t.tokens[token_id], last_used_at=at)

    def revoke(self, token_id: int) -> bool:
        token = self.t.tokens.get(token_id)
        if token is None or token.revoked:
            return False
        self.t.tokens[token_id] = replace(token, revoked=True)
        return True


class FakeEvents(_Repo):
    def forget_before(self, cutoff: datetime) -> int:
        old = [key for key, at in self.t.events.items() if at < cutoff]
        for key in old:
            del self.t.events[key]
        return len(old)

    def first_time(self, source: str, event_id: str, *, at: datetime) -> bool:
        if (source, event_id) in self.t.events:
            return False
        self.t.events[(source, event_id)] = at
        return True


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self._snapshot: _Tables | None = None
        self.commits = 0
        self.customers = FakeCustomers(store)
        self.tickets = FakeTickets(store)
        self.messages = FakeMessages(store)
        self.drafts = FakeDrafts(store)
        self.outbox = FakeOutbox(store)
        self.quarantine = FakeQuarantine(store)
        self.audit = FakeAudit(store)
        self.actions = FakeActions(store)
        self.mailboxes = FakeMailboxes(store)
        self.posts = FakePosts(store)
        self.events = FakeEvents(store)
        self.reports = FakeReports(store)
        self.users = FakeUsers(store)
        self.tokens = FakeApiTokens(store)

    def __enter__(self) -> Self:
        self._snapshot = copy.copy(self._store.tables)
        for f in dataclasses.fields(self._snapshot):
            value = getattr(self._snapshot, f.name)
            if isinstance(value, dict):
                setattr(self._snapshot, f.name, dict(value))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        self._snapshot = None
        self.commits += 1

    def lock(self, key: str) -> None:
        """One process, one thread at a time in these tests: nothing to wait for."""

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = copy.copy(self._store.tables)
        for f in dataclasses.fields(saved):
            value = getattr(saved, f.name)
            if isinstance(value, dict):
                setattr(saved, f.name, dict(value))
        try:
            yield
        except BaseException:
            self._store.tables = saved
            raise

    def rollback(self) -> None:
        if self._snapshot is not None:
            self._store.tables = self._snapshot
            self._snapshot = None
