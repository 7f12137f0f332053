"""The optional acknowledgement: off by default, automatic, capped per recipient."""

from __future__ import annotations

from datetime import timedelta

from bot.rendering import JinjaRenderer
from core.acknowledge import AckPolicy, acknowledge
from core.approval import Identity, mark_sent
from core.clock import FixedClock
from core.intake import IntakeContext, handle_inbound
from core.model import AutoKind, Disposition, DraftStatus, TicketStatus
from core.threading import ref_from_message_id
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound
from tests.unit.core.conftest import SECRET

IDENTITY = Identity(thread_secret=SECRET, domain="mail.example.test")
ON = AckPolicy(enabled=True, max_per_recipient=2, window_hours=24)


def _ack(store: FakeStore, ticket_id: int, clock: FixedClock, policy: AckPolicy = ON):  # type: ignore[no-untyped-def]
    return acknowledge(
        store.uow(),
        ticket_id,
        policy=policy,
        renderer=JinjaRenderer(),
        clock=clock,
        identity=IDENTITY,
        brand="Acme",
    )


def _ticket(store: FakeStore, ctx: IntakeContext, n: int) -> int:
    result = handle_inbound(store.uow(), inbound(external_id=f"m{n}@c", subject=f"Q{n}"), ctx=ctx)
    assert result.ticket_id is not None
    return result.ticket_id


def test_off_by_default(store: FakeStore, ctx: IntakeContext, clock: FixedClock) -> None:
    assert _ack(store, _ticket(store, ctx, 1), clock, AckPolicy()) is None
    assert not store.tables.outbox


def test_acknowledgement_is_automatic_threaded_and_recorded(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    ticket_id = _ticket(store, ctx, 1)
    item = _ack(store, ticket_id, clock)
    assert item is not None
    assert item.automatic and item.draft_id is None
    assert item.in_reply_to == "m1@c" and "T1" in item.body and "Acme" in item.body
    assert ref_from_message_id(item.message_id, secret=SECRET) == "T1"
    outbound = store.tables.messages[2]
    assert (outbound.external_id, outbound.automatic) == (item.message_id, AutoKind.AUTO_REPLY)
    assert _ack(store, ticket_id, clock) is None  # once per ticket
    # The customer's answer to the acknowledgement threads to the ticket.
    reply = inbound("more", external_id="r@c", subject="x", in_reply_to=(item.message_id,))
    assert handle_inbound(store.uow(), reply, ctx=ctx).disposition is Disposition.FOLLOWUP


def test_cap_per_recipient_within_window(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    sent = [_ack(store, _ticket(store, ctx, n), clock) for n in range(1, 4)]
    assert [s is not None for s in sent] == [True, True, False]
    assert any(e.action == "ack.capped" for e in store.tables.audit.values())
    clock.advance(timedelta(hours=25))
    assert _ack(store, _ticket(store, ctx, 4), clock) is not None


def test_sending_an_acknowledgement_is_not_a_first_response(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    ticket_id = _ticket(store, ctx, 1)
    item = _ack(store, ticket_id, clock)
    assert item is not None and item.id is not None
    assert mark_sent(store.uow(), outbox_id=item.id, clock=clock)
    ticket = store.tables.tickets[ticket_id]
    assert ticket.first_responded_at is None and ticket.status is TicketStatus.NEW
    assert not [d for d in store.tables.drafts.values() if d.status is DraftStatus.SENT]


def test_bounced_customer_gets_no_acknowledgement(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    from dataclasses import replace

    ticket_id = _ticket(store, ctx, 1)
    store.tables.customers[1] = replace(store.tables.customers[1], bounced=True)
    assert _ack(store, ticket_id, clock) is None
