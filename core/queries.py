"""Read-side helpers shared by the CLI, Slack and the web: whole conversations by ref."""

from __future__ import annotations

from core.errors import NotFound
from core.model import Conversation
from core.ports import UnitOfWork


def load_conversation(uow: UnitOfWork, ref: str) -> Conversation:
    ticket = uow.tickets.get_by_ref(ref.strip().lstrip("#").upper())
    if ticket is None or ticket.id is None:
        raise NotFound(f"no ticket {ref}")
    customer = uow.customers.get(ticket.customer_id)
    if customer is None:
        raise NotFound(f"ticket {ref} has no customer")
    return Conversation(
        ticket=ticket,
        customer=customer,
        messages=tuple(uow.messages.list_for_ticket(ticket.id)),
        drafts=tuple(uow.drafts.list_for_ticket(ticket.id)),
    )
