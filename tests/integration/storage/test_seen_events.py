"""Seen events: the first delivery of an event id is new, every later one (a Slack retry, a
Socket Mode redelivery, another instance) is not, also when two connections race."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, select

from core.ports import UnitOfWork
from core.storage.tables import seen_events
from tests.integration.storage.records import T0, at


def test_forgetting_drops_only_ids_seen_before_the_cutoff(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        for minute, event_id in enumerate(("Ev01", "Ev02", "Ev03")):
            uow.events.first_time("slack", event_id, at=at(minute))
        uow.commit()
    with uow_factory() as uow:
        assert uow.events.forget_before(at(2)) == 2
        uow.commit()
    with uow_factory() as uow:
        assert uow.events.first_time("slack", "Ev01", at=at(3))  # forgotten: new again
        assert not uow.events.first_time("slack", "Ev03", at=at(3))


def test_only_the_first_time_is_the_first(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        assert uow.events.first_time("slack", "Ev01", at=at(0))
        assert not uow.events.first_time("slack", "Ev01", at=at(1))  # same transaction
        uow.commit()
    with uow_factory() as uow:
        assert not uow.events.first_time("slack", "Ev01", at=at(2))
        # Ids are per source.
        assert uow.events.first_time("slack", "Ev02", at=at(2))
        assert uow.events.first_time("email", "Ev01", at=at(2))
        uow.commit()


def test_the_first_sighting_is_kept(uow_factory: Callable[[], UnitOfWork], engine: Engine) -> None:
    with uow_factory() as uow:
        uow.events.first_time("slack", "Ev01", at=T0)
        uow.events.first_time("slack", "Ev01", at=at(5))
        uow.commit()
    with engine.connect() as connection:
        rows = connection.execute(select(seen_events)).all()
    assert [tuple(row) for row in rows] == [("slack", "Ev01", T0)]


def test_a_rolled_back_sighting_does_not_count(uow_factory: Callable[[], UnitOfWork]) -> None:
    """An instance that fails while handling the event rolls back, so a retry handles it."""
    with uow_factory() as uow:
        assert uow.events.first_time("slack", "Ev01", at=at(0))
        uow.rollback()
        assert uow.events.first_time("slack", "Ev01", at=at(1))
        uow.commit()


def test_racing_connections_see_each_event_first_once(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    """Two units of work (two connections) take each event at the same moment; the loser's
    INSERT waits for the winner's transaction and then inserts nothing."""
    rounds = 20
    start = threading.Barrier(2)

    def deliver(instance: str) -> list[str]:
        firsts: list[str] = []
        with uow_factory() as uow:
            for n in range(rounds):
                start.wait(timeout=10)
                if uow.events.first_time("slack", f"Ev{n:03}", at=at(n)):
                    firsts.append(f"Ev{n:03}")
                uow.commit()
        return firsts

    with ThreadPoolExecutor(max_workers=2) as pool:
        per_instance = list(pool.map(deliver, ["i1", "i2"]))

    counts = Counter(event_id for firsts in per_instance for event_id in firsts)
    assert counts == Counter({f"Ev{n:03}": 1 for n in range(rounds)})
    with uow_factory() as uow:
        assert not any(
            uow.events.first_time("slack", f"Ev{n:03}", at=at(99)) for n in range(rounds)
        )
