"""Request and response bodies of the REST API: pydantic models, and the translation of
core records into them. Unknown request fields are errors, so a typo is never ignored."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.model import (
    Conversation,
    Customer,
    Draft,
    DraftStatus,
    Message,
    Priority,
    Ticket,
    TicketStatus,
    Tier,
)

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
_TEXT_MAX = 100_000
# Ids and versions are INTEGER columns (int4 on PostgreSQL): a larger number is no row of
# ours, and must be a 422, not a driver overflow (a 500) in the query.
DB_INT_MAX = 2**31 - 1


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


class TicketCreate(_In):
    subject: str = Field(min_length=1, max_length=998)
    message: str = Field(min_length=1, max_length=_TEXT_MAX)
    # The schema states what check_email accepts, so clients (and the schema fuzzer) can
    # send a valid address; the validator enforces it with a plain message.
    customer_email: str = Field(json_schema_extra={"pattern": _EMAIL.pattern, "maxLength": 254})
    customer_name: str = Field(default="", max_length=200)
    category: str | None = Field(default=None, max_length=64)
    priority: Priority | None = None
    source: Literal["api", "web"] = "api"

    _email = field_validator("customer_email")(check_email)


class TicketPatch(_In):
    status: TicketStatus | None = None
    priority: Priority | None = None
    category: str | None = Field(default=None, max_length=64)
    assignee: str | None = Field(default=None, min_length=1, max_length=200)


class NoteCreate(_In):
    text: str = Field(min_length=1, max_length=_TEXT_MAX)


class DraftApprove(_In):
    version: int = Field(ge=1, le=DB_INT_MAX)
    text: str | None = Field(default=None, min_length=1, max_length=_TEXT_MAX)


class DraftReject(_In):
    version: int = Field(ge=1, le=DB_INT_MAX)
    reason: str = Field(min_length=1, max_length=2000)


class ClassifyIn(_In):
    subject: str = Field(default="", max_length=998)
    text: str = Field(min_length=1, max_length=_TEXT_MAX)
    tier: Tier = Tier.FREE


class TicketOut(BaseModel):
    ref: str
    subject: str
    status: TicketStatus
    priority: Priority
    priority_label: str
    category: str
    category_confidence: float
    sentiment: int
    language: str
    channel: str
    assignee: str | None
    created_at: datetime
    updated_at: datetime
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_responded_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, t: Ticket) -> TicketOut:
        return cls(
            ref=t.ref,
            subject=t.subject,
            status=t.status,
            priority=t.priority,
            priority_label=t.priority.label,
            category=t.category,
            category_confidence=round(t.category_confidence, 3),
            sentiment=t.sentiment,
            language=t.language,
            channel=t.channel.value,
            assignee=t.assignee,
            created_at=t.created_at,
            updated_at=t.updated_at,
            first_response_due=t.first_response_due,
            resolution_due=t.resolution_due,
            first_responded_at=t.first_responded_at,
            resolved_at=t.resolved_at,
        )


class TicketList(BaseModel):
    """One page of tickets. `total` is exact when `total_exact` is true, which it is whenever
    at most 500 tickets match (the count limit) or an offset page reaches the last match.
    Otherwise more than `total` tickets match, and `total` is at least 500 and at least
    `offset + limit`: counting every match of a broad filter would read them all (a million
    rows for no filter) for every page. `next_cursor` is set when more tickets follow this
    page: pass it back as `cursor`, with the same filters, `sort` and `order`, for the next
    page; it is null on the last page. Walking pages by cursor yields every matching ticket
    once, in order, however deep, at the cost of a first page.
    (Until the count limit came in, `total` was always exact; `total_exact` is new.)"""

    total: int
    total_exact: bool
    limit: int
    offset: int
    next_cursor: str | None = Field(
        description="Opaque: the `cursor` of the next page; null when this page is the last"
    )
    items: list[TicketOut]


class CreatedOut(BaseModel):
    disposition: str
    ticket: TicketOut | None = None
    quarantine_id: int | None = None


class CustomerOut(BaseModel):
    email: str
    name: str
    tier: Tier

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(email=c.email, name=c.name, tier=c.tier)


class MessageOut(BaseModel):
    id: int | None
    direction: str
    channel: str
    author: str
    subject: str
    text: str
    created_at: datetime
    automatic: str | None
    attachments: list[str]

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            direction=m.direction.value,
            channel=m.channel.value,
            author=m.author,
            subject=m.subject,
            text=m.text,
            created_at=m.created_at,
            automatic=m.automatic.value if m.automatic else None,
            attachments=[a.filename for a in m.attachments],
        )


class DraftOut(BaseModel):
    id: int | None
    ticket_id: int
    version: int
    status: DraftStatus
    text: str
    provider: str
    model: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    sources: list[str]
    flags: list[str]

    @classmethod
    def of(cls, d: Draft) -> DraftOut:
        return cls(
            id=d.id,
            ticket_id=d.ticket_id,
            version=d.version,
            status=d.status,
            text=d.text,
            provider=d.provider,
            model=d.model,
            created_at=d.created_at,
            decided_by=d.decided_by,
            decided_at=d.decided_at,
            sources=list(d.sources),
            flags=list(d.flags),
        )


class ConversationOut(BaseModel):
    ticket: TicketOut
    customer: CustomerOut
    messages: list[MessageOut]
    drafts: list[DraftOut]

    @classmethod
    def of(cls, c: Conversation) -> ConversationOut:
        return cls(
            ticket=TicketOut.of(c.ticket),
            customer=CustomerOut.of(c.customer),
            messages=[MessageOut.of(m) for m in c.messages],
            drafts=[DraftOut.of(d) for d in c.drafts],
        )


class DecisionOut(BaseModel):
    outcome: str
    draft: DraftOut
    outbox_id: int | None = None


class NoteOut(BaseModel):
    id: int | None
    created_at: datetime


class ClassifyOut(BaseModel):
    category: str
    category_confidence: float
    priority: Priority
    priority_label: str
    priority_score: float
    sentiment: int
    sentiment_score: float
    language: str
    first_response_due: datetime | None
    resolution_due: datetime | None
    signals: list[str]


class StatsOut(BaseModel):
    start: datetime
    end: datetime
    days: int
    new: int
    resolved: int
    open: int
    average_new_per_day: float
    open_by_priority: dict[str, int]
    top_categories: dict[str, int]
    first_response_median_min: float | None
    first_response_p90_min: float | None
    resolution_median_min: float | None
    resolution_p90_min: float | None
    sla_met: int
    sla_total: int
    sla_attainment: float | None
    drafts_approved: int
    drafts_edited: int
    drafts_rejected: int
    quarantined: int


class HealthOut(BaseModel):
    status: Literal["ok", "failing"]
    database: str
    mailboxes: dict[str, str]
    slack: str
    llm: str
