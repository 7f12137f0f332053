"""Drafts a model owes: a durable row per customer message, so a crash loses no draft.

A model drafts after intake has committed the message (it must never hold intake's
transaction), so the process that stored the message may die before the draft exists.
Intake therefore records, in the message's own transaction, that a draft is owed: a
scheduled action keyed by ticket and message, due after a grace period. The draft pool of
that process makes the draft and marks the row done (`settle`) in the transaction that
stores it. If the process dies first, the row falls due and any instance's sweep
(`claim_due_owed`) leases it and hands it to its own pool. `settle` refuses while another
instance's lease on the row is running, and once the row is done, so of two drafters of one
message (the original one, far behind, and a sweeper; or a sweeper whose lease ran out and
the one that took over) only one keeps its draft: the other's is rolled back (`LeaseLost`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from core.errors import LeaseLost
from core.model import ScheduledAction
from core.ports import Clock, UnitOfWork

OWED = "draft.owed"


def owed_key(ticket_id: int, message_id: int) -> str:
    return f"draft-owed:{ticket_id}:{message_id}"


def owe(
    uow: UnitOfWork, *, ticket_id: int, message_id: int, now: datetime, grace: timedelta
) -> str:
    """Record, in the caller's transaction, that this message is owed a draft; a message
    delivered again keeps its one row. Returns the row's key, for `settle`."""
    key = owed_key(ticket_id, message_id)
    uow.actions.add_if_absent(
        ScheduledAction(
            kind=OWED,
            idem_key=key,
            due_at=now + grace,
            ticket_id=ticket_id,
            payload=json.dumps({"message_id": message_id}),
        )
    )
    return key


def claim_due_owed(
    uow: UnitOfWork, *, owner: str, clock: Clock, lease_seconds: float, limit: int
) -> list[ScheduledAction]:
    """Lease owed drafts whose grace ran out (their drafter died or is far behind)."""
    if limit <= 0:
        return []
    with uow:
        claimed = uow.actions.claim_due(
            now=clock.now(),
            owner=owner,
            lease_seconds=lease_seconds,
            limit=limit,
            kinds=(OWED,),
        )
        uow.commit()
    return claimed


def settle(uow: UnitOfWork, key: str, *, owner: str, now: datetime) -> None:
    """Mark the owed draft made, in the caller's transaction (the one storing the draft);
    `LeaseLost` if it is made already or another instance holds it now, so the caller's
    draft is rolled back."""
    if not uow.actions.finish(key, owner=owner, now=now):
        raise LeaseLost(f"owed draft {key} is made or held by another instance, not {owner}")
