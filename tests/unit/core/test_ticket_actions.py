"""Agents' ticket operations against the in-memory store: who may, what is recorded, snooze
and its wake-up, and that asking for the current state records nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core import ticket_actions as ta
from core.approval import ApprovalPolicy
from core.clock import FixedClock
from core.errors import InvalidInput, NotAuthorised
from core.intake import IntakeContext, handle_inbound
from core.model import ActionStatus, Priority, TicketStatus
from core.triage.sla import BusinessHours, SlaPolicy
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound

AGENT = "slack:U1"
POLICY = ApprovalPolicy(approvers=frozenset({AGENT}))
CATEGORIES = ("billing", "technical", "account", "shipping", "general")


def _ticket(store: FakeStore, ctx: IntakeContext) -> int:
    result = handle_inbound(store.uow(), inbound(), ctx=ctx)
    assert result.ticket_id is not None
    return result.ticket_id


def _actions(store: FakeStore, ticket_id: int) -> list[str]:
    return [e.action for e in store.tables.audit.values() if e.ticket_id == ticket_id]


def test_reclassify_records_who_and_what_once(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    tid = _ticket(store, ctx)
    args = dict(ticket_id=tid, categories=CATEGORIES, actor=AGENT, policy=POLICY, clock=clock)

    first = ta.reclassify(store.uow(), category="billing", **args)
    again = ta.reclassify(store.uow(), category="billing", **args)

    assert first.applied and first.ticket.category == "billing" and not again.applied
    event = store.tables.audit[first.event_id or 0]
    assert (event.actor, event.action) == (AGENT, "ticket.reclassified")
    assert json.loads(event.detail)["to"] == "billing"
    assert _actions(store, tid).count("ticket.reclassified") == 1
    with pytest.raises(InvalidInput):
        ta.reclassify(store.uow(), category="nonsense", **args)


def test_a_stranger_is_refused_and_the_refusal_audited(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    tid = _ticket(store, ctx)
    with pytest.raises(NotAuthorised):
        ta.resolve(store.uow(), ticket_id=tid, actor="slack:U666", policy=POLICY, clock=clock)
    ticket = store.tables.tickets[tid]
    assert ticket.status is not TicketStatus.RESOLVED
    assert "ticket.refused" in _actions(store, tid)


def test_set_priority_recomputes_the_sla_due_times(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    tid = _ticket(store, ctx)
    before = store.tables.tickets[tid]
    target = Priority.P0 if before.priority is not Priority.P0 else Priority.P3
    changed = ta.set_priority(
        store.uow(),
        ticket_id=tid,
        priority=target,
        actor=AGENT,
        policy=POLICY,
        clock=clock,
        sla=SlaPolicy(),
    )
    assert changed.applied and changed.ticket.priority is target
    assert changed.ticket.first_response_due != before.first_response_due


def test_assign_and_resolve(store: FakeStore, ctx: IntakeContext, clock: FixedClock) -> None:
    tid = _ticket(store, ctx)
    assigned = ta.assign(
        store.uow(), ticket_id=tid, assignee=AGENT, actor=AGENT, policy=POLICY, clock=clock
    )
    resolved = ta.resolve(store.uow(), ticket_id=tid, actor=AGENT, policy=POLICY, clock=clock)
    assert assigned.ticket.assignee == AGENT
    assert resolved.ticket.status is TicketStatus.RESOLVED
    assert resolved.ticket.resolved_at == clock.now()
    assert not ta.resolve(
        store.uow(), ticket_id=tid, actor=AGENT, policy=POLICY, clock=clock
    ).applied


def test_snooze_pauses_and_the_wake_action_reopens(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    tid = _ticket(store, ctx)
    until = clock.now() + timedelta(hours=4)
    snoozed = ta.snooze(
        store.uow(), ticket_id=tid, until=until, actor=AGENT, policy=POLICY, clock=clock
    )
    ticket = snoozed.ticket
    assert ticket.status is TicketStatus.PENDING and ticket.sla_paused_at == clock.now()
    action = next(a for a in store.tables.actions.values() if a.kind == ta.WAKE)
    assert action.idem_key == f"snooze:{ticket.ref}:2026-11-23T18:00Z"
    assert (action.kind, action.due_at, action.status) == (ta.WAKE, until, ActionStatus.PENDING)

    clock.advance(timedelta(hours=4))
    woken = ta.wake(store.uow(), action, clock=clock, sla=SlaPolicy())
    assert woken.applied and woken.ticket.status is TicketStatus.OPEN
    assert woken.ticket.sla_paused_at is None
    assert woken.ticket.resolution_due is not None and ticket.resolution_due is not None
    assert woken.ticket.resolution_due > ticket.resolution_due  # the paused time is given back
    assert not ta.wake(store.uow(), action, clock=clock, sla=SlaPolicy()).applied


def test_a_wake_is_void_after_a_later_snooze_or_a_resolve(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    tid = _ticket(store, ctx)
    common = dict(ticket_id=tid, actor=AGENT, policy=POLICY, clock=clock)
    ta.snooze(store.uow(), until=clock.now() + timedelta(hours=1), **common)
    ta.snooze(store.uow(), until=clock.now() + timedelta(hours=4), **common)
    wakes = [a for a in store.tables.actions.values() if a.kind == ta.WAKE]
    first, second = sorted(wakes, key=lambda a: a.due_at)

    assert not ta.wake(store.uow(), first, clock=clock, sla=SlaPolicy()).applied
    ta.resolve(store.uow(), **common)
    assert not ta.wake(store.uow(), second, clock=clock, sla=SlaPolicy()).applied
    assert store.tables.tickets[tid].status is TicketStatus.RESOLVED


def test_a_resolved_ticket_cannot_be_snoozed(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    tid = _ticket(store, ctx)
    store.tables.tickets[tid] = replace(store.tables.tickets[tid], status=TicketStatus.RESOLVED)
    with pytest.raises(InvalidInput):
        ta.snooze(
            store.uow(),
            ticket_id=tid,
            until=clock.now() + timedelta(hours=1),
            actor=AGENT,
            policy=POLICY,
            clock=clock,
        )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 23, 14, 0, tzinfo=UTC), datetime(2026, 11, 24, 9, 0, tzinfo=UTC)),
        (datetime(2026, 11, 27, 16, 0, tzinfo=UTC), datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
    ],
)
def test_snooze_until_the_next_business_morning(now: datetime, expected: datetime) -> None:
    hours = BusinessHours()
    assert ta.snooze_until(now, ta.SnoozeChoice.NEXT_MORNING, hours=hours) == expected
    assert ta.snooze_until(now, ta.SnoozeChoice.FOUR_HOURS, hours=hours) == now + timedelta(hours=4)


def test_snooze_until_respects_the_team_time_zone() -> None:
    hours = BusinessHours(timezone="Europe/Berlin")
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # already Tuesday 00:30 in Berlin
    until = ta.snooze_until(now, ta.SnoozeChoice.NEXT_MORNING, hours=hours)
    assert until == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # Wednesday 09:00 CET


def _sla_rows(store: FakeStore, ticket_id: int) -> list[ActionStatus]:
    return [
        a.status
        for a in store.tables.actions.values()
        if a.ticket_id == ticket_id and a.kind.startswith("sla")
    ]


def test_status_on_hold_pauses_reopen_resumes_close_ends(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    tid = _ticket(store, ctx)
    args = {"ticket_id": tid, "actor": AGENT, "policy": POLICY, "clock": clock, "sla": SlaPolicy()}
    assert ActionStatus.PENDING in _sla_rows(store, tid)

    held = ta.set_status(store.uow(), status=TicketStatus.PENDING, **args)
    assert held.applied and held.ticket.sla_paused_at == clock.now()
    assert ActionStatus.PENDING not in _sla_rows(store, tid)  # nothing falls due on hold

    clock.advance(timedelta(hours=3))
    reopened = ta.set_status(store.uow(), status=TicketStatus.OPEN, **args)
    assert reopened.ticket.status is TicketStatus.OPEN and reopened.ticket.sla_paused_at is None
    assert reopened.ticket.resolution_due is not None and held.ticket.resolution_due is not None
    assert reopened.ticket.resolution_due > held.ticket.resolution_due  # the hold is given back
    assert ActionStatus.PENDING in _sla_rows(store, tid)  # warnings planned again

    closed = ta.set_status(store.uow(), status=TicketStatus.CLOSED, **args)
    assert closed.ticket.resolved_at == clock.now()
    assert ActionStatus.PENDING not in _sla_rows(store, tid)
    assert not ta.set_status(store.uow(), status=TicketStatus.CLOSED, **args).applied

    again = ta.set_status(store.uow(), status=TicketStatus.OPEN, **args)
    assert again.ticket.resolved_at is None
    changes = [
        json.loads(e.detail)["to"]
        for e in store.tables.audit.values()
        if e.ticket_id == tid and e.action == ta.STATUS_SET
    ]
    assert changes == ["pending", "open", "closed", "open"]
    with pytest.raises(InvalidInput, match="cannot become new"):
        ta.set_status(store.uow(), status=TicketStatus.NEW, **args)
