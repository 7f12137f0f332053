"""The database schema as SQLAlchemy Core tables: the one source migrations are checked against.

Enums are stored as their string values in VARCHAR columns rather than database enums, so a
new `TicketStatus` or `Channel` needs no migration. Every timestamp is `UtcDateTime`: aware
UTC in, aware UTC out, on PostgreSQL and on SQLite alike (DESIGN §3.7). Constraint names come
from a naming convention, because Alembic's batch mode on SQLite can only drop a constraint it
can name.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Enum values are short; 32 leaves room for new members without a migration.
_ENUM = String(32)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python, whatever the backend does.

    PostgreSQL's `timestamptz` returns aware values in the session's zone; SQLite has no
    timezone support and SQLAlchemy's SQLite DATETIME silently drops `tzinfo` without
    converting. So we convert to UTC before storing (and strip the zone for SQLite, whose
    fixed-width text format then sorts and compares correctly) and attach UTC on the way out.
    A naive datetime is refused: it would be ambiguous, and time is UTC inside (DESIGN §3.7).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String, nullable=False, unique=True),  # stored lower-cased
    Column("name", String, nullable=False),
    Column("tier", _ENUM, nullable=False),
    Column("bounced", Boolean, nullable=False),
    Column("bounce_reason", Text),
    # The record has no creation time, so the row gets one here.
    Column("created_at", UtcDateTime, nullable=False, default=_utcnow),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True),
    # Nullable only for the instant between INSERT and the UPDATE that sets `T{id}`.
    Column("ref", String, unique=True),
    Column("subject", Text, nullable=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=False),
    Column("channel", _ENUM, nullable=False),
    Column("status", _ENUM, nullable=False),
    Column("category", String, nullable=False),
    Column("category_confidence", Float, nullable=False),
    Column("priority", _ENUM, nullable=False),
    Column("priority_score", Float, nullable=False),
    Column("sentiment", Integer, nullable=False),
    Column("sentiment_score", Float, nullable=False),
    Column("language", String, nullable=False),
    Column("assignee", String),
    Column("team", String),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("first_response_due", UtcDateTime),
    Column("resolution_due", UtcDateTime),
    Column("first_responded_at", UtcDateTime),
    Column("resolved_at", UtcDateTime),
    Column("sla_paused_at", UtcDateTime),
    Column("thread_key", String),
    Index(None, "status", "priority"),
    Index(None, "customer_id", "created_at"),
    Index(None, "created_at"),
    # Serve the API's listing filters (0006).
    Index(None, "assignee"),
    Index(None, "category"),
    # 0009, for a million tickets: the digest's periods (alive = not resolved before the
    # start; answered or resolved in the period; the ranges also find the NULLs), and the
    # listing's sorts (the queue by urgency within a status; the tiebreak after priority).
    Index(None, "resolved_at"),
    Index(None, "first_responded_at"),
    Index(None, "updated_at"),
    Index(None, "resolution_due"),
    Index(None, "status", "resolution_due"),
    Index(None, "priority", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id"), nullable=False),
    Column("direction", _ENUM, nullable=False),
    Column("channel", _ENUM, nullable=False),
    Column("external_id", String, nullable=False),
    Column("author", String, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("raw", LargeBinary),
    Column("automatic", _ENUM),
    # [{filename, content_type, size}]: lets lists show attachments without loading blobs.
    Column("attachments", JSON, nullable=False),
    # To and Cc, lower-cased by the caller: a JSON list of strings, so any address round-trips
    # exactly; `[]` for none. A server default only, like `outbox.automatic`: a Python-side
    # default would put the column into every INSERT, including those written at 0002.
    Column("recipients", Text, nullable=False, server_default="[]"),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "external_id"),
    Index(None, "ticket_id"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", ForeignKey("messages.id"), nullable=False),
    Column("filename", String, nullable=False),
    Column("content_type", String, nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary),  # NULL when the channel kept only the metadata
    Index(None, "message_id"),
)

drafts = Table(
    "drafts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", _ENUM, nullable=False),
    Column("text", Text, nullable=False),
    Column("provider", String, nullable=False),
    Column("model", String, nullable=False),
    Column("prompt_version", String, nullable=False),
    Column("fallback_reason", Text),
    Column("decided_by", String),
    Column("decided_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("latency_ms", Integer),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    # JSON lists of strings, as text: both backends read them back the same way.
    Column("sources", Text, nullable=False, server_default="[]"),
    Column("flags", Text, nullable=False, server_default="[]"),
    UniqueConstraint("ticket_id", "version"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("draft_id", ForeignKey("drafts.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("actor", String, nullable=False),
    Column("action", _ENUM, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("diff", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Index(None, "draft_id"),
    # The digest's decisions in a period by action, from the index alone (0009).
    Index(None, "at", "action"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, nullable=False),
    # NULL for an automatic acknowledgement, which no draft precedes.
    Column("draft_id", Integer),
    Column("channel", _ENUM, nullable=False),
    Column("recipient", String, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("message_id", String, nullable=False, unique=True),
    Column("in_reply_to", String),
    # Whitespace-separated msg-ids, exactly as in the References header (RFC 5322 §3.6.4).
    Column("references", Text, nullable=False),
    Column("status", _ENUM, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("last_error", Text),
    # Backoff after a failed attempt: NULL means due now.
    Column("next_attempt_at", UtcDateTime),
    # The sender holding the item; a lease that ran out (a crashed sender) can be taken over.
    Column("lease_owner", String),
    Column("lease_until", UtcDateTime),
    # Sent with `Auto-Submitted: auto-replied`; counted per recipient to cap auto-responses.
    Column("automatic", Boolean, nullable=False, server_default=false()),
    # Serves `claim_due` (status = pending, next_attempt_at <= now) and status-only lookups.
    Index(None, "status", "next_attempt_at"),
    Index(None, "ticket_id"),
)

# Serves `count_automatic_since` (lower(recipient) = lower(:r) AND created_at >= :since): an
# index on the plain column could not serve a comparison of lower(recipient). Both backends
# index expressions, but SQLAlchemy cannot reflect such an index on SQLite, so there
# `compare_metadata` cannot check it (it does on PostgreSQL), and Alembic's batch mode, which
# rebuilds a table from its reflection, would lose it: a later batch migration that rebuilds
# `outbox` must drop this index before and create it again after, as 0003 does.
Index(
    "ix_outbox_lower_recipient_created_at",
    func.lower(outbox.c.recipient),
    outbox.c.created_at,
)

scheduled_actions = Table(
    "scheduled_actions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("idem_key", String, nullable=False, unique=True),
    Column("due_at", UtcDateTime, nullable=False),
    Column("ticket_id", Integer),
    Column("payload", Text, nullable=False),
    Column("status", _ENUM, nullable=False),
    Column("lease_owner", String),
    Column("lease_until", UtcDateTime),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("done_at", UtcDateTime),
    Index(None, "status", "due_at"),
    # A ticket's SLA rows are cancelled or moved on every change to the ticket.
    Index(None, "ticket_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("ticket_id", Integer),
    Column("detail", Text, nullable=False),
    Index(None, "ticket_id"),
    # Side-effect records (`digest.sent`, `sla.breach`) are looked up by action.
    Index(None, "action", "at"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", _ENUM, nullable=False),
    Column("source_id", String, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", _ENUM, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "source_id"),
)

# One row per configured mailbox: its read cursor and health. IMAP UIDs and UIDVALIDITY are
# unsigned 32-bit (RFC 9051 §2.3.1.1), beyond a signed INTEGER on PostgreSQL: BIGINT.
# `lease_owner`/`lease_until`: the instance reading it now (one at a time; 0008).
mailboxes = Table(
    "mailboxes",
    metadata,
    Column("name", String, primary_key=True),
    Column("uidvalidity", BigInteger),
    Column("last_uid", BigInteger, nullable=False, server_default="0"),
    Column("last_success_at", UtcDateTime),
    Column("last_error", Text),
    Column("last_error_at", UtcDateTime),
    Column("auth_failures", Integer, nullable=False, server_default="0"),
    Column("lag_seconds", Float),
    Column("lease_owner", String),
    Column("lease_until", UtcDateTime),
)

# Messages the bot posted in a chat channel about a ticket. Slack names a message by
# (channel, ts), ts being a string like "1700000000.000100": kept as text, since a number
# would lose the trailing digits and with them the message's identity.
channel_posts = Table(
    "channel_posts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", ForeignKey("tickets.id"), nullable=False),
    Column("kind", _ENUM, nullable=False),
    Column("channel", String, nullable=False),
    Column("ts", String, nullable=False),
    Column("draft_id", ForeignKey("drafts.id")),
    Column("message_id", ForeignKey("messages.id")),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "ts"),
    Index(None, "ticket_id"),
)

# Event ids already delivered, per source (Slack retries, Socket Mode redelivers): the
# primary key makes `SeenEvents.first_time` decide between racing instances. Nothing else
# refers to a row, so old ones can be pruned by `seen_at`, which the index serves.
seen_events = Table(
    "seen_events",
    metadata,
    Column("source", String, primary_key=True),
    Column("event_id", String, primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
    Index(None, "seen_at"),
)


# Knowledge-base articles (Markdown files indexed by `supportbot kb index`). Full-text search
# lives beside the table and differs per backend, so it is not in this metadata: on SQLite an
# FTS5 table `kb_articles_fts` kept in step by triggers, on PostgreSQL a generated `tsvector`
# column `search` with a GIN index. `SEARCH_OBJECTS` names them for schema comparisons.
kb_articles = Table(
    "kb_articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", String, nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Web accounts (0006): people and systems signing in to the REST API and dashboard.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),  # argon2 PHC string
    Column("role", _ENUM, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
)

# API tokens: only the SHA-256 of the secret is kept; the unique index finds a token by it.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("name", String, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked", Boolean, nullable=False, server_default=false()),
    Index(None, "user_id"),
)

KB_FTS_TABLE = "kb_articles_fts"
# Also PostgreSQL's trigram index for the listing's subject search (0009): a GIN index on
# lower(subject), which SQLite has no use for.
TICKET_SUBJECT_TRIGRAMS = "ix_tickets_subject_trgm"
SEARCH_OBJECTS = frozenset({"search", "ix_kb_articles_search", TICKET_SUBJECT_TRIGRAMS})


def is_search_object(name: str | None) -> bool:
    """True for the per-backend full-text objects that the metadata leaves out on purpose."""
    return name is not None and (name in SEARCH_OBJECTS or name.startswith(KB_FTS_TABLE))
