"""deliver_due: success, backoff, permanent and final failures, crashes, bounced recipients."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.rendering import JinjaRenderer
from core.approval import ApprovalPolicy, Identity, approve
from core.clock import FixedClock
from core.drafting.offline import OfflineDrafter
from core.drafting.service import Voice, create_draft
from core.errors import DeliveryFailed
from core.intake import IntakeContext, handle_inbound
from core.model import (
    AuditEvent,
    Channel,
    DraftStatus,
    OutboxItem,
    OutboxStatus,
    TicketStatus,
)
from core.outbox import (
    BOUNCED_REASON,
    DeliveryReport,
    deliver_due,
    exponential_backoff,
    index_transports,
)
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound
from tests.unit.core.conftest import NOW, SECRET

POLICY = ApprovalPolicy(approvers=frozenset({"slack:UAGENT"}))
IDENTITY = Identity(thread_secret=SECRET, domain="mail.example.test")
DRAFTER = OfflineDrafter(JinjaRenderer())
OWNER = "instance-a"
LEASE = 300.0


class FakeTransport:
    """Records every delivery attempt; raises the queued failures first, one per attempt."""

    def __init__(
        self,
        channel: Channel = Channel.EMAIL,
        failures: list[Exception] | None = None,
        clock: FixedClock | None = None,
        advance_by: timedelta | None = None,
    ) -> None:
        self._channel = channel
        self.failures = list(failures or [])
        self.attempts: list[OutboxItem] = []
        self.delivered: list[OutboxItem] = []
        self._clock = clock
        self._advance_by = advance_by

    @property
    def channel(self) -> Channel:
        return self._channel

    def deliver(self, item: OutboxItem) -> None:
        self.attempts.append(item)
        if self._clock is not None and self._advance_by is not None:
            self._clock.advance(self._advance_by)  # a slow server
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(item)


def approved_item(
    store: FakeStore,
    ctx: IntakeContext,
    clock: FixedClock,
    *,
    sender: str = "ann@customer.example",
    external_id: str = "m1@customer.example",
) -> OutboxItem:
    """A ticket, its offline draft and the approval: the outbox row approval queued."""
    result = handle_inbound(store.uow(), inbound(sender=sender, external_id=external_id), ctx=ctx)
    assert result.ticket_id is not None
    draft = create_draft(
        store.uow(), result.ticket_id, provider=DRAFTER, clock=clock, voice=Voice()
    )
    assert draft.id is not None
    decided = approve(
        store.uow(),
        draft_id=draft.id,
        version=draft.version,
        actor="slack:UAGENT",
        policy=POLICY,
        clock=clock,
        identity=IDENTITY,
    )
    assert decided.outbox is not None
    return decided.outbox


def run(
    store: FakeStore, clock: FixedClock, *transports: FakeTransport, **options: object
) -> DeliveryReport:
    return deliver_due(
        store.uow,
        transports=index_transports(transports),
        clock=clock,
        owner=OWNER,
        lease_seconds=LEASE,
        **options,  # type: ignore[arg-type]
    )


def outbox_row(store: FakeStore, item: OutboxItem) -> OutboxItem:
    return store.tables.outbox[item.id or 0]


def audit(store: FakeStore, action: str) -> list[AuditEvent]:
    return [e for e in store.tables.audit.values() if e.action == action]


def test_success_sends_once_marks_the_draft_sent_and_waits_on_the_customer(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    transport = FakeTransport()

    assert run(store, clock, transport) == DeliveryReport(sent=1)

    assert [d.message_id for d in transport.delivered] == [item.message_id]
    row = outbox_row(store, item)
    assert (row.status, row.attempts, row.sent_at) == (OutboxStatus.SENT, 1, NOW)
    assert store.tables.drafts[item.draft_id].status is DraftStatus.SENT
    ticket = store.tables.tickets[item.ticket_id]
    assert ticket.status is TicketStatus.PENDING and ticket.first_responded_at == NOW
    assert len(audit(store, "reply.sent")) == 1 and audit(store, "reply.resend") == []

    clock.advance(timedelta(hours=2))
    assert run(store, clock, transport) == DeliveryReport()
    assert len(transport.attempts) == 1


def test_transient_failure_is_retried_after_backoff_with_the_same_message_id(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    transport = FakeTransport(failures=[DeliveryFailed("451 4.3.0 try later", permanent=False)])

    assert run(store, clock, transport) == DeliveryReport(retrying=1)
    row = outbox_row(store, item)
    assert row.status is OutboxStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at == NOW + timedelta(seconds=30)
    assert row.last_error == "451 4.3.0 try later" and row.lease_owner is None
    assert audit(store, "reply.failed") == []

    clock.advance(timedelta(seconds=29))
    assert run(store, clock, transport) == DeliveryReport()  # not due yet
    clock.advance(timedelta(seconds=1))
    assert run(store, clock, transport) == DeliveryReport(sent=1)

    assert [a.message_id for a in transport.attempts] == [item.message_id] * 2
    row = outbox_row(store, item)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    [resend] = audit(store, "reply.resend")
    detail = json.loads(resend.detail)
    assert detail["message_id"] == item.message_id and detail["attempt"] == 2
    assert detail["last_error"] == "451 4.3.0 try later"


def test_permanent_failure_stops_at_once_and_is_audited_for_agents(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    transport = FakeTransport(failures=[DeliveryFailed("550 5.1.1 no such user", permanent=True)])

    assert run(store, clock, transport) == DeliveryReport(failed=1)

    row = outbox_row(store, item)
    assert (row.status, row.next_attempt_at) == (OutboxStatus.FAILED, None)
    assert row.last_error == "550 5.1.1 no such user"
    [failed] = audit(store, "reply.failed")
    assert failed.ticket_id == item.ticket_id
    assert json.loads(failed.detail)["reason"] == "550 5.1.1 no such user"
    assert store.tables.drafts[item.draft_id].status is DraftStatus.APPROVED
    clock.advance(timedelta(days=1))
    assert run(store, clock, transport) == DeliveryReport()
    assert len(transport.attempts) == 1


def test_transient_failures_end_after_max_attempts(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    transport = FakeTransport(
        failures=[DeliveryFailed("connection refused", permanent=False) for _ in range(5)]
    )
    reports = []
    for _ in range(4):
        reports.append(run(store, clock, transport, max_attempts=3))
        clock.advance(timedelta(hours=1))

    assert reports == [
        DeliveryReport(retrying=1),
        DeliveryReport(retrying=1),
        DeliveryReport(failed=1),
        DeliveryReport(),
    ]
    assert len(transport.attempts) == 3 and transport.delivered == []
    row = outbox_row(store, item)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 3)
    [failed] = audit(store, "reply.failed")
    detail = json.loads(failed.detail)
    assert (detail["permanent"], detail["attempts"]) == (False, 3)
    assert len(audit(store, "reply.resend")) == 2


def test_backoff_uses_the_attempt_count(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    transport = FakeTransport(failures=[DeliveryFailed("busy", permanent=False)] * 2)
    seen: list[int] = []

    def backoff(attempts: int) -> timedelta:
        seen.append(attempts)
        return timedelta(minutes=attempts * 10)

    run(store, clock, transport, backoff=backoff)
    assert outbox_row(store, item).next_attempt_at == NOW + timedelta(minutes=10)
    clock.advance(timedelta(minutes=10))
    run(store, clock, transport, backoff=backoff)
    assert outbox_row(store, item).next_attempt_at == NOW + timedelta(minutes=30)
    assert seen == [1, 2]


def test_exponential_backoff_doubles_from_30_seconds_up_to_an_hour() -> None:
    delays = [exponential_backoff(n).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert exponential_backoff(10_000) == timedelta(hours=1)


def test_a_crashed_sender_s_claim_is_resent_once_after_the_lease_with_the_same_id(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    with store.uow() as uow:  # another instance claims the item, then dies before delivering
        [claimed] = uow.outbox.claim_due(
            now=clock.now(), owner="dead", lease_seconds=LEASE, limit=5
        )
        uow.commit()
    assert claimed.attempts == 1
    transport = FakeTransport()

    assert run(store, clock, transport) == DeliveryReport()  # its lease still holds
    clock.advance(timedelta(seconds=LEASE + 1))
    assert run(store, clock, transport) == DeliveryReport(sent=1)
    assert run(store, clock, transport) == DeliveryReport()

    assert [d.message_id for d in transport.delivered] == [item.message_id]
    assert outbox_row(store, item).attempts == 2
    [resend] = audit(store, "reply.resend")
    assert json.loads(resend.detail)["message_id"] == item.message_id
    assert store.tables.drafts[item.draft_id].status is DraftStatus.SENT


def test_a_bounced_recipient_is_not_sent_to(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    with store.uow() as uow:
        customer = uow.customers.get_by_email(item.recipient)
        assert customer is not None
        uow.customers.save(replace(customer, bounced=True))
        uow.commit()
    transport = FakeTransport()

    assert run(store, clock, transport) == DeliveryReport(failed=1)

    assert transport.attempts == []
    row = outbox_row(store, item)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, BOUNCED_REASON)
    [failed] = audit(store, "reply.failed")
    assert json.loads(failed.detail)["reason"] == "recipient bounced earlier"


def test_an_item_without_a_transport_for_its_channel_is_left_alone(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    slack = FakeTransport(channel=Channel.SLACK)

    assert run(store, clock, slack) == DeliveryReport(skipped=1)

    assert slack.attempts == []
    row = outbox_row(store, item)
    assert row.status is OutboxStatus.PENDING and row.last_error is None
    assert row.lease_owner == OWNER  # the lease runs out on its own
    email = FakeTransport()
    clock.advance(timedelta(seconds=LEASE + 1))
    assert run(store, clock, slack, email) == DeliveryReport(sent=1)


def test_items_whose_lease_ran_out_during_the_run_are_left_for_the_next(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    first = approved_item(store, ctx, clock)
    second = approved_item(store, ctx, clock, sender="bob@customer.example", external_id="m2@c")
    slow = FakeTransport(clock=clock, advance_by=timedelta(seconds=LEASE))

    assert run(store, clock, slow) == DeliveryReport(sent=1, skipped=1)

    assert [d.id for d in slow.attempts] == [first.id]
    assert outbox_row(store, second).status is OutboxStatus.PENDING


def test_a_sender_that_lost_its_lease_records_nothing(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)

    class TakenOver(FakeTransport):
        """Another instance claims the item (our lease ran out) while our attempt fails."""

        def deliver(self, item: OutboxItem) -> None:
            clock.advance(timedelta(seconds=LEASE + 1))
            with store.uow() as uow:
                uow.outbox.claim_due(now=clock.now(), owner="other", lease_seconds=LEASE, limit=5)
                uow.commit()
            raise DeliveryFailed("timed out", permanent=True)

    assert run(store, clock, TakenOver()) == DeliveryReport(skipped=1)

    row = outbox_row(store, item)
    assert (row.status, row.lease_owner, row.last_error) == (OutboxStatus.PENDING, "other", None)
    assert audit(store, "reply.failed") == []


def test_an_unexpected_transport_error_is_retried_like_a_transient_one(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    item = approved_item(store, ctx, clock)
    transport = FakeTransport(failures=[RuntimeError("bug")])

    assert run(store, clock, transport) == DeliveryReport(retrying=1)

    row = outbox_row(store, item)
    assert row.last_error == "unexpected error: RuntimeError"
    assert row.next_attempt_at == NOW + timedelta(seconds=30)


def test_two_transports_for_one_channel_are_refused() -> None:
    with pytest.raises(ValueError, match="two reply transports"):
        index_transports([FakeTransport(), FakeTransport()])
