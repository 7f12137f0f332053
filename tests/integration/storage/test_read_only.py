"""Reading for a draft: read-only units of work take no SQLite write lock, and messages can
be loaded as text only (no raw bytes, no attachment contents)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from core.model import Attachment
from core.storage import make_engine, unit_of_work_factory, upgrade
from core.storage.uow import read_only_uow_factory
from tests.integration.storage import records


def _engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    return make_engine(url)


def test_a_read_only_unit_of_work_reads_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        new_uow, new_reader = unit_of_work_factory(engine), read_only_uow_factory(engine)
        with new_uow() as uow:
            customer = uow.customers.add(records.customer())
            ticket = uow.tickets.add(records.ticket(records.id_of(customer)))
            uow.commit()
        with new_uow() as writer:
            writer.tickets.get(records.id_of(ticket))  # BEGIN IMMEDIATE: the lock is held
            with new_reader() as reader:  # would wait 5 s (busy_timeout) for a writer's lock
                found = reader.tickets.get(records.id_of(ticket))
            assert found is not None and found.id == ticket.id
    finally:
        engine.dispose()


def test_messages_without_content_leave_raw_bytes_and_attachments_out(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        new_uow = unit_of_work_factory(engine)
        with new_uow() as uow:
            customer = uow.customers.add(records.customer())
            ticket = uow.tickets.add(records.ticket(records.id_of(customer)))
            pdf = Attachment("invoice.pdf", "application/pdf", 4, content=b"%PDF")
            uow.messages.add(
                records.message(
                    records.id_of(ticket), "<m1@x>", raw=b"raw bytes", attachments=(pdf,)
                )
            )
            uow.commit()
        with new_uow() as uow:
            [full] = uow.messages.list_for_ticket(records.id_of(ticket))
            [light] = uow.messages.list_for_ticket(records.id_of(ticket), with_content=False)
        assert full.raw == b"raw bytes" and full.attachments[0].content == b"%PDF"
        assert light.raw is None and light.text == full.text
        assert light.attachments == (Attachment("invoice.pdf", "application/pdf", 4),)
    finally:
        engine.dispose()
