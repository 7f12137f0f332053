"""Owed drafts: intake promises a model draft in the message's transaction, exactly one
holder makes it, and a holder whose lease was taken over keeps nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.actions import sweep
from core.clock import FixedClock
from core.drafting import owed
from core.drafting.request import DraftRequest, DraftText
from core.drafting.service import Voice, create_draft
from core.errors import LeaseLost
from core.intake import IntakeContext, IntakeResult, handle_inbound
from core.model import ActionStatus, Draft, ScheduledAction
from core.ports import UnitOfWork
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound

GRACE = timedelta(minutes=3)
LEASE = 120.0


class Model:
    """A provider standing in for a remote model: answers at once, counts its calls."""

    name = "model"

    def __init__(self) -> None:
        self.calls = 0

    def draft(self, request: DraftRequest) -> DraftText:
        self.calls += 1
        return DraftText(text=f"Answer {self.calls}", provider="model", language="en")


def _store_owing(store: FakeStore, ctx: IntakeContext, **message: str) -> IntakeResult:
    """Intake as a model-drafting instance runs it: the draft is owed, not made."""

    def owe(uow: UnitOfWork, result: IntakeResult) -> None:
        assert result.ticket_id is not None and result.message_id is not None
        owed.owe(
            uow,
            ticket_id=result.ticket_id,
            message_id=result.message_id,
            now=ctx.clock.now(),
            grace=GRACE,
        )

    return handle_inbound(store.uow(), inbound(**message), ctx=ctx, draft=owe)


def _pay(store: FakeStore, action: ScheduledAction, *, owner: str, clock: FixedClock) -> Draft:
    assert action.ticket_id is not None
    return create_draft(
        store.uow(),
        action.ticket_id,
        provider=Model(),
        clock=clock,
        voice=Voice(),
        then=lambda uow, _draft: owed.settle(uow, action, owner=owner),
    )


def _key(result: IntakeResult) -> str:
    assert result.ticket_id is not None and result.message_id is not None
    return owed.owed_key(result.ticket_id, result.message_id)


def test_intake_commits_the_promise_with_the_message_and_makes_no_draft(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    result = _store_owing(store, ctx)
    row = store.uow().actions.get_by_key(_key(result))
    assert row is not None and row.kind == owed.OWED and row.status is ActionStatus.PENDING
    assert row.due_at == clock.now() + GRACE and row.ticket_id == result.ticket_id
    assert result.draft is None and not store.tables.drafts


def test_a_message_delivered_again_keeps_its_one_promise(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = _store_owing(store, ctx)
    again = _store_owing(store, ctx)
    assert again.needs_draft and again.message_id == first.message_id
    promises = [a.idem_key for a in store.tables.actions.values() if a.kind == owed.OWED]
    assert promises == [_key(first)]


def test_one_holder_at_a_time_and_the_holder_settles_with_its_draft(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    key = _key(_store_owing(store, ctx))
    mine = owed.claim(store.uow(), key, owner="a", clock=clock, lease_seconds=LEASE)
    assert mine is not None
    assert owed.claim(store.uow(), key, owner="b", clock=clock, lease_seconds=LEASE) is None
    draft = _pay(store, mine, owner="a", clock=clock)
    assert [d.id for d in store.tables.drafts.values()] == [draft.id]
    assert store.uow().actions.get_by_key(key).status is ActionStatus.DONE  # type: ignore[union-attr]
    clock.advance(timedelta(hours=1))  # done is done, however long after
    assert owed.claim(store.uow(), key, owner="b", clock=clock, lease_seconds=LEASE) is None


def test_a_holder_whose_lease_was_taken_over_keeps_no_draft(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    key = _key(_store_owing(store, ctx))
    slow = owed.claim(store.uow(), key, owner="a", clock=clock, lease_seconds=LEASE)
    clock.advance(timedelta(seconds=LEASE + 1))  # the model took longer than the lease
    fast = owed.claim(store.uow(), key, owner="b", clock=clock, lease_seconds=LEASE)
    assert slow is not None and fast is not None
    kept = _pay(store, fast, owner="b", clock=clock)
    with pytest.raises(LeaseLost):
        _pay(store, slow, owner="a", clock=clock)
    assert [d.id for d in store.tables.drafts.values()] == [kept.id]


def test_only_overdue_promises_are_swept_and_only_by_the_draft_sweep(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    early = _key(_store_owing(store, ctx))
    clock.advance(timedelta(minutes=2))
    late = _key(_store_owing(store, ctx, external_id="m2@customer.example", subject="Other"))
    clock.advance(GRACE - timedelta(minutes=1))  # the first is overdue, the second is not
    ran: list[str] = []
    sweep(
        store.uow(),
        handlers={"other": lambda a: ran.append(a.idem_key)},
        owner="x",
        clock=clock,
        lease_seconds=LEASE,
    )
    assert ran == [] and all(a.lease_owner is None for a in store.tables.actions.values())
    claim = dict(owner="b", clock=clock, lease_seconds=LEASE)
    assert owed.claim_due_owed(store.uow(), limit=0, **claim) == []  # type: ignore[arg-type]
    [due] = owed.claim_due_owed(store.uow(), limit=5, **claim)  # type: ignore[arg-type]
    assert due.idem_key == early and late != early
