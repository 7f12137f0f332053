"""Durable scheduled actions: claim due rows with a lease, run the handler, mark them done.

APScheduler only ticks; what must happen (an SLA warning, a digest) is a row with a unique
idempotency key, so restarts lose nothing and several instances never run one action twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from core.model import ScheduledAction
from core.ports import Clock, UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[ScheduledAction], None]


CLAIM_BATCH = 10  # rows leased at a time, see `sweep`


def sweep(
    uow: UnitOfWork,
    *,
    handlers: Mapping[str, Handler],
    owner: str,
    clock: Clock,
    lease_seconds: float,
    limit: int = 100,
) -> int:
    """Run due actions this owner can lease, up to `limit`; returns how many completed.

    Rows are leased a few at a time (`CLAIM_BATCH`), so a lease covers the actions about to
    run rather than a long queue behind them: queued rows would wait under a lease other
    instances must respect, and one that runs out before its row's turn makes that row a
    rerun, which for a Slack post means looking in Slack first (`channels.slack.presenter`).

    Only kinds with a handler here are claimed: model drafts (`core.drafting.owed`) are fed
    to the draft pool by their own sweep, and an instance without Slack leaves Slack posts
    to one with it, instead of leasing rows it cannot run.

    A handler that fails leaves its row pending: the lease expires and a later sweep (here or
    on another instance) retries it, late rather than never. So do the rows left when the
    lease runs out before their turn.
    """
    done = 0
    claimed_so_far = 0
    while claimed_so_far < limit:
        with uow:
            claimed = uow.actions.claim_due(
                now=clock.now(),
                owner=owner,
                lease_seconds=lease_seconds,
                limit=min(CLAIM_BATCH, limit - claimed_so_far),
                kinds=handlers.keys(),  # what this instance cannot run is left to one that can
            )
            uow.commit()
        if not claimed:
            break
        claimed_so_far += len(claimed)
        done += _run_claimed(uow, claimed, handlers=handlers, owner=owner, clock=clock)
    return done


def _run_claimed(
    uow: UnitOfWork,
    claimed: list[ScheduledAction],
    *,
    handlers: Mapping[str, Handler],
    owner: str,
    clock: Clock,
) -> int:
    done = 0
    for action in claimed:
        if action.lease_until is not None and clock.now() >= action.lease_until:
            # Earlier actions took longer than the lease: another instance may run this one
            # now, and two runs of a Slack post would post twice (as `core.outbox` does).
            log.warning("lease ran out before its turn; leaving the action")
            break
        try:
            handlers[action.kind](action)
        except Exception:
            log.exception("scheduled action failed", extra={"idem_key": action.idem_key})
            continue
        assert action.id is not None
        with uow:
            if uow.actions.complete(action.id, owner=owner):
                done += 1
            uow.commit()
    return done
