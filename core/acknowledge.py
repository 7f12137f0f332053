"""The optional acknowledgement email: "we got your message, it is ticket T42".

It is the one customer-facing message that needs no approval (DESIGN §3.3), so it is off by
default, always marked `Auto-Submitted: auto-replied`, never sent to automatic or bounced
senders, and capped per recipient so two auto-responders cannot mail each other forever
(RFC 3834 §2 asks for no more than one automatic reply per sender within several days).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from core.approval import Identity, queue_reply
from core.model import AuditEvent, Channel, OutboxItem
from core.ports import Clock, Renderer, UnitOfWork
from core.threading import make_message_id

TEMPLATE = "replies/acknowledgement.txt.j2"


@dataclass(frozen=True)
class AckPolicy:
    """enabled: send acknowledgements at all (off by default: every other reply is approved).
    max_per_recipient: automatic messages one address may get within `window_hours`.
    window_hours: the cap's window.
    """

    enabled: bool = False
    max_per_recipient: int = 1
    window_hours: float = 24.0


def acknowledge(
    uow: UnitOfWork,
    ticket_id: int,
    *,
    policy: AckPolicy,
    renderer: Renderer,
    clock: Clock,
    identity: Identity,
    brand: str,
) -> OutboxItem | None:
    """Queue the acknowledgement for a new email ticket, unless policy or the cap forbid it."""
    if not policy.enabled:
        return None
    now = clock.now()
    with uow:
        ticket = uow.tickets.get(ticket_id)
        if ticket is None or ticket.channel is not Channel.EMAIL:
            return None
        customer = uow.customers.get(ticket.customer_id)
        if customer is None or customer.bounced:
            return None
        message_id = make_message_id(
            ref=ticket.ref,
            draft_id=0,
            version=0,
            secret=identity.thread_secret,
            domain=identity.domain,
        )
        if uow.messages.get_by_external_id(ticket.channel, message_id) is not None:
            return None  # already acknowledged (a retried message, say)
        since = now - timedelta(hours=policy.window_hours)
        if uow.outbox.count_automatic_since(customer.email, since) >= policy.max_per_recipient:
            _audit(uow, "ack.capped", ticket_id, clock, {"recipient_id": customer.id})
            uow.commit()
            return None
        text = renderer.render(
            [f"replies/{ticket.language}/acknowledgement.txt.j2", TEMPLATE],
            {"ticket": ticket, "brand": brand},
        )
        item = queue_reply(
            uow, ticket, text, draft=None, identity=identity, now=now, author="supportbot"
        )
        _audit(uow, "ack.queued", ticket_id, clock, {"outbox_id": item.id})
        uow.commit()
        return item


def _audit(
    uow: UnitOfWork, action: str, ticket_id: int, clock: Clock, detail: dict[str, object]
) -> None:
    uow.audit.add(
        AuditEvent(
            actor="supportbot",
            action=action,
            at=clock.now(),
            ticket_id=ticket_id,
            detail=json.dumps(detail),
        )
    )
