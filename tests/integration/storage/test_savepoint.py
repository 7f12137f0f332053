"""Savepoints: several messages in one transaction, each of which may fail on its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.exc import IntegrityError

from core.ports import UnitOfWork
from tests.integration.storage import records


def test_a_failure_inside_a_savepoint_undoes_only_that_part(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        with uow.savepoint():  # the first statement: it begins the outer transaction too
            uow.customers.add(records.customer(email="first@example.test"))
        # A unique violation, as a lost race would cause: PostgreSQL aborts the transaction
        # unless the savepoint is rolled back to.
        with pytest.raises(IntegrityError), uow.savepoint():
            uow.customers.add(records.customer(email="second@example.test"))
            uow.customers.add(records.customer(email="first@example.test"))
        with uow.savepoint():
            uow.customers.add(records.customer(email="third@example.test"))
        uow.commit()
    with uow_factory() as other:
        assert other.customers.get_by_email("first@example.test") is not None
        assert other.customers.get_by_email("second@example.test") is None
        assert other.customers.get_by_email("third@example.test") is not None


def test_a_released_savepoint_is_still_undone_without_the_outer_commit(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow, uow.savepoint():
        uow.customers.add(records.customer(email="never@example.test"))
    with uow_factory() as other:
        assert other.customers.get_by_email("never@example.test") is None


def test_savepoints_nest_and_an_inner_failure_keeps_the_outer_work(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        with uow.savepoint():
            uow.customers.add(records.customer(email="message@example.test"))
            with pytest.raises(RuntimeError, match="draft failed"), uow.savepoint():
                uow.customers.add(records.customer(email="draft@example.test"))
                raise RuntimeError("draft failed")
            with uow.savepoint():
                uow.customers.add(records.customer(email="after@example.test"))
        uow.commit()
    with uow_factory() as other:
        assert other.customers.get_by_email("message@example.test") is not None
        assert other.customers.get_by_email("draft@example.test") is None
        assert other.customers.get_by_email("after@example.test") is not None
