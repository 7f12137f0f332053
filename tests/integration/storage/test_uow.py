"""The unit of work: one transaction at a time, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from core.ports import UnitOfWork
from core.storage import SqlUnitOfWork
from core.storage.uow import autocommit_uow_factory
from tests.integration.storage import records


def test_committed_work_is_visible_to_other_units(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        added = uow.customers.add(records.customer())
        uow.commit()
    with uow_factory() as other:
        assert other.customers.get(records.id_of(added)) == added


def test_leaving_without_commit_rolls_back(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.customers.add(records.customer())
    with uow_factory() as other:
        assert other.customers.get_by_email("ada@example.test") is None


def test_an_exception_rolls_back_and_propagates(uow_factory: Callable[[], UnitOfWork]) -> None:
    with pytest.raises(RuntimeError, match="boom"), uow_factory() as uow:
        uow.customers.add(records.customer())
        raise RuntimeError("boom")
    with uow_factory() as other:
        assert other.customers.get_by_email("ada@example.test") is None


def test_rollback_discards_and_the_unit_goes_on(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.customers.add(records.customer(email="gone@example.test"))
        uow.rollback()
        uow.customers.add(records.customer(email="kept@example.test"))
        uow.commit()
    with uow_factory() as other:
        assert other.customers.get_by_email("gone@example.test") is None
        assert other.customers.get_by_email("kept@example.test") is not None


def test_after_commit_a_new_transaction_begins(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        uow.customers.add(records.customer(email="first@example.test"))
        uow.commit()
        uow.customers.add(records.customer(email="second@example.test"))  # not committed
    with uow_factory() as other:
        assert other.customers.get_by_email("first@example.test") is not None
        assert other.customers.get_by_email("second@example.test") is None


def test_use_outside_a_with_block_is_an_error(engine: Engine) -> None:
    uow = SqlUnitOfWork(engine)
    with pytest.raises(RuntimeError, match="with"):
        uow.customers.get(1)
    with uow, pytest.raises(RuntimeError, match="already in use"):
        uow.__enter__()


def test_an_autocommit_unit_of_work_lets_each_statement_stand_alone(
    engine: Engine, uow_factory: Callable[[], UnitOfWork]
) -> None:
    """On PostgreSQL a statement needs no commit (and costs no BEGIN/ROLLBACK round trips);
    on SQLite it is an ordinary unit of work, rolled back unless committed."""
    is_postgresql = engine.dialect.name == "postgresql"
    with autocommit_uow_factory(engine)() as uow:
        uow.customers.add(records.customer())
        if is_postgresql:  # (SQLite's other unit would wait for this one's write lock)
            with uow_factory() as other:
                assert other.customers.get_by_email("ada@example.test") is not None
    with uow_factory() as other:
        kept = other.customers.get_by_email("ada@example.test")
    assert (kept is not None) == is_postgresql
