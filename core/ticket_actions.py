"""What an agent does to a ticket besides deciding on drafts: reclassify, change priority,
assign, snooze, resolve. Channel-neutral (Slack's overflow menu today, the CLI and web later).

Each operation checks the actor against the approval policy (a refusal is audited and raises
`NotAuthorised`), changes the ticket in one transaction with an audit event saying who did
what, and returns a `TicketChange`. Asking for the state a ticket is already in changes
nothing and records nothing (`applied` False), so a double click acts once.

A snooze sets the ticket pending (the SLA clock pauses) and records a durable scheduled
action `snooze:T42:<until>` of kind `ticket.wake`; `wake` reopens the ticket when it is due,
unless something else happened since (a customer reply reopened it, it was resolved, or it was
snoozed again with another time).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.approval import ApprovalPolicy
from core.errors import InvalidInput, NotAuthorised, NotFound
from core.model import (
    AuditEvent,
    Channel,
    Direction,
    Message,
    Priority,
    ScheduledAction,
    Ticket,
    TicketStatus,
    Tier,
)
from core.ports import Clock, UnitOfWork
from core.sla_actions import cancel_sla_actions, sync_sla_actions
from core.triage.sla import (
    BusinessHours,
    SlaPolicy,
    add_business_minutes,
    compute_sla_due,
    resume_sla,
    sla_target_for,
)

WAKE = "ticket.wake"  # the scheduled-action kind that ends a snooze
SNOOZED = "ticket.snoozed"
# A person setting a label; `supportbot train --from-db` learns from these.
RECLASSIFIED = "ticket.reclassified"
PRIORITY_SET = "ticket.priority"
STATUS_SET = "ticket.status"
SYSTEM_ACTOR = "supportbot"
_CLOSED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


class SnoozeChoice(StrEnum):
    NEXT_MORNING = "morning"  # the next business opening after midnight (tomorrow 09:00)
    FOUR_HOURS = "4h"


@dataclass(frozen=True)
class TicketChange:
    ticket: Ticket  # as it is now
    applied: bool  # False: it already was so, nothing was recorded
    event_id: int | None = None  # the audit event of the change


def snooze_until(now: datetime, choice: SnoozeChoice, *, hours: BusinessHours) -> datetime:
    """When a snooze ends: four hours from now, or the team's next opening from tomorrow on
    (tomorrow 09:00 on a weekday with the default hours; Monday morning from a Friday)."""
    if choice is SnoozeChoice.FOUR_HOURS:
        return now + timedelta(hours=4)
    zone = ZoneInfo(hours.timezone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    return add_business_minutes(midnight.astimezone(UTC), 0, hours=hours).astimezone(UTC)


def reclassify(
    uow: UnitOfWork,
    *,
    ticket_id: int,
    category: str,
    categories: Sequence[str],
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
) -> TicketChange:
    if category not in categories:
        raise InvalidInput(f"unknown category {category!r}; one of: {', '.join(categories)}")

    def change(ticket: Ticket) -> tuple[Ticket, dict[str, object]] | None:
        if ticket.category == category:
            return None
        detail: dict[str, object] = {"from": ticket.category, "to": category}
        return replace(ticket, category=category, category_confidence=1.0), detail

    return _apply(uow, ticket_id, RECLASSIFIED, change, actor, policy, clock)


def set_priority(
    uow: UnitOfWork,
    *,
    ticket_id: int,
    priority: Priority,
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
    sla: SlaPolicy,
) -> TicketChange:
    """A new priority, and the SLA due times that priority promises (from the ticket's
    creation; a first response already given keeps its due time on record)."""

    def change(ticket: Ticket) -> tuple[Ticket, dict[str, object]] | None:
        if ticket.priority is priority:
            return None
        due = compute_sla_due(
            ticket.created_at, priority=priority, tier=_tier(uow, ticket), policy=sla
        )
        changed = replace(
            ticket,
            priority=priority,
            resolution_due=due.resolution_due,
            first_response_due=ticket.first_response_due
            if ticket.first_responded_at is not None
            else due.first_response_due,
        )
        sync_sla_actions(uow, changed, policy=sla)
        return changed, {"from": ticket.priority.value, "to": priority.value}

    return _apply(uow, ticket_id, PRIORITY_SET, change, actor, policy, clock)


def assign(
    uow: UnitOfWork,
    *,
    ticket_id: int,
    assignee: str | None,
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
) -> TicketChange:
    """Give the ticket to `assignee` (an actor id such as `slack:U123`), or to nobody."""

    def change(ticket: Ticket) -> tuple[Ticket, dict[str, object]] | None:
        if ticket.assignee == assignee:
            return None
        return replace(ticket, assignee=assignee), {"from": ticket.assignee, "to": assignee}

    return _apply(uow, ticket_id, "ticket.assigned", change, actor, policy, clock)


def snooze(
    uow: UnitOfWork,
    *,
    ticket_id: int,
    until: datetime,
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
) -> TicketChange:
    """Pending until `until` (SLA paused), then reopened by the `ticket.wake` action."""
    now = clock.now()
    if until <= now:
        raise InvalidInput("a snooze must end in the future")
    until = until.astimezone(UTC)

    def change(ticket: Ticket) -> tuple[Ticket, dict[str, object]] | None:
        if ticket.status in _CLOSED:
            raise InvalidInput(f"{ticket.ref} is {ticket.status.value}; reopen it first")
        uow.actions.add_if_absent(wake_action(ticket, until))
        changed = replace(
            ticket, status=TicketStatus.PENDING, sla_paused_at=ticket.sla_paused_at or now
        )
        return changed, {"until": until.isoformat(), "from": ticket.status.value}

    return _apply(uow, ticket_id, SNOOZED, change, actor, policy, clock)


def wake_action(ticket: Ticket, until: datetime) -> ScheduledAction:
    stamp = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return ScheduledAction(
        kind=WAKE,
        idem_key=f"snooze:{ticket.ref}:{stamp}",
        due_at=until,
        ticket_id=ticket.id,
        payload=json.dumps({"until": until.astimezone(UTC).isoformat()}),
    )


def resolve(
    uow: UnitOfWork,
    *,
    ticket_id: int,
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
) -> TicketChange:
    now = clock.now()

    def change(ticket: Ticket) -> tuple[Ticket, dict[str, object]] | None:
        if ticket.status in _CLOSED:
            return None
        resolved = replace(
            ticket, status=TicketStatus.RESOLVED, resolved_at=now, sla_paused_at=None
        )
        return resolved, {"from": ticket.status.value}

    return _apply(uow, ticket_id, "ticket.resolved", change, actor, policy, clock)


def set_status(
    uow: UnitOfWork,
    *,
    ticket_id: int,
    status: TicketStatus,
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
    sla: SlaPolicy,
) -> TicketChange:
    """Reopen, put on hold, resolve or close, with the SLA clock following: pending pauses
    it, reopening resumes what was left and plans the SLA actions again, closing ends it."""
    if status is TicketStatus.RESOLVED:
        return resolve(uow, ticket_id=ticket_id, actor=actor, policy=policy, clock=clock)
    if status is TicketStatus.NEW:
        raise InvalidInput("a ticket cannot become new again; set it to open")
    now = clock.now()

    def change(ticket: Ticket) -> tuple[Ticket, dict[str, object]] | None:
        if ticket.status is status:
            return None
        detail: dict[str, object] = {"from": ticket.status.value, "to": status.value}
        if status is TicketStatus.PENDING:
            return replace(ticket, status=status, sla_paused_at=ticket.sla_paused_at or now), detail
        if status is TicketStatus.CLOSED:
            return replace(ticket, status=status, resolved_at=ticket.resolved_at or now), detail
        reopened = replace(_resumed(uow, ticket, now=now, sla=sla), status=status, resolved_at=None)
        sync_sla_actions(uow, reopened, policy=sla)
        return reopened, detail

    return _apply(uow, ticket_id, STATUS_SET, change, actor, policy, clock)


def wake(uow: UnitOfWork, action: ScheduledAction, *, clock: Clock, sla: SlaPolicy) -> TicketChange:
    """The end of a snooze: reopen and restart the SLA clock, if the snooze still stands."""
    if action.ticket_id is None:
        raise InvalidInput("a wake action needs a ticket")
    until = str(json.loads(action.payload).get("until", ""))
    now = clock.now()
    with uow:
        ticket = _ticket(uow, action.ticket_id)
        assert ticket.id is not None
        snoozes = [e for e in uow.audit.list_for_ticket(ticket.id) if e.action == SNOOZED]
        latest = json.loads(snoozes[-1].detail).get("until") if snoozes else None
        if ticket.status is not TicketStatus.PENDING or latest != until:
            return TicketChange(ticket, applied=False)
        woken = replace(
            _resumed(uow, ticket, now=now, sla=sla), status=TicketStatus.OPEN, updated_at=now
        )
        uow.tickets.save(woken)
        sync_sla_actions(uow, woken, policy=sla)
        event = _audit(uow, "ticket.woken", SYSTEM_ACTOR, ticket.id, now, {"until": until})
        uow.commit()
        return TicketChange(woken, applied=True, event_id=event.id)


# -- helpers -----------------------------------------------------------------------------------

_Change = Callable[[Ticket], tuple[Ticket, dict[str, object]] | None]


def _apply(
    uow: UnitOfWork,
    ticket_id: int,
    action: str,
    change: _Change,
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
) -> TicketChange:
    now = clock.now()
    with uow:
        ticket = _ticket(uow, ticket_id)
        if not policy.may_decide(actor):
            _audit(uow, "ticket.refused", actor, ticket_id, now, {"action": action})
            uow.commit()
            raise NotAuthorised(f"{actor} may not change tickets")
        result = change(ticket)
        if result is None:
            return TicketChange(ticket, applied=False)
        changed, detail = result
        changed = replace(changed, updated_at=now)
        uow.tickets.save(changed)
        if changed.status in (TicketStatus.PENDING, *_CLOSED):
            cancel_sla_actions(uow, ticket_id)  # paused or done: nothing is due any more
        event = _audit(uow, action, actor, ticket_id, now, detail)
        uow.commit()
        return TicketChange(changed, applied=True, event_id=event.id)


def _resumed(uow: UnitOfWork, ticket: Ticket, *, now: datetime, sla: SlaPolicy) -> Ticket:
    """The ticket with its SLA clock running again: the time left when it paused is given
    back from `now` (on the target's calendar)."""
    if ticket.sla_paused_at is None:
        return ticket
    calendar = sla_target_for(ticket.priority, _tier(uow, ticket), policy=sla).calendar
    due = resume_sla(
        ticket.resolution_due,
        paused_at=ticket.sla_paused_at,
        resumed_at=max(now, ticket.sla_paused_at),
        policy=sla,
        calendar=calendar,
    )
    return replace(ticket, resolution_due=due, sla_paused_at=None)


def _ticket(uow: UnitOfWork, ticket_id: int) -> Ticket:
    ticket = uow.tickets.get(ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


def _tier(uow: UnitOfWork, ticket: Ticket) -> Tier:
    customer = uow.customers.get(ticket.customer_id)
    return customer.tier if customer is not None else Tier.FREE


def _audit(
    uow: UnitOfWork,
    action: str,
    actor: str,
    ticket_id: int,
    at: datetime,
    detail: dict[str, object],
) -> AuditEvent:
    return uow.audit.add(
        AuditEvent(
            actor=actor, action=action, at=at, ticket_id=ticket_id, detail=json.dumps(detail)
        )
    )


def add_note(uow: UnitOfWork, *, ticket_id: int, text: str, actor: str, clock: Clock) -> Message:
    """An internal note on the ticket (never sent to the customer), audited. Anyone who may
    see the ticket may note on it: no approval is needed for what never leaves."""
    if not text.strip():
        raise InvalidInput("a note cannot be empty")
    now = clock.now()
    with uow:
        ticket = _ticket(uow, ticket_id)
        note = uow.messages.add(
            Message(
                ticket_id=ticket_id,
                direction=Direction.NOTE,
                channel=Channel.API,
                external_id=f"note:{uuid.uuid4()}",
                author=actor,
                text=text,
                created_at=now,
            )
        )
        _audit(uow, "ticket.note", actor, ticket_id, now, {"message_id": note.id})
        uow.tickets.save(replace(ticket, updated_at=now))
        uow.commit()
    return note


def record(
    uow: UnitOfWork,
    *,
    action: str,
    ticket_id: int,
    actor: str,
    clock: Clock,
    detail: dict[str, object],
) -> None:
    """Audit who did something that another function carried out as the system (intake
    records a ticket as created by `supportbot`; the API adds which user asked for it)."""
    with uow:
        _audit(uow, action, actor, ticket_id, clock.now(), detail)
        uow.commit()
