"""Storage test fixtures: a stored customer and ticket to hang other rows on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.model import Ticket
from core.ports import UnitOfWork
from tests.integration.storage import records


@pytest.fixture
def stored_ticket(uow_factory: Callable[[], UnitOfWork]) -> Ticket:
    """A committed ticket (and its customer)."""
    with uow_factory() as uow:
        customer = uow.customers.add(records.customer())
        assert customer.id is not None
        ticket = uow.tickets.add(records.ticket(customer.id))
        uow.commit()
    return ticket
