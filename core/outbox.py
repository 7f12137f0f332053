"""The delivery loop: claim due outbox items, hand each to its channel's transport, record it.

Approval writes an outbox row in the same transaction as the decision (DESIGN §2, step 6);
this module is the only thing that turns such rows into messages leaving the building. It is
at-least-once by construction: an item is leased before it is delivered and recorded after,
so a crash between the two makes the lease run out and a later run deliver it again, with
the same deterministic Message-ID (invariant 4), which lets the recipient's mail client and
our own intake recognise the duplicate. Every resend is audited.

Channel-neutral: a `ReplyTransport` (SMTP, Slack…) does the talking and reports failure as
`DeliveryFailed`, transient or permanent; the policy of what happens next lives here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from core.approval import mark_sent
from core.errors import DeliveryFailed
from core.model import AuditEvent, Channel, OutboxItem
from core.ports import Clock, UnitOfWork

log = logging.getLogger(__name__)

ACTOR = "supportbot"
BOUNCED_REASON = "recipient bounced earlier"

_BACKOFF_BASE_SECONDS = 30.0
_BACKOFF_CAP_SECONDS = 3600.0


class ReplyTransport(Protocol):
    """Delivers one outbox item on one channel, or raises `DeliveryFailed`.

    Returning normally means the far side accepted the message. A transport must be safe to
    call again for an item it may already have delivered: the loop resends after a crash.
    """

    @property
    def channel(self) -> Channel: ...

    def deliver(self, item: OutboxItem) -> None: ...


def exponential_backoff(attempts: int) -> timedelta:
    """30 s after the first failed attempt, doubling each time, never more than an hour, so a
    broken relay or a wrong password is retried for hours without hammering the server."""
    exponent = max(attempts - 1, 0)
    if exponent >= 32:  # already far beyond the cap; avoid a needless huge integer
        return timedelta(seconds=_BACKOFF_CAP_SECONDS)
    return timedelta(seconds=min(_BACKOFF_BASE_SECONDS * 2**exponent, _BACKOFF_CAP_SECONDS))


def index_transports(transports: Iterable[ReplyTransport]) -> dict[Channel, ReplyTransport]:
    """Key transports by the channel they serve, refusing two for one channel (which would
    make the choice depend on the order of configuration)."""
    indexed: dict[Channel, ReplyTransport] = {}
    for transport in transports:
        if transport.channel in indexed:
            raise ValueError(f"two reply transports for channel {transport.channel}")
        indexed[transport.channel] = transport
    return indexed


class _Result(StrEnum):
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DeliveryReport:
    """What one run of `deliver_due` did, for the scheduler's log line and for tests.

    `skipped` counts items this run claimed but did not settle: no transport for their
    channel, a lease that ran out before their turn, or another sender that took them over.
    Their leases expire and a later run (here or on another instance) picks them up.
    """

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed + self.skipped


def deliver_due(
    new_uow: Callable[[], UnitOfWork],
    *,
    transports: Mapping[Channel, ReplyTransport],
    clock: Clock,
    owner: str,
    lease_seconds: float = 300,
    limit: int = 50,
    max_attempts: int = 8,
    backoff: Callable[[int], timedelta] = exponential_backoff,
    on_sent: Callable[[OutboxItem], None] | None = None,
) -> DeliveryReport:
    """Deliver every outbox item that is due and that this owner can lease.

    `on_sent` is told about each item once its delivery is recorded (e.g. so the Slack card
    can show "sent"); its failure is logged and changes nothing about the delivery.

    The claim is committed before anything is sent, so two instances never deliver the same
    item concurrently; each item's outcome is committed on its own, so one failure does not
    undo another's success.
    """
    with new_uow() as uow:
        claimed = uow.outbox.claim_due(
            now=clock.now(), owner=owner, lease_seconds=lease_seconds, limit=limit
        )
        uow.commit()
    counts = dict.fromkeys(_Result, 0)
    for item in claimed:
        result = _deliver_one(
            new_uow,
            item,
            transports=transports,
            clock=clock,
            owner=owner,
            max_attempts=max_attempts,
            backoff=backoff,
        )
        counts[result] += 1
        if result is _Result.SENT and on_sent is not None:
            try:
                on_sent(item)
            except Exception:
                log.exception("on_sent hook failed", extra={"outbox_id": item.id})
    return DeliveryReport(
        sent=counts[_Result.SENT],
        retrying=counts[_Result.RETRYING],
        failed=counts[_Result.FAILED],
        skipped=counts[_Result.SKIPPED],
    )


def _deliver_one(
    new_uow: Callable[[], UnitOfWork],
    item: OutboxItem,
    *,
    transports: Mapping[Channel, ReplyTransport],
    clock: Clock,
    owner: str,
    max_attempts: int,
    backoff: Callable[[int], timedelta],
) -> _Result:
    assert item.id is not None
    extra = {"ticket_id": item.ticket_id, "outbox_id": item.id, "message_id": item.message_id}
    transport = transports.get(item.channel)
    if transport is None:
        log.warning(
            "no reply transport for channel %s; leaving the item", item.channel, extra=extra
        )
        return _Result.SKIPPED
    if item.lease_until is not None and clock.now() >= item.lease_until:
        # Earlier items took longer than the lease: another instance may own this one now.
        log.warning("lease ran out before delivery; leaving the item", extra=extra)
        return _Result.SKIPPED
    if not _prepare(new_uow(), item, clock=clock):
        bounced = DeliveryFailed(BOUNCED_REASON, permanent=True)
        return _record_failure(new_uow(), item, bounced, clock=clock, owner=owner, retry_after=None)
    try:
        transport.deliver(item)
    except DeliveryFailed as exc:
        failure = exc
    except Exception as exc:
        # A bug or an unforeseen library error: retried like a transient failure, so that
        # `max_attempts` still ends it instead of a resend every time the lease runs out.
        log.exception("reply transport raised unexpectedly", extra=extra)
        failure = DeliveryFailed(f"unexpected error: {type(exc).__name__}", permanent=False)
    else:
        log.info("reply delivered", extra=extra)
        if not mark_sent(new_uow(), outbox_id=item.id, clock=clock):
            log.warning("reply was already recorded as sent by another sender", extra=extra)
        return _Result.SENT
    is_final = failure.permanent or item.attempts >= max_attempts
    return _record_failure(
        new_uow(),
        item,
        failure,
        clock=clock,
        owner=owner,
        retry_after=None if is_final else backoff(item.attempts),
    )


def _prepare(uow: UnitOfWork, item: OutboxItem, *, clock: Clock) -> bool:
    """Check the recipient and audit a resend before delivery; False means do not send.

    A recipient flagged as bounced gets nothing more (invariant 5): mail to a dead address
    earns more bounces and hurts the sender's reputation. The resend event is committed
    before delivery, so the audit log shows it even if this process dies mid-delivery.
    """
    with uow:
        customer = uow.customers.get_by_email(item.recipient) if item.recipient else None
        if customer is not None and customer.bounced:
            return False
        if item.attempts > 1:
            _audit(
                uow,
                "reply.resend",
                item,
                clock=clock,
                detail={
                    "outbox_id": item.id,
                    "message_id": item.message_id,
                    "attempt": item.attempts,
                    "last_error": item.last_error,
                },
            )
            uow.commit()
    return True


def _record_failure(
    uow: UnitOfWork,
    item: OutboxItem,
    failure: DeliveryFailed,
    *,
    clock: Clock,
    owner: str,
    retry_after: timedelta | None,
) -> _Result:
    """Release the lease with the reason; a final failure is audited so agents see it."""
    assert item.id is not None
    extra = {"ticket_id": item.ticket_id, "outbox_id": item.id, "message_id": item.message_id}
    now = clock.now()
    retry_at = None if retry_after is None else now + retry_after
    reason = str(failure)
    with uow:
        if not uow.outbox.record_failure(item.id, owner=owner, error=reason, retry_at=retry_at):
            log.warning("lost the lease before recording a failure", extra=extra)
            return _Result.SKIPPED
        if retry_at is None:
            _audit(
                uow,
                "reply.failed",
                item,
                clock=clock,
                detail={
                    "outbox_id": item.id,
                    "reason": reason,
                    "permanent": failure.permanent,
                    "attempts": item.attempts,
                },
            )
        uow.commit()
    if retry_at is None:
        log.error("reply delivery failed for good: %s", reason, extra=extra)
        return _Result.FAILED
    log.warning("reply delivery failed, retrying at %s: %s", retry_at, reason, extra=extra)
    return _Result.RETRYING


def _audit(
    uow: UnitOfWork, action: str, item: OutboxItem, *, clock: Clock, detail: dict[str, object]
) -> None:
    uow.audit.add(
        AuditEvent(
            actor=ACTOR,
            action=action,
            at=clock.now(),
            ticket_id=item.ticket_id,
            detail=json.dumps(detail),
        )
    )
