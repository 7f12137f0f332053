"""Quarantine: raw bytes kept, newest unprocessed item per source, status changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from core.errors import NotFound
from core.model import Channel, QuarantineStatus
from core.ports import UnitOfWork
from tests.integration.storage import records
from tests.integration.storage.records import at, id_of


def test_add_and_get_keep_the_raw_bytes(uow_factory: Callable[[], UnitOfWork]) -> None:
    item = records.quarantine_item(
        channel=Channel.SLACK, source_id="sha256:abc", raw=bytes(range(256))
    )
    with uow_factory() as uow:
        stored = uow.quarantine.add(item)
        uow.commit()
    assert stored == replace(item, id=stored.id)
    with uow_factory() as uow:
        assert uow.quarantine.get(id_of(stored)) == stored
        assert uow.quarantine.get(999999) is None


def test_get_by_source_id_is_the_newest_not_yet_reprocessed(
    uow_factory: Callable[[], UnitOfWork],
) -> None:
    with uow_factory() as uow:
        old = uow.quarantine.add(records.quarantine_item(source_id="<m@x>", received_at=at(1)))
        new = uow.quarantine.add(records.quarantine_item(source_id="<m@x>", received_at=at(2)))
        ignored = uow.quarantine.add(
            records.quarantine_item(
                source_id="<auto@x>", status=QuarantineStatus.IGNORED, received_at=at(3)
            )
        )
        uow.quarantine.add(records.quarantine_item(source_id="<other@x>", received_at=at(4)))
        uow.commit()
        assert uow.quarantine.get_by_source_id("<m@x>") == new
        assert uow.quarantine.get_by_source_id("<auto@x>") == ignored
        assert uow.quarantine.get_by_source_id("<unknown@x>") is None

        uow.quarantine.set_status(id_of(new), QuarantineStatus.REPROCESSED)
        uow.commit()
        assert uow.quarantine.get_by_source_id("<m@x>") == old
        uow.quarantine.set_status(id_of(old), QuarantineStatus.REPROCESSED)
        assert uow.quarantine.get_by_source_id("<m@x>") is None


def test_list_is_newest_first_with_status_filter(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow:
        first = uow.quarantine.add(records.quarantine_item(received_at=at(1)))
        second = uow.quarantine.add(records.quarantine_item(received_at=at(2)))
        third = uow.quarantine.add(records.quarantine_item(received_at=at(3)))
        uow.quarantine.set_status(id_of(second), QuarantineStatus.REPROCESSED)
        uow.commit()
        reprocessed = replace(second, status=QuarantineStatus.REPROCESSED)
        assert uow.quarantine.list() == [third, reprocessed, first]
        assert uow.quarantine.list(status=QuarantineStatus.HELD) == [third, first]
        assert uow.quarantine.list(status=QuarantineStatus.REPROCESSED) == [reprocessed]
        assert uow.quarantine.list(status=QuarantineStatus.IGNORED) == []


def test_set_status_of_a_missing_item_raises(uow_factory: Callable[[], UnitOfWork]) -> None:
    with uow_factory() as uow, pytest.raises(NotFound):
        uow.quarantine.set_status(999999, QuarantineStatus.REPROCESSED)
