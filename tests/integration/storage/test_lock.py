"""`UnitOfWork.lock`: on PostgreSQL one holder per key across connections (instances) until
its transaction ends; on SQLite nothing, and in particular no write lock, because the
presenter holds it while other units of work of the same process write."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from core.model import Customer
from core.ports import UnitOfWork


def _lock_in_thread(
    new_uow: Callable[[], UnitOfWork], key: str
) -> tuple[threading.Thread, list[float]]:
    taken: list[float] = []

    def take() -> None:
        with new_uow() as uow:
            uow.lock(key)
            taken.append(time.monotonic())

    thread = threading.Thread(target=take)
    thread.start()
    return thread, taken


def test_a_second_holder_waits_for_the_first_to_end_its_transaction(
    engine: Engine, uow_factory: Callable[[], UnitOfWork]
) -> None:
    with uow_factory() as first:
        first.lock("slack-present:7")
        thread, taken = _lock_in_thread(uow_factory, "slack-present:7")
        other, other_taken = _lock_in_thread(uow_factory, "slack-present:8")
        other.join(5)
        assert other_taken, "another key is not held up"
        time.sleep(0.3)
        is_waiting = not taken
        released = time.monotonic()
        first.commit()
    thread.join(5)
    assert taken
    if engine.dialect.name == "postgresql":
        assert is_waiting and taken[0] >= released
    else:
        assert not is_waiting  # SQLite: one instance per database, nothing to wait for


def test_holding_it_keeps_no_other_writer_out(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as guard:
        guard.lock("slack-present:9")
        with uow_factory() as writer:
            writer.customers.add(Customer(email="ann@customer.example"))
            writer.commit()
        guard.commit()
    with uow_factory() as reader:
        assert reader.customers.get_by_email("ann@customer.example") is not None
