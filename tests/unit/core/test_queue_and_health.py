"""The queue read model (stats, my tickets) and the health alerts' idempotency keys."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from core import health, queue
from core.clock import FixedClock
from core.intake import IntakeContext, handle_inbound
from core.model import Channel, MailboxState, Priority, QuarantineItem, TicketStatus
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound


def _tickets(store: FakeStore, ctx: IntakeContext, n: int) -> list[int]:
    ids = []
    for i in range(n):
        result = handle_inbound(
            store.uow(), inbound(external_id=f"m{i}@x", subject=f"s{i}"), ctx=ctx
        )
        assert result.ticket_id is not None
        ids.append(result.ticket_id)
    return ids


def test_stats_count_open_by_priority_breaches_pending_and_quarantine(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    a, b, c, d = _tickets(store, ctx, 4)
    t = store.tables.tickets
    now = clock.now()
    t[a] = replace(t[a], priority=Priority.P0, first_response_due=now - timedelta(minutes=1))
    t[b] = replace(t[b], priority=Priority.P1, first_response_due=now + timedelta(minutes=30))
    t[c] = replace(t[c], status=TicketStatus.PENDING, sla_paused_at=now, assignee="slack:U1")
    t[d] = replace(t[d], status=TicketStatus.RESOLVED)
    with store.uow() as uow:
        uow.quarantine.add(QuarantineItem(Channel.EMAIL, b"x", "bad", now))
        uow.commit()

    stats = queue.queue_stats(store.uow(), now=now)

    assert stats.open_by_priority[Priority.P0] == 1 and stats.open_by_priority[Priority.P1] == 1
    assert (stats.open_total, stats.pending, stats.breached, stats.breaching_soon) == (2, 1, 1, 1)
    assert stats.quarantined == 1
    assert [x.id for x in queue.active_tickets(store.uow())][:2] == [a, b]
    assert [x.id for x in queue.assigned_to(store.uow(), "slack:U1")] == [c]


def test_mailbox_alerts_are_keyed_once_a_day(store: FakeStore, clock: FixedClock) -> None:
    with store.uow() as uow:
        uow.mailboxes.save(MailboxState("support", auth_failures=2, last_error="LOGIN refused"))
        uow.mailboxes.save(MailboxState("sales", lag_seconds=1200.0))
        uow.mailboxes.save(MailboxState("ok", lag_seconds=10.0))
        uow.commit()

    assert health.check_mailboxes(store.uow(), clock=clock, lag_threshold=900) == 2
    assert health.check_mailboxes(store.uow(), clock=clock, lag_threshold=900) == 0
    keys = sorted(a.idem_key for a in store.tables.actions.values())
    assert keys == [
        "alert:mailbox-auth:support:2026-11-23",
        "alert:mailbox-lag:sales:2026-11-23",
    ]
    clock.advance(timedelta(days=1))
    assert health.check_mailboxes(store.uow(), clock=clock, lag_threshold=900) == 2


def test_quarantine_alert_payload(clock: FixedClock) -> None:
    action = health.quarantine_alert(7, reason="x" * 900, now=clock.now())
    payload = json.loads(action.payload)
    assert action.idem_key == "alert:quarantine:7" and action.kind == health.ALERT
    assert payload["id"] == 7 and len(payload["reason"]) == 500
