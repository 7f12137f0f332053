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
