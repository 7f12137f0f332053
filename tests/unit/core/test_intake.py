"""Intake: idempotency, threading, loop defence and the quarantine shunt."""

from __future__ import annotations

from dataclasses import replace

from core.intake import IntakeContext, handle_inbound, retry_quarantined
from core.model import (
    AutoKind,
    Disposition,
    InboundMessage,
    QuarantineItem,
    QuarantineStatus,
    TicketStatus,
)
from core.threading import make_message_id
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound
from tests.unit.core.conftest import SECRET


def test_new_message_opens_a_triaged_ticket_and_keeps_raw_bytes(
    store: FakeStore, ctx: IntakeContext
) -> None:
    msg = inbound("URGENT: production is down for all our users, nobody can log in!")
    result = handle_inbound(store.uow(), msg, ctx=ctx)
    assert result.disposition is Disposition.NEW_TICKET
    assert result.needs_draft
    ticket = store.tables.tickets[result.ticket_id or 0]
    assert ticket.ref == f"T{ticket.id}"
    assert ticket.priority.value in {"P0", "P1"}
    assert ticket.first_response_due is not None and ticket.first_response_due > msg.received_at
    [message] = store.tables.messages.values()
    assert message.raw == msg.raw
    assert message.external_id == "m1@customer.example"
    assert store.tables.customers[ticket.customer_id].email == "ann@customer.example"


def test_same_message_twice_is_a_duplicate_and_creates_nothing(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = handle_inbound(store.uow(), inbound(), ctx=ctx)
    second = handle_inbound(store.uow(), inbound(), ctx=ctx)
    assert second.disposition is Disposition.DUPLICATE
    assert second.ticket_id == first.ticket_id
    assert len(store.tables.tickets) == 1 and len(store.tables.messages) == 1


def test_message_without_id_is_deduplicated_by_content_hash(
    store: FakeStore, ctx: IntakeContext
) -> None:
    msg = inbound(external_id=None)
    assert handle_inbound(store.uow(), msg, ctx=ctx).disposition is Disposition.NEW_TICKET
    assert handle_inbound(store.uow(), msg, ctx=ctx).disposition is Disposition.DUPLICATE
    changed = replace(msg, raw=msg.raw + b"!")
    assert handle_inbound(store.uow(), changed, ctx=ctx).disposition is Disposition.NEW_TICKET


def test_reply_referencing_our_message_id_is_a_followup(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = handle_inbound(store.uow(), inbound(), ctx=ctx)
    ours = make_message_id(
        ref=first.ticket_ref or "", draft_id=1, version=1, secret=SECRET, domain="x.test"
    )
    # A stranger with a fresh subject: only the verified Message-ID can thread this.
    reply = inbound(
        "Still broken",
        external_id="m2@other",
        sender="bob@other.example",
        subject="something else",
        in_reply_to=(ours,),
    )
    result = handle_inbound(store.uow(), reply, ctx=ctx)
    assert result.disposition is Disposition.FOLLOWUP
    assert result.ticket_id == first.ticket_id


def test_forged_message_id_tag_does_not_thread(store: FakeStore, ctx: IntakeContext) -> None:
    first = handle_inbound(store.uow(), inbound(), ctx=ctx)
    forged = make_message_id(
        ref=first.ticket_ref or "", draft_id=1, version=1, secret=b"wrong", domain="x.test"
    )
    reply = inbound(
        "hi",
        external_id="m2@other",
        sender="eve@other.example",
        subject="hello",
        in_reply_to=(forged,),
    )
    assert handle_inbound(store.uow(), reply, ctx=ctx).disposition is Disposition.NEW_TICKET


def test_reply_referencing_a_stored_inbound_message_is_a_followup(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = handle_inbound(store.uow(), inbound(), ctx=ctx)
    reply = inbound(
        "more info",
        external_id="m2@customer.example",
        subject="Re: Login",
        references=("unknown@x", "m1@customer.example"),
    )
    result = handle_inbound(store.uow(), reply, ctx=ctx)
    assert (result.disposition, result.ticket_id) == (Disposition.FOLLOWUP, first.ticket_id)


def test_subject_token_threads_only_for_the_tickets_customer(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = handle_inbound(store.uow(), inbound(), ctx=ctx)
    subject = f"Re: Login problem [#{first.ticket_ref}]"
    stranger = inbound("me too", external_id="s1@x", sender="mallory@evil.example", subject=subject)
    assert handle_inbound(store.uow(), stranger, ctx=ctx).disposition is Disposition.NEW_TICKET
    own = inbound("thanks", external_id="c2@x", sender="ANN@customer.example", subject=subject)
    result = handle_inbound(store.uow(), own, ctx=ctx)
    assert (result.disposition, result.ticket_id) == (Disposition.FOLLOWUP, first.ticket_id)


def test_followup_on_pending_ticket_reopens_it_and_resumes_the_sla(
    store: FakeStore, ctx: IntakeContext, clock: object
) -> None:
    first = handle_inbound(store.uow(), inbound(), ctx=ctx)
    tid = first.ticket_id or 0
    ticket = store.tables.tickets[tid]
    paused_at = ticket.created_at
    store.tables.tickets[tid] = replace(
        ticket, status=TicketStatus.PENDING, sla_paused_at=paused_at
    )
    from datetime import timedelta

    from core.clock import FixedClock

    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=2))  # Wednesday: two business days waiting on the customer
    reply = inbound(
        "here are the details",
        external_id="m2@c",
        in_reply_to=("m1@customer.example",),
        received_at=clock.now(),
    )
    assert handle_inbound(store.uow(), reply, ctx=ctx).disposition is Disposition.FOLLOWUP
    after = store.tables.tickets[tid]
    assert after.status is TicketStatus.OPEN and after.sla_paused_at is None
    assert ticket.resolution_due is not None and after.resolution_due is not None
    assert after.resolution_due > ticket.resolution_due  # the pause did not count


def test_followup_never_lowers_priority(store: FakeStore, ctx: IntakeContext) -> None:
    first = handle_inbound(
        store.uow(),
        inbound("URGENT: production database is down, all customers affected!"),
        ctx=ctx,
    )
    before = store.tables.tickets[first.ticket_id or 0].priority
    calm = inbound(
        "Thanks, it works now.", external_id="m2@c", in_reply_to=("m1@customer.example",)
    )
    handle_inbound(store.uow(), calm, ctx=ctx)
    assert store.tables.tickets[first.ticket_id or 0].priority == before


def test_bounce_flags_the_customer_and_is_noted_without_draft(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = handle_inbound(store.uow(), inbound(), ctx=ctx)
    bounce = inbound(
        "Delivery failed",
        external_id="b1@mx",
        sender="mailer-daemon@mx.example",
        subject="Undelivered",
        in_reply_to=("m1@customer.example",),
        automatic=AutoKind.BOUNCE,
        bounced=("ann@customer.example",),
    )
    result = handle_inbound(store.uow(), bounce, ctx=ctx)
    assert result.disposition is Disposition.IGNORED_AUTOMATIC
    assert result.ticket_id == first.ticket_id and not result.needs_draft
    assert store.tables.customers[1].bounced
    noted = store.tables.messages[result.message_id or 0]
    assert noted.automatic is AutoKind.BOUNCE


def test_automatic_mail_matching_no_ticket_is_kept_but_not_held_for_people(
    store: FakeStore, ctx: IntakeContext
) -> None:
    newsletter = inbound("Our news", automatic=AutoKind.BULK, external_id="n1@list")
    result = handle_inbound(store.uow(), newsletter, ctx=ctx)
    assert result.disposition is Disposition.IGNORED_AUTOMATIC and result.ticket_id is None
    [kept] = store.tables.quarantine.values()
    assert kept.status is QuarantineStatus.IGNORED and kept.raw == newsletter.raw
    assert not store.tables.tickets
    again = handle_inbound(store.uow(), newsletter, ctx=ctx)
    assert again.disposition is Disposition.DUPLICATE and len(store.tables.quarantine) == 1


def test_mail_from_our_own_address_is_never_a_ticket(store: FakeStore, ctx: IntakeContext) -> None:
    echo = inbound("our reply", sender="Support@Example.com", external_id="o1@us")
    result = handle_inbound(store.uow(), echo, ctx=ctx)
    assert result.disposition is Disposition.IGNORED_AUTOMATIC and not store.tables.tickets


def test_unparseable_message_is_quarantined_once_with_reason(
    store: FakeStore, ctx: IntakeContext
) -> None:
    bad = inbound(problem="parse error: no headers", external_id=None, raw=b"\x00\xff")
    result = handle_inbound(store.uow(), bad, ctx=ctx)
    assert result.disposition is Disposition.QUARANTINED
    [held] = store.tables.quarantine.values()
    assert (held.raw, held.reason, held.status) == (
        b"\x00\xff",
        "parse error: no headers",
        QuarantineStatus.HELD,
    )
    assert handle_inbound(store.uow(), bad, ctx=ctx).disposition is Disposition.DUPLICATE
    assert len(store.tables.quarantine) == 1


def test_missing_sender_is_quarantined(store: FakeStore, ctx: IntakeContext) -> None:
    result = handle_inbound(store.uow(), inbound(sender=""), ctx=ctx)
    assert result.disposition is Disposition.QUARANTINED
    assert "sender" in result.reason


def test_failure_while_processing_rolls_back_and_quarantines(
    store: FakeStore, ctx: IntakeContext
) -> None:
    store.fail_on = "tickets.add"
    result = handle_inbound(store.uow(), inbound(), ctx=ctx)
    assert result.disposition is Disposition.QUARANTINED
    assert "injected failure" in result.reason
    assert not store.tables.customers and not store.tables.messages  # rolled back
    [held] = store.tables.quarantine.values()
    assert held.raw == inbound().raw


def test_retry_reprocesses_a_quarantined_message(store: FakeStore, ctx: IntakeContext) -> None:
    store.fail_on = "tickets.add"
    held = handle_inbound(store.uow(), inbound(), ctx=ctx)
    store.fail_on = None

    def reparse(item: QuarantineItem) -> InboundMessage:
        assert item.raw == inbound().raw
        return inbound()

    result = retry_quarantined(store.uow(), held.quarantine_id or 0, parse=reparse, ctx=ctx)
    assert result.disposition is Disposition.NEW_TICKET
    assert store.tables.quarantine[held.quarantine_id or 0].status is QuarantineStatus.REPROCESSED
    assert handle_inbound(store.uow(), inbound(), ctx=ctx).disposition is Disposition.DUPLICATE


def test_retry_that_fails_again_keeps_one_held_item(store: FakeStore, ctx: IntakeContext) -> None:
    bad = inbound(problem="cannot parse", external_id=None, raw=b"junk")
    held = handle_inbound(store.uow(), bad, ctx=ctx)
    result = retry_quarantined(store.uow(), held.quarantine_id or 0, parse=lambda _: bad, ctx=ctx)
    assert result.disposition is Disposition.QUARANTINED
    assert len(store.tables.quarantine) == 1
    assert store.tables.quarantine[held.quarantine_id or 0].status is QuarantineStatus.HELD


def test_subject_token_also_threads_for_someone_on_the_thread(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = handle_inbound(
        store.uow(),
        replace(inbound(), recipients=("support@example.com", "Colleague@Customer.example")),
        ctx=ctx,
    )
    subject = f"Re: Login problem [#{first.ticket_ref}]"
    colleague = inbound(
        "adding detail", external_id="k1@x", sender="colleague@customer.example", subject=subject
    )
    result = handle_inbound(store.uow(), colleague, ctx=ctx)
    assert (result.disposition, result.ticket_id) == (Disposition.FOLLOWUP, first.ticket_id)
