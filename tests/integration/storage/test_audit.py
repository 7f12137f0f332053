"""Audit events: kept per ticket, oldest first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from core.model import Ticket
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of


def test_add_and_list_for_ticket(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    ticket_id = id_of(stored_ticket)
    with uow_factory() as uow:
        later = records.audit_event(
            ticket_id=ticket_id, actor="U1", action="draft.approved", at=at(5), detail='{"v": 1}'
        )
        stored_later = uow.audit.add(later)
        earlier = uow.audit.add(records.audit_event(ticket_id=ticket_id, at=at(1)))
        uow.audit.add(records.audit_event(action="digest.sent"))  # about no ticket
        uow.commit()
    assert stored_later == replace(later, id=stored_later.id)
    with uow_factory() as uow:
        assert uow.audit.list_for_ticket(ticket_id) == [earlier, stored_later]
        assert uow.audit.list_for_ticket(999999) == []


def test_ticket_ids_with_actions_are_distinct_ascending_and_ignore_other_actions(
    uow_factory: Callable[[], UnitOfWork], stored_ticket: Ticket
) -> None:
    first = id_of(stored_ticket)
    with uow_factory() as uow:
        second = id_of(uow.tickets.add(records.ticket(stored_ticket.customer_id)))
        third = id_of(uow.tickets.add(records.ticket(stored_ticket.customer_id)))
        for ticket_id, action in (
            (second, "ticket.reclassified"),
            (second, "ticket.reclassified"),
            (first, "ticket.priority"),
            (third, "draft.approved"),
        ):
            uow.audit.add(records.audit_event(ticket_id=ticket_id, action=action))
        uow.audit.add(records.audit_event(action="ticket.reclassified"))  # about no ticket
        uow.commit()
    with uow_factory() as uow:
        assert uow.audit.ticket_ids_with(["ticket.reclassified"]) == [second]
        assert uow.audit.ticket_ids_with(["ticket.priority", "ticket.reclassified"]) == [
            first,
            second,
        ]
        assert uow.audit.ticket_ids_with(["nothing"]) == []
