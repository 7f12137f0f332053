"""Owed drafts: intake promises a model draft in the message's transaction, and of every
drafter that makes it (the original one, a sweeper, one that took an expired lease over)
exactly one keeps its draft."""

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
from core.model import ActionStatus, Draft
from core.ports import UnitOfWork
from tests.fakes import FakeStore
from tests.unit.core.builders import inbound

GRACE = timedelta(minutes=3)
LEASE = 120.0


class Model:
    """A provider standing in for a remote model: answers at once, numbers its answers."""

    name = "model"

    def __init__(self) -> None:
        self.calls = 0

    def draft(self, request: DraftRequest) -> DraftText:
        self.calls += 1
        return DraftText(text=f"Answer {self.calls}", provider="model", language="en")


def _store_owing(store: FakeStore, ctx: IntakeContext, **message: str) -> str:
    """Intake as a model-drafting instance runs it: the draft is owed, not made. The key."""
    keys: list[str] = []

    def owe(uow: UnitOfWork, result: IntakeResult) -> None:
        assert result.ticket_id is not None and result.message_id is not None
        now = ctx.clock.now()
        keys.append(
            owed.owe(
                uow,
                ticket_id=result.ticket_id,
                message_id=result.message_id,
                now=now,
                grace=GRACE,
            )
        )

    result = handle_inbound(store.uow(), inbound(**message), ctx=ctx, draft=owe)
    assert result.draft is None and result.needs_draft and keys
    return keys[-1]


def _pay(store: FakeStore, key: str, *, owner: str, clock: FixedClock) -> Draft:
    """What a drafter does: the draft, settled in the transaction that stores it."""
    row = store.uow().actions.get_by_key(key)
    assert row is not None and row.ticket_id is not None
    return create_draft(
        store.uow(),
        row.ticket_id,
        provider=Model(),
        clock=clock,
        voice=Voice(),
        then=lambda uow, _draft: owed.settle(uow, key, owner=owner, now=clock.now()),
    )


def _status(store: FakeStore, key: str) -> ActionStatus:
    row = store.uow().actions.get_by_key(key)
    assert row is not None
    return row.status


def test_intake_commits_the_promise_with_the_message_and_makes_no_draft(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    key = _store_owing(store, ctx)
    row = store.uow().actions.get_by_key(key)
    assert row is not None and row.kind == owed.OWED and row.status is ActionStatus.PENDING
    assert row.due_at == clock.now() + GRACE and row.lease_owner is None
    assert len(store.tables.messages) == 1 and not store.tables.drafts


def test_a_message_delivered_again_keeps_its_one_promise(
    store: FakeStore, ctx: IntakeContext
) -> None:
    first = _store_owing(store, ctx)
    again = _store_owing(store, ctx)
    promises = [a.idem_key for a in store.tables.actions.values() if a.kind == owed.OWED]
    assert again == first and promises == [first]


def test_the_first_drafter_keeps_its_draft_and_a_second_keeps_nothing(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    key = _store_owing(store, ctx)
    kept = _pay(store, key, owner="a", clock=clock)
    assert _status(store, key) is ActionStatus.DONE
    with pytest.raises(LeaseLost):
        _pay(store, key, owner="b", clock=clock)
    assert [d.id for d in store.tables.drafts.values()] == [kept.id]


def test_a_sweepers_running_lease_wins_over_the_drafter_far_behind(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    key = _store_owing(store, ctx)
    clock.advance(GRACE)
    [claimed] = owed.claim_due_owed(
        store.uow(), owner="sweeper", clock=clock, lease_seconds=LEASE, limit=5
    )
    assert claimed.idem_key == key
    with pytest.raises(LeaseLost):
        _pay(store, key, owner="original", clock=clock)
    assert not store.tables.drafts
    kept = _pay(store, key, owner="sweeper", clock=clock)
    assert [d.id for d in store.tables.drafts.values()] == [kept.id]


def test_a_holder_whose_lease_was_taken_over_keeps_no_draft(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    key = _store_owing(store, ctx)
    clock.advance(GRACE)
    claim = {"clock": clock, "lease_seconds": LEASE, "limit": 5}
    assert owed.claim_due_owed(store.uow(), owner="slow", **claim)  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=LEASE + 1))  # the model took longer than the lease
    assert owed.claim_due_owed(store.uow(), owner="fast", **claim)  # type: ignore[arg-type]
    kept = _pay(store, key, owner="fast", clock=clock)
    with pytest.raises(LeaseLost):
        _pay(store, key, owner="slow", clock=clock)
    assert [d.id for d in store.tables.drafts.values()] == [kept.id]


def test_only_overdue_promises_are_swept_and_only_by_the_draft_sweep(
    store: FakeStore, ctx: IntakeContext, clock: FixedClock
) -> None:
    early = _store_owing(store, ctx)
    clock.advance(timedelta(minutes=2))
    late = _store_owing(store, ctx, external_id="m2@customer.example", subject="Other")
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
    claim = {"owner": "b", "clock": clock, "lease_seconds": LEASE}
    assert owed.claim_due_owed(store.uow(), limit=0, **claim) == []  # type: ignore[arg-type]
    [due] = owed.claim_due_owed(store.uow(), limit=5, **claim)  # type: ignore[arg-type]
    assert due.idem_key == early and late != early
