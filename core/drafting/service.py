"""Creating a new draft version for a ticket: read, draft outside the transaction, write.

The provider runs between two short transactions so a slow model never holds a database
lock, and a newer version supersedes any older one nobody has decided on yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.drafting.request import DraftProvider, DraftRequest
from core.errors import NotFound
from core.model import AuditEvent, Direction, Draft, DraftStatus
from core.ports import Clock, UnitOfWork


@dataclass(frozen=True)
class Voice:
    """How replies sound and are signed: configuration, shown to the drafter."""

    brand: str = "Support"
    signature: str = "The Support Team"


def create_draft(
    uow: UnitOfWork, ticket_id: int, *, provider: DraftProvider, clock: Clock, voice: Voice
) -> Draft:
    with uow:
        ticket = uow.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound(f"no ticket with id {ticket_id}")
        customer = uow.customers.get(ticket.customer_id)
        if customer is None:
            raise NotFound(f"ticket {ticket.ref} has no customer")
        messages = tuple(
            m for m in uow.messages.list_for_ticket(ticket_id) if m.direction is not Direction.NOTE
        )
    request = DraftRequest(
        ticket=ticket,
        customer=customer,
        messages=messages,
        brand=voice.brand,
        signature=voice.signature,
    )
    result = provider.draft(request)
    with uow:
        previous = uow.drafts.latest_for_ticket(ticket_id)
        if previous is not None and previous.id is not None:
            uow.drafts.transition(
                previous.id,
                version=previous.version,
                from_statuses=[DraftStatus.PENDING],
                to_status=DraftStatus.SUPERSEDED,
            )
        draft = uow.drafts.add(
            Draft(
                ticket_id=ticket_id,
                version=(previous.version + 1) if previous else 1,
                text=result.text,
                created_at=clock.now(),
                provider=result.provider,
                model=result.model,
                prompt_version=result.prompt_version,
                fallback_reason=result.fallback_reason,
            )
        )
        uow.audit.add(
            AuditEvent(
                actor="supportbot",
                action="draft.created",
                at=clock.now(),
                ticket_id=ticket_id,
                detail=json.dumps({"draft_id": draft.id, "version": draft.version}),
            )
        )
        uow.commit()
    return draft
