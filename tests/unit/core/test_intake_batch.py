"""Intake of a batch in one transaction, and drafting inside intake's transaction."""

from __future__ import annotations

import pytest

from core.intake import IntakeContext, IntakeResult, handle_batch, handle_inbound
from core.model import Disposition, Draft, DraftStatus, QuarantineItem, Ticket
from core.ports import UnitOfWork
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.unit.core.builders import inbound
from tests.unit.core.conftest import NOW


def _failing_on_subject(uow: FakeUnitOfWork, subject: str) -> FakeUnitOfWork:
    """`uow` whose `tickets.add` fails for one subject only, as a broken message would."""
    add = uow.tickets.add

    def add_unless(ticket: Ticket) -> Ticket:
        if ticket.subject == subject:
            raise RuntimeError("injected failure for one message")
        return add(ticket)

    uow.tickets.add = add_unless  # type: ignore[method-assign]
    return uow


def _draft(uow: UnitOfWork, result: IntakeResult) -> Draft:
    assert result.ticket_id is not None
    return uow.drafts.add(
        Draft(ticket_id=result.ticket_id, version=1, text="Hello", created_at=NOW)
    )


def test_a_batch_is_one_commit_and_each_message_gets_its_own_outcome(
    store: FakeStore, ctx: IntakeContext
) -> None:
    uow = store.uow()
    messages = [
        inbound(),
        inbound(),  # delivered twice
        inbound(problem="cannot parse", external_id="m2@customer.example"),
    ]
    results = handle_batch(uow, messages, ctx=ctx)
    assert [r.disposition for r in results] == [
        Disposition.NEW_TICKET,
        Disposition.DUPLICATE,
        Disposition.QUARANTINED,
    ]
    assert uow.commits == 1
    assert len(store.tables.tickets) == 1 and len(store.tables.quarantine) == 1


def test_a_message_that_fails_is_undone_alone_and_quarantined_with_its_bytes(
    store: FakeStore, ctx: IntakeContext
) -> None:
    messages = [
        inbound(external_id="a@c.example", sender="a@c.example", subject="First"),
        inbound(external_id="b@c.example", sender="b@c.example", subject="Broken"),
        inbound(external_id="c@c.example", sender="c@c.example", subject="Third"),
    ]
    uow = _failing_on_subject(store.uow(), "Broken")
    results = handle_batch(uow, messages, ctx=ctx)
    assert [r.disposition for r in results] == [
        Disposition.NEW_TICKET,
        Disposition.QUARANTINED,
        Disposition.NEW_TICKET,
    ]
    assert "injected failure" in results[1].reason
    # The broken message's customer went with it; the others' stayed.
    assert {c.email for c in store.tables.customers.values()} == {"a@c.example", "c@c.example"}
    [held] = store.tables.quarantine.values()
    assert held.raw == messages[1].raw


def test_nothing_is_committed_when_even_the_quarantine_fails(
    store: FakeStore, ctx: IntakeContext
) -> None:
    messages = [
        inbound(external_id="a@c.example", sender="a@c.example", subject="First"),
        inbound(external_id="b@c.example", sender="b@c.example", subject="Broken"),
    ]
    uow = _failing_on_subject(store.uow(), "Broken")

    def storage_down(item: QuarantineItem) -> QuarantineItem:
        raise ConnectionError("database is unreachable")

    uow.quarantine.add = storage_down  # type: ignore[method-assign]
    with pytest.raises(ConnectionError, match="unreachable"):
        handle_batch(uow, messages, ctx=ctx)
    assert not store.tables.tickets and not store.tables.messages  # the channel reads it again


def test_the_draft_is_made_in_the_messages_transaction(
    store: FakeStore, ctx: IntakeContext
) -> None:
    uow = store.uow()
    result = handle_inbound(uow, inbound(), ctx=ctx, draft=_draft)
    assert uow.commits == 1
    assert result.draft is not None and result.draft.status is DraftStatus.PENDING
    assert [d.ticket_id for d in store.tables.drafts.values()] == [result.ticket_id]


def test_a_failing_draft_costs_the_draft_only(store: FakeStore, ctx: IntakeContext) -> None:
    def broken(uow: UnitOfWork, result: IntakeResult) -> Draft:
        _draft(uow, result)  # written, then undone with the savepoint
        raise RuntimeError("template missing")

    result = handle_inbound(store.uow(), inbound(), ctx=ctx, draft=broken)
    assert result.disposition is Disposition.NEW_TICKET and result.needs_draft
    assert result.draft is None
    assert len(store.tables.messages) == 1 and not store.tables.drafts
