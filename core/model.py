"""The domain's nouns: frozen records that cross every boundary, and the enums they use.

Nothing here does I/O. Records are immutable so that a change is always an explicit
`dataclasses.replace` followed by a repository call, never a silent mutation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Tier(StrEnum):
    ENTERPRISE = "enterprise"
    PAID = "paid"
    FREE = "free"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer: the SLA clock is paused
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @property
    def label(self) -> str:
        return _PRIORITY_LABELS[self]


_PRIORITY_LABELS = {
    Priority.P0: "critical",
    Priority.P1: "high",
    Priority.P2: "medium",
    Priority.P3: "low",
}


class Channel(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    WEB = "web"
    API = "api"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"  # internal: never reaches the customer


class AutoKind(StrEnum):
    """Why an inbound message is automatic, and so must never be drafted to or answered."""

    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"
    OWN = "own"  # our own outbound mail coming back


class DraftStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"  # approved with the approver's changes
    REJECTED = "rejected"
    SENT = "sent"
    SUPERSEDED = "superseded"  # a newer version replaced it before anyone decided


class Disposition(StrEnum):
    """What intake did with one inbound message; the CLI counts these."""

    NEW_TICKET = "new_ticket"
    FOLLOWUP = "followup"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    IGNORED_AUTOMATIC = "ignored_automatic"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class ActionStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class QuarantineStatus(StrEnum):
    HELD = "held"  # waiting for a person
    IGNORED = "ignored"  # automatic mail that matched no ticket: kept, but nobody is asked
    REPROCESSED = "reprocessed"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    content: bytes | None = None  # None when larger than the configured cap


@dataclass(frozen=True)
class InboundMessage:
    """One message from any channel, in the shape intake understands.

    `raw` always travels along so the original can be stored and reprocessed. A channel
    that could not make sense of the bytes still builds one of these with `problem` set,
    and intake quarantines it: every ingress converges on `handle_inbound`.
    """

    channel: Channel
    raw: bytes
    received_at: datetime
    external_id: str | None = None  # Message-ID, Slack ts; None → a content hash is used
    sender_email: str = ""
    sender_name: str = ""
    subject: str = ""
    text: str = ""  # the new part, quotes and signature removed
    full_text: str = ""  # the whole readable body
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    automatic: AutoKind | None = None
    bounced_recipients: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    thread_key: str | None = None  # e.g. a Slack thread ts that groups follow-ups
    problem: str | None = None  # set by a channel that could not parse the message

    @property
    def dedupe_key(self) -> str:
        """The source's id, or a hash of the bytes when the source gave none."""
        if self.external_id:
            return self.external_id
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()


@dataclass(frozen=True)
class Customer:
    email: str
    name: str = ""
    tier: Tier = Tier.FREE
    bounced: bool = False
    id: int | None = None


@dataclass(frozen=True)
class SlaDue:
    first_response_due: datetime | None
    resolution_due: datetime | None


@dataclass(frozen=True)
class TriageResult:
    category: str
    category_confidence: float
    sentiment: int  # 1 (happy) … 5 (angry)
    sentiment_score: float  # -1 … 1, negative is unhappy
    priority: Priority
    priority_score: float
    language: str
    sla: SlaDue
    signals: tuple[str, ...] = ()  # human-readable reasons, shown to agents


@dataclass(frozen=True)
class Ticket:
    subject: str
    customer_id: int
    channel: Channel
    created_at: datetime
    updated_at: datetime
    status: TicketStatus = TicketStatus.NEW
    category: str = "general"
    category_confidence: float = 0.0
    priority: Priority = Priority.P3
    priority_score: float = 0.0
    sentiment: int = 3
    sentiment_score: float = 0.0
    language: str = "en"
    assignee: str | None = None
    team: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    sla_paused_at: datetime | None = None
    thread_key: str | None = None
    id: int | None = None
    ref: str = ""


@dataclass(frozen=True)
class Message:
    ticket_id: int
    direction: Direction
    channel: Channel
    external_id: str
    author: str
    text: str
    created_at: datetime
    raw: bytes | None = None
    subject: str = ""
    automatic: AutoKind | None = None
    attachments: tuple[Attachment, ...] = ()
    recipients: tuple[str, ...] = ()  # To and Cc: people on the thread besides the customer
    id: int | None = None


@dataclass(frozen=True)
class Draft:
    ticket_id: int
    version: int
    text: str
    created_at: datetime
    status: DraftStatus = DraftStatus.PENDING
    provider: str = "offline"
    model: str = ""
    prompt_version: str = ""
    fallback_reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    id: int | None = None
    latency_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    sources: tuple[str, ...] = ()  # titles (and links) of the knowledge-base articles used
    flags: tuple[str, ...] = ()  # notes for the approver: commitments, language, no source


@dataclass(frozen=True)
class Decision:
    draft_id: int
    version: int
    actor: str
    action: DraftStatus
    at: datetime
    diff: str = ""
    reason: str = ""
    id: int | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A reply committed to be sent. `draft_id` None marks an automatic acknowledgement,
    the one message that needs no approval (DESIGN §3.3), always sent as auto-replied."""

    ticket_id: int
    draft_id: int | None
    channel: Channel
    recipient: str
    subject: str
    body: str
    message_id: str  # deterministic, so a resend after a crash is recognisable
    created_at: datetime
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0  # > 1 when sending: a resend (after a crash or a failure), same Message-ID
    sent_at: datetime | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None  # backoff after a failed attempt
    lease_owner: str | None = None
    lease_until: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class ScheduledAction:
    kind: str
    idem_key: str  # unique: `sla-warn:T42:first_response`, `digest:U123:2026-11-23`
    due_at: datetime
    ticket_id: int | None = None
    payload: str = "{}"  # JSON, primitive values only
    status: ActionStatus = ActionStatus.PENDING
    lease_owner: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    id: int | None = None


class PostKind(StrEnum):
    """What a chat message posted about a ticket shows, so it can be updated in place."""

    CARD = "card"  # the ticket card in the agents' channel
    CUSTOMER = "customer"  # a customer's message, in the card's thread
    DRAFT = "draft"  # a draft with its decision buttons, in the card's thread
    NOTICE = "notice"  # anything else the bot said in the thread (sent, escalated …)


@dataclass(frozen=True)
class ChannelPost:
    """A message the bot posted in a chat channel (Slack), tied to a ticket.

    The (channel, ts) pair is Slack's id for a message; keeping it lets the bot edit the
    card and draft in place and tells it which ticket a thread belongs to.
    """

    ticket_id: int
    kind: PostKind
    channel: str
    ts: str
    created_at: datetime
    draft_id: int | None = None
    message_id: int | None = None  # for CUSTOMER posts: the stored message shown
    id: int | None = None


@dataclass(frozen=True)
class MailboxState:
    """A mailbox's cursor and health: where reading resumes, and whether it is well.

    The cursor (uidvalidity, last_uid) advances only after the messages up to last_uid are
    committed; a new uidvalidity means the server renumbered the folder and it is rescanned.
    """

    name: str
    uidvalidity: int | None = None
    last_uid: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    auth_failures: int = 0  # consecutive; reset by a successful login
    lag_seconds: float | None = None  # age of the oldest message still to read, at last poll


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str
    at: datetime
    ticket_id: int | None = None
    detail: str = "{}"  # JSON
    id: int | None = None


@dataclass(frozen=True)
class QuarantineItem:
    channel: Channel
    raw: bytes
    reason: str
    received_at: datetime
    source_id: str = ""  # the dedupe key of the message, when known
    status: QuarantineStatus = QuarantineStatus.HELD
    id: int | None = None


@dataclass(frozen=True)
class Conversation:
    """A ticket with everything an agent needs to decide: for `tickets show` and the API."""

    ticket: Ticket
    customer: Customer
    messages: tuple[Message, ...] = field(default_factory=tuple)
    drafts: tuple[Draft, ...] = field(default_factory=tuple)


class Role(StrEnum):
    """What a web user may do: agents work tickets (and decide drafts when they are listed in
    `approval.approvers`); managers and admins may always decide; admins manage accounts."""

    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


@dataclass(frozen=True)
class User:
    """A person or system that signs in to the web app; acts as `web:<login>`."""

    login: str
    password_hash: str  # argon2 (PHC string); never the password itself
    role: Role
    created_at: datetime
    disabled: bool = False
    id: int | None = None

    @property
    def actor(self) -> str:
        return f"web:{self.login}"


@dataclass(frozen=True)
class ApiToken:
    """An API token for systems; only the SHA-256 of the secret is stored."""

    user_id: int
    name: str
    token_hash: str  # hex SHA-256 of the secret
    created_at: datetime
    last_used_at: datetime | None = None
    revoked: bool = False
    id: int | None = None


class TicketSort(StrEnum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    PRIORITY = "priority"
    RESOLUTION_DUE = "resolution_due"


@dataclass(frozen=True)
class TicketPosition:
    """A ticket's place in a listing's order (its sort value, then its id breaking ties), from
    which the next page goes on: unlike an offset it stays put when tickets are added."""

    sort: TicketSort
    descending: bool
    value: datetime | str | None  # the sort column's value; None sorts after every value
    ticket_id: int


@dataclass(frozen=True)
class TicketQuery:
    """Filters, order and page of a ticket listing; None filters match everything."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    category: str | None = None
    assignee: str | None = None
    customer_email: str | None = None
    text: str | None = None  # case-insensitive substring of the subject
    sort: TicketSort = TicketSort.CREATED_AT
    descending: bool = True
    limit: int = 50
    offset: int = 0
    # Keyset paging: the page starts right after this place in the same order, so a deep
    # page costs what the first does (an offset reads and drops every row before it).
    after: TicketPosition | None = None
    # Counting every match of a broad filter reads every matching row (the whole table for
    # no filter), however small the page: beyond this many the total is a lower bound. The
    # cost of counting this far grows as matches thin out (a text search for a word in one
    # subject in thirty reads 15,000 subjects to count 500).
    count_limit: int = 500


@dataclass(frozen=True)
class TicketPage:
    tickets: tuple[Ticket, ...]
    # Matching tickets, whatever the page. Not exact when more than the query's count limit
    # match: then more than `total` match, and `total` is at least the end of this page.
    total: int
    total_exact: bool = True
    # Where the next page starts, when more tickets follow this page; None on the last.
    next: TicketPosition | None = None


@dataclass(frozen=True)
class Breach:
    """An SLA clock that ran out: answered or resolved late, or not at all yet."""

    ref: str
    subject: str
    clock: str  # "first response" or "resolution"
    due: datetime
    at: datetime | None  # when answered/resolved; None: still open and overdue


@dataclass(frozen=True)
class PeriodQuery:
    """What the digest asks of the tickets alive in [start, end) (`Reports.period`).

    Alive: created before `end` and not resolved before `start`. Of those, *new* were created
    in the period, *resolved* resolved in it, and *open* have a status in `open_statuses` and
    were not resolved before `end`; open tickets are counted by priority and by age at `end`
    (below each of the ascending `age_limits`, then the rest). Response and resolution times
    (minutes from creation, of the answers and resolutions in the period) are summarised by
    nearest-rank percentiles: the value at rank ⌈share·n⌉ of the n sorted times. An SLA
    clock (first response, resolution) with a due time counts when it was done in the period
    (met if by its due time, else a breach) or, not done, fell due in it (a breach).
    """

    start: datetime
    end: datetime
    open_statuses: tuple[TicketStatus, ...]
    age_limits: tuple[timedelta, ...]
    shares: tuple[float, ...]
    top_categories: int  # the most frequent categories of new tickets, ties by first ticket
    unhappy_sentiment: int  # open tickets at least this unhappy …
    unhappy_limit: int  # … this many of them, the unhappiest first
    # Without details, no breaches and no unhappy tickets are listed (only counted: the
    # breaches are sla_total - sla_met): a month holds thousands of breaches, and the
    # stats need only their number.
    details: bool = True
    breach_limit: int | None = None  # list only the first this many breaches; None: all


@dataclass(frozen=True)
class PeriodReport:
    """The answer to a `PeriodQuery`: counts and the few tickets a digest lists."""

    new: int
    resolved: int
    open_by_priority: dict[str, int]  # every Priority value, zeros included
    open_by_age: tuple[int, ...]  # len(age_limits) + 1 counts, youngest first
    first_response_minutes: tuple[float | None, ...]  # one per share; None: no answers
    resolution_minutes: tuple[float | None, ...]
    sla_met: int
    sla_total: int
    breaches: tuple[Breach, ...]  # by due time, then ticket creation, first response first
    top_categories: tuple[tuple[str, int], ...]
    unhappy: tuple[Ticket, ...]


@dataclass(frozen=True)
class DayCounts:
    """One 24-hour period of the digest's history (`Reports.history`)."""

    start: datetime
    new: int  # created in it
    backlog: int  # open at its end, as they were then (resolved later counts as open)
    breaches: int  # SLA clocks that ran out in it, as in a `PeriodReport`
