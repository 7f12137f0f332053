"""Intake → draft → approval → outbox → sent, on SQLite and PostgreSQL with real storage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from bot.rendering import JinjaRenderer
from core.approval import ApprovalPolicy, Identity, Outcome, approve, mark_sent
from core.clock import FixedClock
from core.drafting.offline import OfflineDrafter
from core.drafting.service import Voice, create_draft
from core.intake import IntakeContext, handle_inbound
from core.model import Channel, Disposition, DraftStatus, InboundMessage, TicketStatus
from core.pipeline import TriagePolicy
from core.ports import UnitOfWork

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
SECRET = b"integration"
POLICY = ApprovalPolicy(approvers=frozenset({"cli:ann", "cli:bob"}))
IDENTITY = Identity(thread_secret=SECRET, domain="mail.example.test")


def _message(external_id: str, text: str, **kw: object) -> InboundMessage:
    return InboundMessage(
        channel=Channel.EMAIL,
        raw=f"Message-ID: <{external_id}>\n\n{text}".encode(),
        received_at=NOW,
        external_id=external_id,
        sender_email="carol@customer.example",
        sender_name="Carol",
        subject="Refund for order 1234",
        text=text,
        **kw,  # type: ignore[arg-type]
    )


def test_reply_flow_sends_once_under_concurrent_approvals(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    clock = FixedClock(NOW)
    ctx = IntakeContext(clock=clock, policy=TriagePolicy(), thread_secret=SECRET)
    first = handle_inbound(uow_factory(), _message("c1@cust", "I was charged twice."), ctx=ctx)
    assert first.disposition is Disposition.NEW_TICKET and first.ticket_id is not None
    again = handle_inbound(uow_factory(), _message("c1@cust", "I was charged twice."), ctx=ctx)
    assert again.disposition is Disposition.DUPLICATE

    draft = create_draft(
        uow_factory(),
        first.ticket_id,
        provider=OfflineDrafter(JinjaRenderer()),
        clock=clock,
        voice=Voice(brand="Acme"),
    )
    assert draft.id is not None and "Acme" in draft.text

    outcomes: list[Outcome] = []
    barrier = threading.Barrier(2)

    def click(actor: str) -> None:
        barrier.wait()
        decided = approve(
            uow_factory(),
            draft_id=draft.id or 0,
            version=draft.version,
            actor=actor,
            policy=POLICY,
            clock=clock,
            identity=IDENTITY,
        )
        outcomes.append(decided.outcome)

    threads = [threading.Thread(target=click, args=(a,)) for a in ("cli:ann", "cli:bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [Outcome.ALREADY_DECIDED, Outcome.APPLIED]

    with uow_factory() as uow:
        [item] = uow.outbox.list_for_ticket(first.ticket_id)
        assert item.in_reply_to == "c1@cust"
    assert item.id is not None
    assert mark_sent(uow_factory(), outbox_id=item.id, clock=clock)
    assert not mark_sent(uow_factory(), outbox_id=item.id, clock=clock)

    with uow_factory() as uow:
        assert uow.drafts.get(draft.id).status is DraftStatus.SENT  # type: ignore[union-attr]
        ticket = uow.tickets.get(first.ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.PENDING

    # The customer's reply to our message threads by our Message-ID and reopens the ticket.
    reply = _message(
        "c2@cust", "Thanks, but it is still not refunded.", in_reply_to=(item.message_id,)
    )
    followup = handle_inbound(uow_factory(), reply, ctx=ctx)
    assert (followup.disposition, followup.ticket_id) == (Disposition.FOLLOWUP, first.ticket_id)
    with uow_factory() as uow:
        ticket = uow.tickets.get(first.ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.OPEN
        directions = [m.direction.value for m in uow.messages.list_for_ticket(first.ticket_id)]
    assert directions == ["inbound", "outbound", "inbound"]
