"""Customers: addresses are unique and looked up case-insensitively."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from core.errors import NotFound
from core.model import Customer, Tier
from core.ports import UnitOfWork
from tests.integration.storage import records


def test_add_stores_the_address_lower_cased(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        added = uow.customers.add(records.customer(email=" Ada@Example.TEST ", tier=Tier.PAID))
        uow.commit()
        assert added == Customer(email="ada@example.test", name="Ada", tier=Tier.PAID, id=added.id)
        assert uow.customers.get(records.id_of(added)) == added


def test_get_by_email_ignores_case(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        added = uow.customers.add(records.customer())
        assert uow.customers.get_by_email("ADA@example.Test") == added
        assert uow.customers.get_by_email("bob@example.test") is None


def test_get_of_an_unknown_id_is_none(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        assert uow.customers.get(12345) is None


def test_an_address_is_stored_once(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.customers.add(records.customer())
        with pytest.raises(IntegrityError):
            uow.customers.add(records.customer(email="ADA@example.test"))


def test_save_updates_every_field(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        added = uow.customers.add(records.customer())
        changed = replace(added, name="Ada L.", tier=Tier.ENTERPRISE, bounced=True)
        uow.customers.save(changed)
        uow.commit()
    with uow_factory() as uow:
        assert uow.customers.get(records.id_of(added)) == changed


def test_save_of_a_missing_customer_raises(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        with pytest.raises(NotFound):
            uow.customers.save(records.customer(id=999))
        with pytest.raises(ValueError, match="without an id"):
            uow.customers.save(records.customer())
