"""Two scheduler instances (threads with their own engine, unit-of-work factory and owner
name) sweep one database through a simulated day with 500 tickets: every SLA warning and
breach is notified and audited exactly once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from core.actions import sweep
from core.clock import FixedClock
from core.model import ActionStatus, Channel, Customer, Priority, ScheduledAction, Ticket, Tier
from core.sla_actions import BREACH, WARN, SlaNotice, run_sla_action, sync_sla_actions
from core.storage import make_engine, unit_of_work_factory
from core.triage.sla import CALENDAR_24X7, SlaPolicy, SlaTarget, compute_sla_due

TICKETS = 500
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
STEPS = 24 * 6  # one day
POLICY = SlaPolicy(
    targets={
        f"{p.value}:{t.value}": SlaTarget(
            first_response_minutes=60 + 30 * i, resolution_minutes=480, calendar=CALENDAR_24X7
        )
        for i, p in enumerate(Priority)
        for t in Tier
    },
    escalate_after_minutes=(45,),
)


def _seed(url: str) -> None:
    engine = make_engine(url)
    try:
        with unit_of_work_factory(engine)() as uow:
            customer = uow.customers.add(Customer(email="load@example.test", tier=Tier.PAID))
            assert customer.id is not None
            for n in range(TICKETS):
                created = START + timedelta(minutes=(n * 37) % (14 * 60))
                priority = list(Priority)[n % 4]
                due = compute_sla_due(created, priority=priority, tier=Tier.PAID, policy=POLICY)
                ticket = uow.tickets.add(
                    Ticket(
                        subject=f"load {n}",
                        customer_id=customer.id,
                        channel=Channel.EMAIL,
                        created_at=created,
                        updated_at=created,
                        priority=priority,
                        first_response_due=due.first_response_due,
                        resolution_due=due.resolution_due,
                    )
                )
                sync_sla_actions(uow, ticket, policy=POLICY)
            uow.commit()
    finally:
        engine.dispose()


def test_two_instances_run_every_sla_action_exactly_once(database_url: str) -> None:
    _seed(database_url)
    clock = FixedClock(START)
    barrier = threading.Barrier(2, action=lambda: clock.advance(STEP), timeout=60)
    notified: Counter[str] = Counter()
    guard = threading.Lock()
    errors: list[BaseException] = []

    def notify(notice: SlaNotice) -> None:
        with guard:
            notified[notice.idem_key] += 1

    def instance(owner: str) -> None:
        engine = make_engine(database_url)
        new_uow = unit_of_work_factory(engine)

        def handle(action: ScheduledAction) -> None:
            run_sla_action(new_uow, action, clock=clock, policy=POLICY, notify=notify)

        try:
            for _ in range(STEPS):
                while sweep(
                    new_uow(),
                    handlers={WARN: handle, BREACH: handle},
                    owner=owner,
                    clock=clock,
                    lease_seconds=300,
                    limit=25,
                ):
                    pass
                barrier.wait()
        except BaseException as exc:  # reported below; the other thread must not hang
            errors.append(exc)
            barrier.abort()
        finally:
            engine.dispose()

    threads = [threading.Thread(target=instance, args=(f"instance-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert errors == []

    engine = make_engine(database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            actions = [
                *uow.actions.list_for_kind(WARN),
                *uow.actions.list_for_kind(BREACH),
            ]
            audited: Counter[str] = Counter()
            for ticket_id in {a.ticket_id for a in actions}:
                assert ticket_id is not None
                for event in uow.audit.list_for_ticket(ticket_id):
                    if event.action.startswith("sla."):
                        audited[json.loads(event.detail)["idem_key"]] += 1
    finally:
        engine.dispose()
    end = clock.now()
    due = {a.idem_key for a in actions if a.due_at < end - STEP}
    assert len(actions) == TICKETS * 6
    assert len(due) > 2000  # the day covers most of them
    assert {a.status for a in actions if a.idem_key in due} == {ActionStatus.DONE}
    assert set(notified) == set(audited) >= due
    assert set(notified.values()) == {1} and set(audited.values()) == {1}
    assert max(a.attempts for a in actions) == 1
