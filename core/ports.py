"""The ports: small Protocols that `core/` needs and adapters (storage, channels) provide.

Each repository covers one table's worth of questions. A `UnitOfWork` bundles them in one
transaction, so a decision and its side-effect row (an approval and its outbox item) are
committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

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
    PeriodQuery,
    PeriodReport,
    QuarantineItem,
    QuarantineStatus,
    ScheduledAction,
    Ticket,
    TicketPage,
    TicketQuery,
    TicketStatus,
    User,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class Customers(Protocol):
    def get(self, customer_id: int) -> Customer | None: ...
    def get_by_email(self, email: str) -> Customer | None: ...
    def add(self, customer: Customer) -> Customer: ...
    def save(self, customer: Customer) -> None: ...


class Tickets(Protocol):
    def add(self, ticket: Ticket) -> Ticket:
        """Insert; the returned copy carries the new `id` and public `ref`."""
        ...

    def get(self, ticket_id: int) -> Ticket | None: ...
    def get_by_ref(self, ref: str) -> Ticket | None: ...
    def save(self, ticket: Ticket) -> None: ...

    def list(
        self, *, status: TicketStatus | None = None, limit: int = 50, offset: int = 0
    ) -> list[Ticket]:
        """Newest first."""
        ...

    def count_for_customer_since(self, customer_id: int, since: datetime) -> int:
        """Tickets the customer opened since `since`: repeat contact raises priority."""
        ...

    def search(self, query: TicketQuery) -> TicketPage:
        """One page of the tickets matching `query`, and how many match, counted up to
        `query.count_limit` or the end of the page, whichever is more (`total_exact` False
        when there are more); two statements, whatever the number of tickets."""
        ...


class Messages(Protocol):
    def add(self, message: Message) -> Message: ...

    def get_by_external_id(self, channel: Channel, external_id: str) -> Message | None:
        """The stored message with this source id: the idempotency check of intake."""
        ...

    def find_ticket_id(self, external_ids: Sequence[str]) -> int | None:
        """The ticket of the most recent message, in or out, whose id is among these."""
        ...

    def list_for_ticket(self, ticket_id: int, *, with_content: bool = True) -> list[Message]:
        """Oldest first. `with_content=False` leaves out the raw bytes and attachment
        contents (None), for readers of the text only, such as the drafting prompt."""
        ...


class Drafts(Protocol):
    def add(self, draft: Draft) -> Draft: ...
    def get(self, draft_id: int) -> Draft | None: ...
    def latest_for_ticket(self, ticket_id: int) -> Draft | None: ...
    def list_for_ticket(self, ticket_id: int) -> list[Draft]: ...

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
        """Conditional update: True only if the draft was at `version` in one of
        `from_statuses`. This is what makes a double click or two approvers act once."""
        ...

    def add_decision(self, decision: Decision) -> Decision: ...
    def list_decisions(self, draft_id: int) -> list[Decision]: ...


class Outbox(Protocol):
    def add(self, item: OutboxItem) -> OutboxItem: ...
    def get(self, item_id: int) -> OutboxItem | None: ...
    def list_for_ticket(self, ticket_id: int) -> list[OutboxItem]: ...

    def mark_sent(self, item_id: int, *, at: datetime) -> bool:
        """Conditional on the item still pending: a second sender learns it lost the race."""
        ...

    def claim_due(
        self, *, now: datetime, owner: str, lease_seconds: float, limit: int
    ) -> list[OutboxItem]:
        """Lease pending items whose next attempt is due (attempts + 1); the caller commits.
        A crashed sender's lease expires and another claim resends with the same Message-ID."""
        ...

    def count_automatic_since(self, recipient: str, since: datetime) -> int:
        """Automatic items queued to this address since `since`: the per-recipient cap that
        keeps two auto-responders from mailing each other forever (RFC 3834 §2)."""
        ...

    def record_failure(
        self, item_id: int, *, owner: str, error: str, retry_at: datetime | None
    ) -> bool:
        """Release the lease after a failed attempt: pending again from `retry_at`, or
        `failed` for good when `retry_at` is None. Conditional on `owner` holding the lease."""
        ...


class Mailboxes(Protocol):
    def get(self, name: str) -> MailboxState | None: ...
    def save(
        self, state: MailboxState, *, owner: str | None = None, now: datetime | None = None
    ) -> bool:
        """Insert or replace the row for `state.name`; with `owner` and `now`, only while no
        other owner's lease on it runs (a reader that lost its lease must not move the
        cursor back). True when written."""
        ...

    def list(self) -> list[MailboxState]: ...

    def try_lease(self, name: str, *, owner: str, now: datetime, seconds: float) -> bool:
        """Take or renew the right to read mailbox `name` until `now + seconds`: one
        conditional insert-or-update, so of two instances asking at once exactly one gets
        it. True when the lease was free (never taken, released, run out) or already
        `owner`'s; False when someone else holds it. The caller commits. `save` leaves the
        lease alone."""
        ...

    def release(self, name: str, owner: str) -> bool:
        """Give the lease up, if `owner` holds it; True when it did. The caller commits."""
        ...

    def lease_holder(self, name: str, *, now: datetime) -> tuple[str, datetime] | None:
        """Who holds an unexpired lease on `name`, and until when; None when it is free."""
        ...


class Quarantine(Protocol):
    def add(self, item: QuarantineItem) -> QuarantineItem: ...
    def get(self, item_id: int) -> QuarantineItem | None: ...
    def get_by_source_id(self, source_id: str) -> QuarantineItem | None:
        """The newest item for this source that is not yet reprocessed (held or ignored)."""
        ...

    def list(self, *, status: QuarantineStatus | None = None) -> list[QuarantineItem]: ...
    def set_status(self, item_id: int, status: QuarantineStatus) -> None: ...


class Audit(Protocol):
    def add(self, event: AuditEvent) -> AuditEvent: ...
    def list_for_ticket(self, ticket_id: int) -> list[AuditEvent]: ...
    def ticket_ids_with(self, actions: Sequence[str]) -> list[int]:
        """Tickets that have at least one event of these actions, ascending."""
        ...

    def list_for_key(self, action: str, idem_key: str) -> list[AuditEvent]:
        """Events of `action` whose JSON detail has this `idem_key`: the record that a side
        effect (a digest sent) already happened, for events about no ticket."""
        ...


class Actions(Protocol):
    def add_if_absent(self, action: ScheduledAction) -> bool:
        """Insert unless the idempotency key exists; True if inserted."""
        ...

    def get_by_key(self, idem_key: str) -> ScheduledAction | None: ...

    def add_or_revive(self, *actions: ScheduledAction) -> int:
        """Insert each, or make a *cancelled* row with its key pending again (due time and
        payload from the action); a pending or done row is left alone. One statement for
        all, since a ticket plans several rows at once. Returns how many rows were written."""
        ...

    def cancel_for_ticket(
        self,
        ticket_id: int,
        *,
        kinds: Sequence[str],
        except_keys: Sequence[str] = (),
        key_contains: str | None = None,
    ) -> int:
        """Cancel the ticket's pending actions of these kinds (whose key contains
        `key_contains`, when given) except `except_keys`; returns how many."""
        ...

    def list_for_kind(
        self, kind: str, *, statuses: Sequence[ActionStatus] = ()
    ) -> list[ScheduledAction]:
        """Actions of one kind (optionally in these statuses), by due time."""
        ...

    def claim_due(
        self,
        *,
        now: datetime,
        owner: str,
        lease_seconds: float,
        limit: int,
        kinds: Collection[str] | None = None,
    ) -> list[ScheduledAction]:
        """Lease due pending actions (of these kinds, when given) to `owner`; no other owner
        gets them until the lease ends."""
        ...

    def finish(self, idem_key: str, *, owner: str, now: datetime) -> bool:
        """Mark this pending action done, due or not, unless another owner's lease on it is
        still running; False if so, or if it is done, cancelled or absent."""
        ...

    def complete(self, action_id: int, *, owner: str) -> bool:
        """Mark done if `owner` still holds the lease; False means another instance took over."""
        ...


class Reports(Protocol):
    """Read-only questions for the digest; each one query, whatever the number of tickets."""

    def tickets_alive(self, start: datetime, end: datetime) -> list[Ticket]:
        """Tickets created before `end` and not resolved before `start`: the period's new,
        resolved and still-open ones, oldest first. What `period` and `history` aggregate;
        too many to load for a long period of a big store (tens of thousands a month)."""
        ...

    def period(self, query: PeriodQuery) -> PeriodReport:
        """The digest's figures of the tickets alive in the period, aggregated by the
        database: a few statements and rows, however many tickets (see `PeriodQuery`)."""
        ...

    def history(
        self, end: datetime, *, days: int, open_statuses: Sequence[TicketStatus]
    ) -> list[DayCounts]:
        """The `days` 24-hour periods before `end`, oldest first: per day, the tickets
        alive in it that were created in it, those open at its end (resolved after it, or
        unresolved with a status in `open_statuses`) and the SLA breaches in it."""
        ...

    def decision_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        """Draft decisions in [start, end) by action (approved, edited, rejected)."""
        ...

    def ticket_counts(self) -> dict[tuple[str, str], int]:
        """Tickets by (status, priority): the metrics endpoint's gauges."""
        ...

    def outbox_counts(self) -> dict[str, int]:
        """Outbox items by status."""
        ...

    def draft_counts(self) -> dict[str, int]:
        """Drafts by status."""
        ...


class Users(Protocol):
    def add(self, user: User) -> User:
        """Insert; raises InvalidInput when the login is taken."""
        ...

    def get(self, user_id: int) -> User | None: ...
    def get_by_login(self, login: str) -> User | None: ...
    def save(self, user: User) -> None: ...
    def list(self) -> list[User]: ...


class ApiTokens(Protocol):
    def add(self, token: ApiToken) -> ApiToken: ...
    def get_by_hash(self, token_hash: str) -> ApiToken | None: ...

    def get_with_owner(self, token_hash: str) -> tuple[ApiToken, User] | None:
        """The token and its user together: every API request needs both, in one lookup."""
        ...

    def list_for_user(self, user_id: int) -> list[ApiToken]: ...

    def touch(self, token_id: int, *, at: datetime) -> None:
        """Record a use (last_used_at)."""
        ...

    def revoke(self, token_id: int) -> bool:
        """True if the token was live and is now revoked."""
        ...


class Renderer(Protocol):
    """Renders the first of `names` that exists; keeps Jinja out of `core/`."""

    def render(self, names: Sequence[str], context: Mapping[str, object]) -> str: ...

    def select(self, names: Sequence[str]) -> str:
        """The first of `names` that exists (what `render` would render)."""
        ...


class Posts(Protocol):
    def add(self, post: ChannelPost) -> ChannelPost: ...
    def list_for_ticket(self, ticket_id: int) -> list[ChannelPost]:
        """Oldest first."""
        ...

    def find(self, channel: str, ts: str) -> ChannelPost | None:
        """The post with this Slack id: which ticket a thread or a clicked message is about."""
        ...


class SeenEvents(Protocol):
    def first_time(self, source: str, event_id: str, *, at: datetime) -> bool:
        """Record a delivered event id; False if it was recorded before. Slack retries and
        Socket Mode reconnects deliver events again, so dedupe happens in the database,
        where every instance sees it (DESIGN §2 Scale-out)."""
        ...

    def forget_before(self, cutoff: datetime) -> int:
        """Drop ids recorded before `cutoff`, long after any redelivery; returns how many."""
        ...


class UnitOfWork(Protocol):
    customers: Customers
    tickets: Tickets
    messages: Messages
    drafts: Drafts
    outbox: Outbox
    quarantine: Quarantine
    audit: Audit
    actions: Actions
    mailboxes: Mailboxes
    posts: Posts
    events: SeenEvents
    reports: Reports
    users: Users
    tokens: ApiTokens

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    def commit(self) -> None: ...
    def rollback(self) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction inside the current one: an exception leaving the block undoes
        what was done in it (and propagates), a normal exit keeps it for the outer commit.
        Lets one transaction carry several messages, each of which may fail on its own."""
        ...

    def lock(self, key: str) -> None:
        """Wait for, then hold until this transaction ends, the lock named `key`, shared by
        every instance on the database: work that must not run twice at once across
        instances (posting one ticket's Slack messages). PostgreSQL: a transaction-level
        advisory lock, which cannot leak through the pool (DESIGN §6). SQLite, which one
        instance uses alone: nothing, as a write lock would hold off every other writer."""
        ...
