"""The work queue as agents see it: tickets still to handle, their next SLA due time, what is
about to breach, and the counts `/support stats` and the Slack Home tab show.

Read-only and channel-neutral. The ticket repository lists by status only, so this reads the
active tickets (new, open, pending; at most `limit` per status) and sorts and counts in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.model import Priority, QuarantineStatus, Ticket, TicketStatus
from core.ports import UnitOfWork

ACTIVE = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
WAITING_ON_US = (TicketStatus.NEW, TicketStatus.OPEN)
SOON = timedelta(hours=1)
_FAR = datetime.max.replace(tzinfo=None)


def next_due(ticket: Ticket) -> datetime | None:
    """The deadline that matters now: first response until one was given, then resolution.
    None while the SLA clock is paused (waiting on the customer) or when there is none."""
    if ticket.sla_paused_at is not None or ticket.status not in WAITING_ON_US:
        return None
    if ticket.first_responded_at is None and ticket.first_response_due is not None:
        return ticket.first_response_due
    return ticket.resolution_due


def _order(ticket: Ticket) -> tuple[str, datetime]:
    due = next_due(ticket)
    return ticket.priority.value, due.replace(tzinfo=None) if due is not None else _FAR


def active_tickets(uow: UnitOfWork, *, limit: int = 1000) -> list[Ticket]:
    """New, open and pending tickets, most urgent first (priority, then next due time)."""
    with uow:
        found = [t for status in ACTIVE for t in uow.tickets.list(status=status, limit=limit)]
    return sorted(found, key=_order)


def assigned_to(uow: UnitOfWork, assignee: str) -> list[Ticket]:
    return [t for t in active_tickets(uow) if t.assignee == assignee]


@dataclass(frozen=True)
class QueueStats:
    open_by_priority: dict[Priority, int] = field(default_factory=dict)  # new + open
    pending: int = 0  # waiting on the customer (or snoozed)
    breaching_soon: int = 0  # next due time within `soon`, not yet passed
    breached: int = 0  # next due time passed
    quarantined: int = 0  # held messages waiting for a person

    @property
    def open_total(self) -> int:
        return sum(self.open_by_priority.values())


def queue_stats(
    uow: UnitOfWork, *, now: datetime, soon: timedelta = SOON, tickets: list[Ticket] | None = None
) -> QueueStats:
    tickets = active_tickets(uow) if tickets is None else tickets
    by_priority = {p: 0 for p in Priority}
    pending = soon_count = breached = 0
    for ticket in tickets:
        if ticket.status is TicketStatus.PENDING:
            pending += 1
            continue
        by_priority[ticket.priority] += 1
        due = next_due(ticket)
        if due is None:
            continue
        if due <= now:
            breached += 1
        elif due <= now + soon:
            soon_count += 1
    with uow:
        held = len(uow.quarantine.list(status=QuarantineStatus.HELD))
    return QueueStats(by_priority, pending, soon_count, breached, held)
