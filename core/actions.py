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


def sweep(
    uow: UnitOfWork,
    *,
    handlers: Mapping[str, Handler],
    owner: str,
    clock: Clock,
    lease_seconds: float,
    limit: int = 100,
) -> int:
    """Run every due action this owner can lease; returns how many completed.

    A handler that fails leaves its row pending: the lease expires and a later sweep (here or
    on another instance) retries it, late rather than never.
    """
    with uow:
        claimed = uow.actions.claim_due(
            now=clock.now(), owner=owner, lease_seconds=lease_seconds, limit=limit
        )
        uow.commit()
    done = 0
    for action in claimed:
        handler = handlers.get(action.kind)
        if handler is None:
            log.warning("no handler for scheduled action kind %r", action.kind)
            continue
        try:
            handler(action)
        except Exception:
            log.exception("scheduled action failed", extra={"idem_key": action.idem_key})
            continue
        assert action.id is not None
        with uow:
            if uow.actions.complete(action.id, owner=owner):
                done += 1
            uow.commit()
    return done
