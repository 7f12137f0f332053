"""SLA warnings and breach escalations as durable scheduled actions, kept in step with tickets.

Whenever a ticket's SLA changes (a new ticket, a follow-up, a priority change, a resume after
a pause) `sync_sla_actions` plans the rows the ticket's current state calls for and makes the
table agree: pending rows it no longer wants are cancelled, wanted rows are inserted (or a
cancelled one with the same key revived). Keys carry the due time they were planned for,

    sla-warn:T42:first_response:20261123T170000Z
    sla-breach:T42:first_response:1:20261123T170000Z     (levels 2, 3 … after delays)

so a moved deadline gets fresh keys while a replanned, unchanged one hits the existing rows
(done stays done: a breach is announced once). Answering cancels the first-response rows,
a pause (pending, snoozed) or resolution cancels all; a resume plans them again.

When a row comes due, `run_sla_action` checks it still stands (its key is among those the
ticket calls for now), notifies through a channel-neutral callback, and records an audit event
carrying the key. An event already recorded for the key means a previous attempt notified and
then lost its lease, so it is not notified again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.model import AuditEvent, ScheduledAction, Ticket, TicketStatus, Tier
from core.ports import Clock, UnitOfWork
from core.triage.sla import (
    CALENDAR_24X7,
    SlaPolicy,
    add_business_minutes,
    business_minutes_between,
    sla_target_for,
)

log = logging.getLogger(__name__)

WARN = "sla.warn"
BREACH = "sla.breach"
KINDS = (WARN, BREACH)
FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
AUDIT_WARNING = "sla.warning"
AUDIT_BREACH = "sla.breach"
_PAUSED = (TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED)
_ACTOR = "supportbot"


@dataclass(frozen=True)
class SlaNotice:
    """What a channel shows for one warning or escalation level."""

    ticket: Ticket
    kind: str  # WARN or BREACH
    clock: str  # FIRST_RESPONSE or RESOLUTION
    level: int  # 0 for a warning, 1 for the breach, 2… for later escalations
    due: datetime
    idem_key: str


Notify = Callable[[SlaNotice], None]


def plan_sla_actions(ticket: Ticket, *, tier: Tier, policy: SlaPolicy) -> list[ScheduledAction]:
    """The rows this ticket's current state calls for; none while paused or closed."""
    if ticket.id is None or ticket.status in _PAUSED or ticket.sla_paused_at is not None:
        return []
    calendar = sla_target_for(ticket.priority, tier, policy=policy).calendar
    planned: list[ScheduledAction] = []
    if ticket.first_response_due is not None and ticket.first_responded_at is None:
        planned += _for_clock(ticket, FIRST_RESPONSE, ticket.first_response_due, calendar, policy)
    if ticket.resolution_due is not None and ticket.resolved_at is None:
        planned += _for_clock(ticket, RESOLUTION, ticket.resolution_due, calendar, policy)
    return planned


def sync_sla_actions(
    uow: UnitOfWork,
    ticket: Ticket,
    *,
    policy: SlaPolicy,
    tier: Tier | None = None,
    is_new: bool = False,
) -> None:
    """Make the ticket's pending SLA rows match its state, in the caller's transaction.

    A caller that has the customer at hand passes its `tier` (saving a lookup), and one that
    has just created the ticket says `is_new`: it has no rows yet, so nothing is cancelled.
    """
    assert ticket.id is not None
    if tier is None:
        tier = _tier(uow, ticket)
    planned = plan_sla_actions(ticket, tier=tier, policy=policy)
    if not is_new:
        keys = [a.idem_key for a in planned]
        uow.actions.cancel_for_ticket(ticket.id, kinds=KINDS, except_keys=keys)
    uow.actions.add_or_revive(*planned)


def cancel_sla_actions(
    uow: UnitOfWork, ticket_id: int, *, only_first_response: bool = False
) -> int:
    """Cancel pending SLA rows (all, or the first-response ones) in the caller's transaction."""
    return uow.actions.cancel_for_ticket(
        ticket_id,
        kinds=KINDS,
        key_contains=f":{FIRST_RESPONSE}:" if only_first_response else None,
    )


def run_sla_action(
    new_uow: Callable[[], UnitOfWork],
    action: ScheduledAction,
    *,
    clock: Clock,
    policy: SlaPolicy,
    notify: Notify | None,
) -> bool:
    """Notify and record one warning or escalation; False when it no longer stands or was
    already recorded. Without a channel (`notify` None) the audit event is the notice."""
    assert action.ticket_id is not None
    payload = json.loads(action.payload)
    with new_uow() as uow:
        ticket = uow.tickets.get(action.ticket_id)
        if ticket is None:
            return False
        current = {
            a.idem_key for a in plan_sla_actions(ticket, tier=_tier(uow, ticket), policy=policy)
        }
        if action.idem_key not in current:
            log.info("stale SLA action skipped", extra={"idem_key": action.idem_key})
            return False
        if _already_recorded(uow, action):
            return False
    notice = SlaNotice(
        ticket=ticket,
        kind=action.kind,
        clock=str(payload["clock"]),
        level=int(payload["level"]),
        due=datetime.fromisoformat(str(payload["due"])),
        idem_key=action.idem_key,
    )
    if notify is None:
        log.warning(
            "SLA %s for %s (%s, level %d); no channel configured",
            "warning" if action.kind == WARN else "breach",
            ticket.ref,
            notice.clock,
            notice.level,
            extra={"ticket_id": ticket.id, "idem_key": action.idem_key},
        )
    else:
        notify(notice)
    with new_uow() as uow:
        uow.audit.add(
            AuditEvent(
                actor=_ACTOR,
                action=AUDIT_WARNING if action.kind == WARN else AUDIT_BREACH,
                at=clock.now(),
                ticket_id=action.ticket_id,
                detail=json.dumps(
                    {**payload, "idem_key": action.idem_key, "notified": notify is not None}
                ),
            )
        )
        uow.commit()
    return True


# -- helpers -----------------------------------------------------------------------------------


def _for_clock(
    ticket: Ticket, clock: str, due: datetime, calendar: str, policy: SlaPolicy
) -> list[ScheduledAction]:
    due = due.astimezone(UTC)
    stamp = due.strftime("%Y%m%dT%H%M%SZ")
    start = min(ticket.created_at.astimezone(UTC), due)
    hours = policy.business_hours
    if calendar == CALENDAR_24X7:
        warn = start + (due - start) * policy.warn_at
    else:
        span = business_minutes_between(start, due, hours=hours)
        warn = add_business_minutes(start, span * policy.warn_at, hours=hours) if span else due

    def action(kind: str, key: str, at: datetime, level: int) -> ScheduledAction:
        payload = {"clock": clock, "level": level, "due": due.isoformat()}
        return ScheduledAction(
            kind=kind,
            idem_key=key,
            due_at=at,
            ticket_id=ticket.id,
            payload=json.dumps(payload),
        )

    planned = [
        action(WARN, f"sla-warn:{ticket.ref}:{clock}:{stamp}", min(warn, due), 0),
        action(BREACH, f"sla-breach:{ticket.ref}:{clock}:1:{stamp}", due, 1),
    ]
    for level, minutes in enumerate(policy.escalate_after_minutes, start=2):
        if calendar == CALENDAR_24X7:
            at = due + timedelta(minutes=minutes)
        else:
            at = add_business_minutes(due, minutes, hours=hours)
        planned.append(
            action(BREACH, f"sla-breach:{ticket.ref}:{clock}:{level}:{stamp}", at, level)
        )
    return planned


def _tier(uow: UnitOfWork, ticket: Ticket) -> Tier:
    customer = uow.customers.get(ticket.customer_id)
    return customer.tier if customer is not None else Tier.FREE


def _already_recorded(uow: UnitOfWork, action: ScheduledAction) -> bool:
    assert action.ticket_id is not None
    for event in uow.audit.list_for_ticket(action.ticket_id):
        is_sla = event.action in (AUDIT_WARNING, AUDIT_BREACH)
        if is_sla and json.loads(event.detail).get("idem_key") == action.idem_key:
            return True
    return False
