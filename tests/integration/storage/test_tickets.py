"""Tickets: public refs, full round trips, newest-first lists, repeat-contact counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from core.errors import NotFound
from core.model import Channel, Priority, Ticket, TicketStatus
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of


def _customer_id(uow: UnitOfWork, email: str = "ada@example.test") -> int:
    return id_of(uow.customers.add(records.customer(email=email)))


def test_add_assigns_id_and_ref(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        customer_id = _customer_id(uow)
        first = uow.tickets.add(records.ticket(customer_id))
        second = uow.tickets.add(records.ticket(customer_id))
        uow.commit()
    assert first.ref == f"T{first.id}"
    assert second.ref == f"T{second.id}"
    assert first.id != second.id
    with uow_factory() as uow:
        assert uow.tickets.get(id_of(first)) == first
        assert uow.tickets.get_by_ref(second.ref) == second
        assert uow.tickets.get_by_ref("T999999") is None
        assert uow.tickets.get(999999) is None


def test_every_field_survives_a_round_trip(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        full = records.ticket(
            _customer_id(uow),
            channel=Channel.SLACK,
            status=TicketStatus.PENDING,
            category="billing",
            category_confidence=0.875,
            priority=Priority.P0,
            priority_score=17.5,
            sentiment=5,
            sentiment_score=-0.75,
            language="de",
            assignee="U42",
            team="tier-2",
            first_response_due=at(60),
            resolution_due=at(600),
            first_responded_at=at(30),
            resolved_at=at(500),
            sla_paused_at=at(45),
            thread_key="1700000000.000100",
            updated_at=at(1),
        )
        stored = uow.tickets.add(full)
        uow.commit()
    assert stored == replace(full, id=stored.id, ref=stored.ref)
    with uow_factory() as uow:
        assert uow.tickets.get(id_of(stored)) == stored


def test_save_writes_changes_and_keeps_the_ref(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        stored = uow.tickets.add(records.ticket(_customer_id(uow)))
        changed = replace(stored, status=TicketStatus.RESOLVED, resolved_at=at(5), ref="")
        uow.tickets.save(changed)
        uow.commit()
    with uow_factory() as uow:
        assert uow.tickets.get(id_of(stored)) == replace(changed, ref=stored.ref)
        with pytest.raises(NotFound):
            uow.tickets.save(replace(stored, id=999999))


def _add_tickets(uow: UnitOfWork) -> list[Ticket]:
    customer_id = _customer_id(uow)
    statuses = [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.NEW, TicketStatus.RESOLVED]
    return [
        uow.tickets.add(records.ticket(customer_id, status=status, created_at=at(minute)))
        for minute, status in enumerate(statuses)
    ]


def test_list_is_newest_first_with_filter_limit_and_offset(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        t0, t1, t2, t3 = _add_tickets(uow)
        uow.commit()
        assert uow.tickets.list() == [t3, t2, t1, t0]
        assert uow.tickets.list(status=TicketStatus.NEW) == [t2, t0]
        assert uow.tickets.list(status=TicketStatus.CLOSED) == []
        assert uow.tickets.list(limit=2) == [t3, t2]
        assert uow.tickets.list(limit=2, offset=2) == [t1, t0]
        assert uow.tickets.list(status=TicketStatus.NEW, limit=1, offset=1) == [t0]


def test_same_creation_time_lists_the_later_ticket_first(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        customer_id = _customer_id(uow)
        first = uow.tickets.add(records.ticket(customer_id))
        second = uow.tickets.add(records.ticket(customer_id))
        assert uow.tickets.list() == [second, first]


def test_count_for_customer_since(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        ada = _customer_id(uow)
        bob = _customer_id(uow, "bob@example.test")
        for minute in (0, 10, 20):
            uow.tickets.add(records.ticket(ada, created_at=at(minute)))
        uow.tickets.add(records.ticket(bob, created_at=at(15)))
        uow.commit()
        assert uow.tickets.count_for_customer_since(ada, at(0)) == 3
        assert uow.tickets.count_for_customer_since(ada, at(10)) == 2
        assert uow.tickets.count_for_customer_since(ada, at(21)) == 0
        assert uow.tickets.count_for_customer_since(bob, at(-60)) == 1
