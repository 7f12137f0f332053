"""The draft state machine: each transition, the double approval, stale versions, authority."""

from __future__ import annotations

import pytest

from bot.rendering import JinjaRenderer
from core.approval import ApprovalPolicy, Identity, Outcome, approve, mark_sent, reject
from core.clock import FixedClock
from core.drafting.offline import OfflineDrafter
from core.drafting.service import Voice, create_draft
from core.errors import InvalidInput, NotAuthorised
from core.intake import IntakeContext, handle_inbound
from core.model import Direction, Draft, DraftStatus, OutboxStatus, TicketStatus
from core.threading import ref_from_message_id
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound
from tests.unit.core.conftest import SECRET

POLICY = ApprovalPolicy(approvers=frozenset({"slack:UAGENT", "slack:UOTHER"}))
IDENTITY = Identity(thread_secret=SECRET, domain="mail.example.test")
DRAFTER = OfflineDrafter(JinjaRenderer())


def _ticket_with_draft(store: FakeStore, ctx: IntakeContext, clock: FixedClock) -> Draft:
    result = handle_inbound(store.uow(), inbound(), ctx=ctx)
    assert result.ticket_id is not None
    return create_draft(store.uow(), result.ticket_id, provider=DRAFTER, clock=clock, voice=Voice())


def _approve(
    store: FakeStore, clock: FixedClock, draft: Draft, actor: str = "slack:UAGENT", **kw: object
) -> object:
    assert draft.id is not None
    return approve(
        store.uow(),
        draft_id=draft.id,
        version=draft.version,
        actor=actor,
        policy=POLICY,
        clock=clock,
        identity=IDENTITY,
        **kw,
    )  # type: ignore[arg-type]


def test_offline_draft_is_pending_and_addresses_the_customer(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    assert (draft.status, draft.version, draft.provider) == (DraftStatus.PENDING, 1, "offline")
    assert draft.text.startswith("Hello Ann,")
    assert "T1" in draft.text


def test_approval_writes_outbox_row_with_threading_in_same_transaction(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    decided = _approve(store, clock, draft)
    assert decided.outcome is Outcome.APPLIED  # type: ignore[attr-defined]
    [item] = store.tables.outbox.values()
    assert item.recipient == "ann@customer.example"
    assert item.subject == "Re: Login problem [#T1]"
    assert item.in_reply_to == "m1@customer.example"
    assert item.references == ("m1@customer.example",)
    assert ref_from_message_id(item.message_id, secret=SECRET) == "T1"
    assert item.status is OutboxStatus.PENDING and item.body == draft.text
    stored = store.tables.drafts[draft.id or 0]
    assert (stored.status, stored.decided_by) == (DraftStatus.APPROVED, "slack:UAGENT")
    outbound = [m for m in store.tables.messages.values() if m.direction is Direction.OUTBOUND]
    assert [m.external_id for m in outbound] == [item.message_id]


def test_double_approval_and_second_approver_change_nothing(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    assert _approve(store, clock, draft).outcome is Outcome.APPLIED  # type: ignore[attr-defined]
    again = _approve(store, clock, draft)
    other = _approve(store, clock, draft, actor="slack:UOTHER")
    assert again.outcome is Outcome.ALREADY_DECIDED  # type: ignore[attr-defined]
    assert other.outcome is Outcome.ALREADY_DECIDED  # type: ignore[attr-defined]
    assert len(store.tables.outbox) == 1 and len(store.tables.decisions) == 1


def test_stale_version_cannot_be_approved(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    first = _ticket_with_draft(store, ctx, clock)
    second = create_draft(
        store.uow(), first.ticket_id, provider=DRAFTER, clock=clock, voice=Voice()
    )
    assert second.version == 2
    assert store.tables.drafts[first.id or 0].status is DraftStatus.SUPERSEDED
    assert _approve(store, clock, first).outcome is Outcome.STALE  # type: ignore[attr-defined]
    assert not store.tables.outbox
    assert _approve(store, clock, second).outcome is Outcome.APPLIED  # type: ignore[attr-defined]


def test_edit_sends_the_edited_text_and_keeps_the_diff(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    edited = draft.text.replace("Best regards", "We will call you within the hour.\n\nBest regards")
    _approve(store, clock, draft, edited_text=edited)
    assert store.tables.drafts[draft.id or 0].status is DraftStatus.EDITED
    [item] = store.tables.outbox.values()
    assert item.body == edited
    [decision] = store.tables.decisions.values()
    assert "-" in decision.diff and "+" in decision.diff and "within the hour" in decision.diff


def test_unchanged_edit_counts_as_plain_approval(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    _approve(store, clock, draft, edited_text=draft.text + "  \n")
    assert store.tables.drafts[draft.id or 0].status is DraftStatus.APPROVED


def test_empty_edit_is_refused(store: FakeStore, ctx: IntakeContext, clock: FixedClock) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    with pytest.raises(InvalidInput):
        _approve(store, clock, draft, edited_text="   ")
    assert store.tables.drafts[draft.id or 0].status is DraftStatus.PENDING


def test_unauthorised_actor_is_refused_audited_and_nothing_is_queued(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    with pytest.raises(NotAuthorised):
        _approve(store, clock, draft, actor="slack:UINTRUDER")
    assert not store.tables.outbox
    assert store.tables.drafts[draft.id or 0].status is DraftStatus.PENDING
    refused = [e for e in store.tables.audit.values() if e.action == "draft.refused"]
    assert [e.actor for e in refused] == ["slack:UINTRUDER"]


def test_reject_needs_a_reason_and_is_final(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    assert draft.id is not None
    with pytest.raises(InvalidInput):
        reject(
            store.uow(),
            draft_id=draft.id,
            version=1,
            actor="slack:UAGENT",
            reason=" ",
            policy=POLICY,
            clock=clock,
        )
    done = reject(
        store.uow(),
        draft_id=draft.id,
        version=1,
        actor="slack:UAGENT",
        reason="wrong product",
        policy=POLICY,
        clock=clock,
    )
    assert done.outcome is Outcome.APPLIED
    assert _approve(store, clock, draft).outcome is Outcome.ALREADY_DECIDED  # type: ignore[attr-defined]
    assert not store.tables.outbox
    [decision] = store.tables.decisions.values()
    assert decision.reason == "wrong product"


def test_mark_sent_moves_draft_to_sent_once_and_pauses_the_ticket(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    _approve(store, clock, draft)
    [item] = store.tables.outbox.values()
    assert item.id is not None
    assert mark_sent(store.uow(), outbox_id=item.id, clock=clock)
    assert not mark_sent(store.uow(), outbox_id=item.id, clock=clock)
    assert store.tables.drafts[draft.id or 0].status is DraftStatus.SENT
    ticket = store.tables.tickets[draft.ticket_id]
    assert ticket.status is TicketStatus.PENDING
    assert ticket.first_responded_at == clock.now() == ticket.sla_paused_at


def test_a_pending_draft_cannot_be_marked_sent(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    draft = _ticket_with_draft(store, ctx, clock)
    assert draft.id is not None
    assert not store.uow().drafts.transition(
        draft.id,
        version=1,
        from_statuses=[DraftStatus.APPROVED, DraftStatus.EDITED],
        to_status=DraftStatus.SENT,
    )
