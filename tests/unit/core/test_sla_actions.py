"""SLA warnings and escalations as scheduled actions: planned at the right business-time
moment (across a weekend, a holiday and a DST change), fired exactly once by repeated
sweeps of a moving clock, cancelled when answered, paused or resolved, moved on resume."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.rendering import JinjaRenderer
from core import ticket_actions as ta
from core.actions import sweep
from core.approval import ApprovalPolicy, Identity, approve, mark_sent
from core.clock import FixedClock
from core.drafting.offline import OfflineDrafter
from core.drafting.service import Voice, create_draft
from core.intake import IntakeContext, handle_inbound
from core.model import ActionStatus, Channel, Customer, Priority, Ticket, TicketStatus, Tier
from core.pipeline import TriagePolicy
from core.sla_actions import (
    BREACH,
    WARN,
    SlaNotice,
    cancel_sla_actions,
    plan_sla_actions,
    run_sla_action,
    sync_sla_actions,
)
from core.triage.sla import BusinessHours, SlaPolicy, SlaTarget, compute_sla_due
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound

NY = ZoneInfo("America/New_York")
HOURS = BusinessHours(timezone="America/New_York", holiday_country="US")
# Every pair: 4 business hours to answer, 2 business days to resolve.
POLICY = SlaPolicy(
    business_hours=HOURS,
    targets={
        f"{p.value}:{t.value}": SlaTarget(first_response_minutes=240, resolution_minutes=960)
        for p in Priority
        for t in Tier
    },
    escalate_after_minutes=(60, 240),
)
AGENT = "slack:UAGENT"


def _utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def _ticket(store: FakeStore, created: datetime) -> Ticket:
    due = compute_sla_due(created, priority=Priority.P2, tier=Tier.PAID, policy=POLICY)
    with store.uow() as uow:
        customer = uow.customers.add(Customer(email="ann@example.test", tier=Tier.PAID))
        assert customer.id is not None
        ticket = uow.tickets.add(
            Ticket(
                subject="Login",
                customer_id=customer.id,
                channel=Channel.EMAIL,
                created_at=created,
                updated_at=created,
                status=TicketStatus.OPEN,
                priority=Priority.P2,
                first_response_due=due.first_response_due,
                resolution_due=due.resolution_due,
            )
        )
        sync_sla_actions(uow, ticket, policy=POLICY)
        uow.commit()
    return ticket


def _run(
    store: FakeStore, clock: FixedClock, until: datetime, *, step: timedelta = timedelta(minutes=3)
) -> list[tuple[datetime, SlaNotice]]:
    """Sweep every `step` until `until`, as the ticker would; returns (when, notice)."""
    fired: list[tuple[datetime, SlaNotice]] = []

    def handle(action: object) -> None:
        run_sla_action(
            store.uow,
            action,  # type: ignore[arg-type]
            clock=clock,
            policy=POLICY,
            notify=lambda notice: fired.append((clock.now(), notice)),
        )

    while clock.now() <= until:
        sweep(
            store.uow(),
            handlers={WARN: handle, BREACH: handle},
            owner="test",
            clock=clock,
            lease_seconds=60,
        )
        clock.advance(step)
    return fired


def _first_response(fired: list[tuple[datetime, SlaNotice]]) -> list[tuple[datetime, str, int]]:
    return [(at, n.kind, n.level) for at, n in fired if n.clock == "first_response"]


@pytest.mark.parametrize(
    ("created_local", "warn_utc", "breach_utc"),
    [
        # Friday 15:00: 2 h on Friday, the rest on Monday (the weekend does not count).
        pytest.param(datetime(2026, 11, 20, 15, 0), _utc(2026, 11, 23, 15, 12),
                     _utc(2026, 11, 23, 16), id="weekend"),
        # Wednesday 16:00 before Thanksgiving (Thu 26 Nov 2026): 1 h, then Friday.
        pytest.param(datetime(2026, 11, 25, 16, 0), _utc(2026, 11, 27, 16, 12),
                     _utc(2026, 11, 27, 17), id="holiday"),
        # Friday 16:00 EDT; DST ends on Sunday 1 Nov, so Monday 09:00 is 14:00 UTC, not 13:00.
        pytest.param(datetime(2026, 10, 30, 16, 0), _utc(2026, 11, 2, 16, 12),
                     _utc(2026, 11, 2, 17), id="dst"),
    ],
)  # fmt: skip
def test_warning_and_breach_fire_once_at_the_business_time_moment(
    created_local: datetime, warn_utc: datetime, breach_utc: datetime
) -> None:
    created = created_local.replace(tzinfo=NY).astimezone(UTC)
    store = FakeStore()
    _ticket(store, created)
    clock = FixedClock(created)
    fired = _first_response(_run(store, clock, breach_utc + timedelta(hours=6)))
    level2 = next(at for at, kind, level in fired if level == 2)
    assert fired[:2] == [(warn_utc, WARN, 0), (breach_utc, BREACH, 1)]
    assert level2 == breach_utc + timedelta(hours=1)  # one business hour later
    assert [(k, lvl) for _, k, lvl in fired] == [(WARN, 0), (BREACH, 1), (BREACH, 2), (BREACH, 3)]
    # Sweeping on changes nothing: each action ran once and is done.
    assert _first_response(_run(store, clock, clock.now() + timedelta(days=1))) == []
    keys = [e for e in store.tables.audit.values() if e.action in ("sla.warning", "sla.breach")]
    idem = [json.loads(e.detail)["idem_key"] for e in keys]
    assert len(idem) == len(set(idem))


def test_intake_plans_rows_and_an_answer_cancels_them(store: FakeStore, clock: FixedClock) -> None:
    ctx = IntakeContext(clock=clock, policy=TriagePolicy(sla=POLICY), thread_secret=b"s")
    result = handle_inbound(store.uow(), inbound(), ctx=ctx)
    assert result.ticket_id is not None
    pending = [a for a in store.tables.actions.values() if a.status is ActionStatus.PENDING]
    keys = sorted(a.idem_key for a in pending)
    assert len(keys) == 8 and keys[0].startswith("sla-breach:T1:first_response:1:")
    assert sum(a.kind == WARN for a in pending) == 2

    draft = create_draft(
        store.uow(),
        result.ticket_id,
        provider=OfflineDrafter(JinjaRenderer()),
        clock=clock,
        voice=Voice(),
    )
    assert draft.id is not None
    approve(
        store.uow(),
        draft_id=draft.id,
        version=draft.version,
        actor=AGENT,
        policy=ApprovalPolicy(approvers=frozenset({AGENT})),
        clock=clock,
        identity=Identity(thread_secret=b"s", domain="example.test"),
    )
    [item] = store.tables.outbox.values()
    assert item.id is not None
    assert mark_sent(store.uow(), outbox_id=item.id, clock=clock)
    statuses = {a.status for a in store.tables.actions.values() if a.kind in (WARN, BREACH)}
    assert statuses == {ActionStatus.CANCELLED}
    assert _run(store, clock, clock.now() + timedelta(days=5), step=timedelta(hours=1)) == []


def test_snooze_cancels_and_waking_moves_the_resolution_rows(
    store: FakeStore,
) -> None:
    created = _utc(2026, 11, 23, 14)  # Monday 09:00 in New York
    ticket = _ticket(store, created)
    assert ticket.id is not None
    clock = FixedClock(created + timedelta(hours=1))
    approvers = ApprovalPolicy(approvers=frozenset({AGENT}))
    ta.snooze(
        store.uow(),
        ticket_id=ticket.id,
        until=clock.now() + timedelta(hours=4),
        actor=AGENT,
        policy=approvers,
        clock=clock,
    )
    assert all(
        a.status is ActionStatus.CANCELLED
        for a in store.tables.actions.values()
        if a.kind in (WARN, BREACH)
    )
    # Nothing fires while snoozed; the wake-up (a normal scheduled action) resumes the clock.
    clock.advance(timedelta(hours=4))
    [wake] = [a for a in store.tables.actions.values() if a.kind == ta.WAKE]
    changed = ta.wake(store.uow(), wake, clock=clock, sla=POLICY)
    assert changed.applied
    old_due = ticket.resolution_due
    new_due = changed.ticket.resolution_due
    # Tue 17:00 in New York, plus the 4 business hours paused: Wed 13:00 (18:00 UTC).
    assert old_due == _utc(2026, 11, 24, 22) and new_due == _utc(2026, 11, 25, 18)
    pending = [a for a in store.tables.actions.values() if a.status is ActionStatus.PENDING]
    resolution = [a for a in pending if ":resolution:" in a.idem_key]
    stamp = new_due.strftime("%Y%m%dT%H%M%SZ")
    assert len(resolution) == 4 and all(a.idem_key.endswith(stamp) for a in resolution)
    # The never-answered first response keeps its due time (only resolution is resumed),
    # so its cancelled rows are revived under the same keys rather than duplicated.
    assert sum(":first_response:" in a.idem_key for a in pending) == 4
    assert len([a for a in store.tables.actions.values() if a.kind in (WARN, BREACH)]) == 12


def test_resolve_cancels_and_a_stale_action_does_nothing(store: FakeStore) -> None:
    created = _utc(2026, 11, 23, 14)
    ticket = _ticket(store, created)
    assert ticket.id is not None
    [warn] = [
        a
        for a in store.tables.actions.values()
        if a.kind == WARN and "first_response" in a.idem_key
    ]
    clock = FixedClock(created)
    ta.resolve(
        store.uow(),
        ticket_id=ticket.id,
        actor=AGENT,
        policy=ApprovalPolicy(approvers=frozenset({AGENT})),
        clock=clock,
    )
    assert {a.status for a in store.tables.actions.values()} == {ActionStatus.CANCELLED}
    # A sweep that leased the row before the cancel still finds it stale and notifies nobody.
    seen: list[SlaNotice] = []
    assert not run_sla_action(store.uow, warn, clock=clock, policy=POLICY, notify=seen.append)
    assert seen == []


def test_moving_back_to_the_same_due_revives_the_cancelled_rows(store: FakeStore) -> None:
    ticket = _ticket(store, _utc(2026, 11, 23, 14))
    assert ticket.id is not None
    with store.uow() as uow:
        assert cancel_sla_actions(uow, ticket.id, only_first_response=True) == 4
        sync_sla_actions(uow, ticket, policy=POLICY)
        uow.commit()
    assert {a.status for a in store.tables.actions.values()} == {ActionStatus.PENDING}
    assert len(store.tables.actions) == 8


def test_a_recorded_notice_is_not_sent_again(store: FakeStore) -> None:
    created = _utc(2026, 11, 23, 14)
    ticket = _ticket(store, created)
    [warn] = [a for a in plan_sla_actions(ticket, tier=Tier.PAID, policy=POLICY) if a.kind == WARN][
        :1
    ]
    clock = FixedClock(created)
    seen: list[SlaNotice] = []
    assert run_sla_action(store.uow, warn, clock=clock, policy=POLICY, notify=seen.append)
    # The lease ran out before `complete`; the retry finds the audit event and stays quiet.
    assert not run_sla_action(store.uow, warn, clock=clock, policy=POLICY, notify=seen.append)
    assert len(seen) == 1 and seen[0].level == 0


def test_no_rows_while_paused() -> None:
    ticket = Ticket(
        subject="x",
        customer_id=1,
        channel=Channel.EMAIL,
        created_at=_utc(2026, 11, 23, 14),
        updated_at=_utc(2026, 11, 23, 14),
        first_response_due=_utc(2026, 11, 23, 18),
        id=1,
        ref="T1",
    )
    assert len(plan_sla_actions(ticket, tier=Tier.FREE, policy=POLICY)) == 4
    paused = replace(ticket, status=TicketStatus.PENDING)
    assert plan_sla_actions(paused, tier=Tier.FREE, policy=POLICY) == []
