"""What the dashboard's templates show: core records turned into display rows.

Templates stay logic-free (no date arithmetic, no formatting rules): every figure, time and
SLA state is computed here, in the team's time zone, and handed over as plain strings.
Customer text is passed through untouched; the templates' autoescaping makes it safe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.digest import Breach, DigestFigures
from core.model import (
    Decision,
    Draft,
    DraftStatus,
    MailboxState,
    Message,
    OutboxItem,
    QuarantineItem,
    Ticket,
    TicketPage,
    TicketStatus,
)

_PREVIEW_BYTES = 2000


def human_duration(delta: timedelta) -> str:
    """The two largest units, as a person says it: "2 d 3 h", "3 h 20 min", "12 min"."""
    minutes = int(abs(delta).total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "min")) if n]
    return " ".join(parts[:2])


@dataclass(frozen=True)
class Moment:
    """A time shown in the team's zone, with the exact instant for <time datetime=…>."""

    text: str
    iso: str

    @classmethod
    def of(cls, at: datetime | None, zone: ZoneInfo) -> Moment | None:
        if at is None:
            return None
        local = at.astimezone(zone)
        return cls(text=local.strftime("%Y-%m-%d %H:%M %Z"), iso=at.isoformat())


@dataclass(frozen=True)
class SlaClock:
    """One SLA target of a ticket and where it stands now.

    state: "none" (no target), "met", "missed", "paused" (waiting on the customer),
    "due" (running) or "overdue" (running and past due); the template styles by it."""

    name: str
    due: Moment | None
    state: str
    text: str

    @property
    def is_overdue(self) -> bool:
        return self.state in ("overdue", "missed")


def sla_clock(
    name: str,
    *,
    due: datetime | None,
    done: datetime | None,
    paused_at: datetime | None,
    now: datetime,
    zone: ZoneInfo,
) -> SlaClock:
    shown = Moment.of(due, zone)
    if due is None:
        return SlaClock(name, None, "none", "no target")
    if done is not None:
        if done <= due:
            return SlaClock(name, shown, "met", f"met, {human_duration(due - done)} early")
        return SlaClock(name, shown, "missed", f"missed by {human_duration(done - due)}")
    if paused_at is not None:
        return SlaClock(name, shown, "paused", "paused: waiting on the customer")
    if now <= due:
        return SlaClock(name, shown, "due", f"due in {human_duration(due - now)}")
    return SlaClock(name, shown, "overdue", f"overdue by {human_duration(now - due)}")


def ticket_clocks(ticket: Ticket, *, now: datetime, zone: ZoneInfo) -> tuple[SlaClock, SlaClock]:
    paused = ticket.sla_paused_at if ticket.status is TicketStatus.PENDING else None
    return (
        sla_clock(
            "First response",
            due=ticket.first_response_due,
            done=ticket.first_responded_at,
            paused_at=paused,
            now=now,
            zone=zone,
        ),
        sla_clock(
            "Resolution",
            due=ticket.resolution_due,
            done=ticket.resolved_at,
            paused_at=paused,
            now=now,
            zone=zone,
        ),
    )


@dataclass(frozen=True)
class TicketRow:
    ref: str
    subject: str
    status: str
    priority: str
    priority_label: str
    category: str
    sentiment: int
    language: str
    channel: str
    assignee: str
    created: Moment | None
    next_due: SlaClock  # the clock that runs now: first response, else resolution

    @classmethod
    def of(cls, t: Ticket, *, now: datetime, zone: ZoneInfo) -> TicketRow:
        first, resolution = ticket_clocks(t, now=now, zone=zone)
        return cls(
            ref=t.ref,
            subject=t.subject,
            status=t.status.value,
            priority=t.priority.value,
            priority_label=t.priority.label,
            category=t.category,
            sentiment=t.sentiment,
            language=t.language,
            channel=t.channel.value,
            assignee=t.assignee or "",
            created=Moment.of(t.created_at, zone),
            next_due=first if t.first_responded_at is None else resolution,
        )


@dataclass(frozen=True)
class Pager:
    """Where one page of the ticket list stands. The search counts matches only up to its
    count limit (`TicketPage.total_exact`), since counting a broad filter reads every match;
    past it the total is a lower bound, so the page says "500+", counts no pages, and offers
    a next page while this one has rows, not by a page count worked out from that bound."""

    found: str  # "27", or "500+" when more than that match
    page_no: int
    pages: int | None  # None while the total is only a lower bound
    has_next: bool

    @classmethod
    def of(cls, found: TicketPage, *, page_no: int, page_size: int) -> Pager:
        if found.total_exact:
            pages = max(1, math.ceil(found.total / page_size))
            return cls(str(found.total), page_no, pages, has_next=page_no < pages)
        # More than `total` match and `total` reaches at least this page's end, so a page
        # with rows has another after it; an empty one lies past the end of the list.
        return cls(f"{found.total}+", page_no, None, has_next=bool(found.tickets))


@dataclass(frozen=True)
class MessageView:
    direction: str  # inbound, outbound, note: the template's CSS class
    channel: str
    author: str
    subject: str
    text: str
    at: Moment | None
    automatic: str
    attachments: tuple[str, ...]

    @classmethod
    def of(cls, m: Message, *, zone: ZoneInfo) -> MessageView:
        return cls(
            direction=m.direction.value,
            channel=m.channel.value,
            author=m.author,
            subject=m.subject,
            text=m.text,
            at=Moment.of(m.created_at, zone),
            automatic=m.automatic.value.replace("_", " ") if m.automatic else "",
            attachments=tuple(a.filename for a in m.attachments),
        )


@dataclass(frozen=True)
class DecisionView:
    actor: str
    action: str
    at: Moment | None
    reason: str


@dataclass(frozen=True)
class DraftView:
    id: int
    version: int
    status: str
    text: str
    provider: str
    model: str
    created: Moment | None
    decided_by: str
    decided: Moment | None
    fallback_reason: str
    sources: tuple[str, ...]
    flags: tuple[str, ...]
    decisions: tuple[DecisionView, ...]

    @property
    def is_pending(self) -> bool:
        return self.status == DraftStatus.PENDING.value

    @classmethod
    def of(cls, d: Draft, decisions: Iterable[Decision], *, zone: ZoneInfo) -> DraftView:
        assert d.id is not None
        return cls(
            id=d.id,
            version=d.version,
            status=d.status.value,
            text=d.text,
            provider=d.provider,
            model=d.model,
            created=Moment.of(d.created_at, zone),
            decided_by=d.decided_by or "",
            decided=Moment.of(d.decided_at, zone),
            fallback_reason=d.fallback_reason or "",
            sources=d.sources,
            flags=d.flags,
            decisions=tuple(
                DecisionView(e.actor, e.action.value, Moment.of(e.at, zone), e.reason)
                for e in decisions
            ),
        )


@dataclass(frozen=True)
class OutboxView:
    recipient: str
    status: str
    attempts: int
    sent: Moment | None
    last_error: str

    @classmethod
    def of(cls, item: OutboxItem, *, zone: ZoneInfo) -> OutboxView:
        return cls(
            recipient=item.recipient,
            status=item.status.value,
            attempts=item.attempts,
            sent=Moment.of(item.sent_at, zone),
            last_error=item.last_error or "",
        )


@dataclass(frozen=True)
class QuarantineRow:
    id: int
    status: str
    channel: str
    received: Moment | None
    size: int
    reason: str
    preview: str  # the start of the raw message, decoded leniently: what it was

    @property
    def is_held(self) -> bool:
        return self.status == "held"

    @classmethod
    def of(cls, q: QuarantineItem, *, zone: ZoneInfo) -> QuarantineRow:
        assert q.id is not None
        return cls(
            id=q.id,
            status=q.status.value,
            channel=q.channel.value,
            received=Moment.of(q.received_at, zone),
            size=len(q.raw),
            reason=q.reason,
            preview=q.raw[:_PREVIEW_BYTES].decode("utf-8", errors="replace"),
        )


@dataclass(frozen=True)
class MailboxRow:
    name: str
    is_ok: bool
    problem: str
    last_success: Moment | None
    auth_failures: int
    lag: str
    last_uid: int


def mailbox_rows(states: Iterable[MailboxState], *, zone: ZoneInfo) -> list[MailboxRow]:
    """Each mailbox the readers have recorded; it fails when its login fails or its last
    poll erred, exactly as /health judges it."""
    rows = []
    for state in sorted(states, key=lambda s: s.name):
        failing = state.auth_failures > 0 or bool(state.last_error)
        rows.append(
            MailboxRow(
                name=state.name,
                is_ok=not failing,
                problem=(state.last_error or "login failing") if failing else "",
                last_success=Moment.of(state.last_success_at, zone),
                auth_failures=state.auth_failures,
                lag=human_duration(timedelta(seconds=state.lag_seconds))
                if state.lag_seconds is not None
                else "",
                last_uid=state.last_uid,
            )
        )
    return rows


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: int  # top of the bar in the SVG, in its own units
    width: float  # 0–100: share of the largest value


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart drawn as inline SVG: no script, no style attribute (the CSP
    forbids inline styles), just rectangles sized in the SVG's own units."""

    title: str
    bars: tuple[Bar, ...]
    height: int

    @classmethod
    def of(cls, title: str, values: Mapping[str, int] | Sequence[tuple[str, int]]) -> BarChart:
        items = list(values.items()) if isinstance(values, Mapping) else list(values)
        peak = max([1, *(v for _, v in items)])
        row = 24
        bars = tuple(
            Bar(label, value, y=n * row, width=round(100 * value / peak, 1))
            for n, (label, value) in enumerate(items)
        )
        return cls(title=title, bars=bars, height=max(row, row * len(bars)))


@dataclass(frozen=True)
class Figure:
    label: str
    value: str


def _minutes(value: float | None) -> str:
    return "—" if value is None else human_duration(timedelta(minutes=value))


def figure_rows(f: DigestFigures, *, days: int) -> list[Figure]:
    """The headline numbers /api/stats gives, worded for people."""
    decided = f.decisions
    as_drafted = f"{round(100 * f.drafts_approved / decided)} %" if decided else "—"
    attainment = "—" if f.sla_attainment is None else f"{round(100 * f.sla_attainment)} %"
    return [
        Figure("New tickets", str(f.new)),
        Figure("Average new per day", f"{f.new / days:.2f}"),
        Figure("Resolved", str(f.resolved)),
        Figure("Open now", str(f.open)),
        Figure("First response, median", _minutes(f.first_response_median_min)),
        Figure("First response, 90th percentile", _minutes(f.first_response_p90_min)),
        Figure("Resolution, median", _minutes(f.resolution_median_min)),
        Figure("Resolution, 90th percentile", _minutes(f.resolution_p90_min)),
        Figure("SLA attainment", f"{attainment} ({f.sla_met} of {f.sla_total})"),
        Figure(
            "Drafts approved / edited / rejected",
            f"{f.drafts_approved} / {f.drafts_edited} / {f.drafts_rejected}",
        ),
        Figure("Drafts sent as drafted", as_drafted),
        Figure("Held in quarantine", str(f.quarantined)),
    ]


@dataclass(frozen=True)
class BreachRow:
    ref: str
    subject: str
    clock: str
    due: Moment | None
    done: Moment | None  # None: still open and overdue

    @classmethod
    def of(cls, b: Breach, *, zone: ZoneInfo) -> BreachRow:
        return cls(b.ref, b.subject, b.clock, Moment.of(b.due, zone), Moment.of(b.at, zone))
