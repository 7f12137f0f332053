"""Migrations: an empty database reaches head, matches the metadata, and upgrades are safe
to repeat and to run from several processes at once; a database holding rows at an older
revision keeps them through an upgrade and a downgrade."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from core.model import (
    Channel,
    Direction,
    Draft,
    MailboxState,
    Message,
    OutboxItem,
    OutboxStatus,
    PostKind,
)
from core.storage import (
    current_revision,
    head_revision,
    make_engine,
    unit_of_work_factory,
    upgrade,
)
from core.storage.migrate import alembic_config
from core.storage.tables import (
    customers,
    drafts,
    is_search_object,
    messages,
    metadata,
    outbox,
    tickets,
)
from tests.integration.storage import records
from tests.integration.storage.records import T0, at, id_of

ROOT = Path(__file__).resolve().parents[3]


# SQLAlchemy cannot reflect an index on an expression from SQLite, so there Alembic compares
# everything else and warns; `_schema_differences` checks such indexes by name instead.
_EXPRESSION_INDEXES = {"ix_outbox_lower_recipient_created_at"}


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not is_search_object(name)


def _schema_differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            opts = {"compare_type": True, "include_name": _include_name}
            context = MigrationContext.configure(connection, opts=opts)
            if connection.dialect.name != "sqlite":
                return list(compare_metadata(context, metadata))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expr")
                differences: list[object] = list(compare_metadata(context, metadata))
            present = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index'")
            ).scalars()
            missing = _EXPRESSION_INDEXES - set(present)
            return differences + [("missing_expression_index", name) for name in sorted(missing)]
    finally:
        engine.dispose()


def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_head_is_the_scale_index_revision() -> None:
    assert head_revision() == "0009"


def test_upgrade_brings_an_empty_database_to_head_matching_the_metadata(
    empty_database_url: str,
) -> None:
    assert current_revision(empty_database_url) is None

    upgrade(empty_database_url)

    assert current_revision(empty_database_url) == head_revision()
    assert _schema_differences(empty_database_url) == []


def test_postgresql_gets_a_trigram_index_for_the_subject_search(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        indexes = {index["name"] for index in inspect(engine).get_indexes("tickets")}
        is_postgresql = engine.dialect.name == "postgresql"
    finally:
        engine.dispose()
    assert ("ix_tickets_subject_trgm" in indexes) is is_postgresql


def test_upgrade_is_idempotent(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()


def test_downgrade_to_base_and_up_again(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    command.downgrade(alembic_config(empty_database_url), "base")
    assert _table_names(empty_database_url) <= {"alembic_version"}
    assert current_revision(empty_database_url) is None

    upgrade(empty_database_url)
    assert _table_names(empty_database_url) >= {table.name for table in metadata.sorted_tables}


# An outbox row as revision 0001 stored it: none of the columns 0002 adds.
_ROW_AT_0001 = {
    "id": 1,
    "ticket_id": 7,
    "draft_id": 3,
    "channel": "email",
    "recipient": "ada@example.test",
    "subject": "Re: Invoice is wrong",
    "body": "Fixed.",
    "message_id": "<T7.d3@support.example.test>",
    "in_reply_to": "<c2@example.test>",
    "references": "<c1@example.test> <c2@example.test>",
    "status": "pending",
    "attempts": 0,
    "created_at": T0,
}
_ITEM = OutboxItem(
    ticket_id=7,
    draft_id=3,
    channel=Channel.EMAIL,
    recipient="ada@example.test",
    subject="Re: Invoice is wrong",
    body="Fixed.",
    message_id="<T7.d3@support.example.test>",
    created_at=T0,
    in_reply_to="<c2@example.test>",
    references=("<c1@example.test>", "<c2@example.test>"),
    status=OutboxStatus.PENDING,
    id=1,
)


def _insert_outbox_row_at_0001(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            # Core renders only the columns given, so today's table writes yesterday's row.
            connection.execute(outbox.insert().values(**_ROW_AT_0001))
    finally:
        engine.dispose()


def _outbox_item(url: str) -> OutboxItem | None:
    engine = make_engine(url)
    try:
        with unit_of_work_factory(engine)() as uow:
            return uow.outbox.get(1)
    finally:
        engine.dispose()


def _columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_outbox_rows(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0001")
    _insert_outbox_row_at_0001(empty_database_url)

    upgrade(empty_database_url)

    assert current_revision(empty_database_url) == head_revision()
    assert _schema_differences(empty_database_url) == []
    # The new columns are NULL: due now, not leased.
    assert _outbox_item(empty_database_url) == _ITEM
    engine = make_engine(empty_database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            (claimed,) = uow.outbox.claim_due(now=at(1), owner="s1", lease_seconds=60, limit=5)
            uow.commit()
    finally:
        engine.dispose()
    assert (claimed.id, claimed.attempts, claimed.lease_owner) == (1, 1, "s1")


def test_downgrade_to_0001_keeps_outbox_rows(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0001")
    _insert_outbox_row_at_0001(empty_database_url)
    upgrade(empty_database_url)

    command.downgrade(alembic_config(empty_database_url), "0001")

    assert current_revision(empty_database_url) == "0001"
    assert "mailboxes" not in _table_names(empty_database_url)
    assert _columns(empty_database_url, "outbox") == set(_ROW_AT_0001) | {"sent_at", "last_error"}
    upgrade(empty_database_url)
    assert _outbox_item(empty_database_url) == _ITEM
    assert _schema_differences(empty_database_url) == []


def test_instances_starting_together_migrate_once(empty_database_url: str) -> None:
    """Two processes (Alembic's context is process-global, so not threads) upgrade the same
    empty database at the same moment; the lock makes the second find it at head."""
    script = "import sys; from core.storage import upgrade; upgrade(sys.argv[1])"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, empty_database_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outcomes = [(*process.communicate(timeout=60), process.returncode) for process in processes]
    assert [code for _, _, code in outcomes] == [0, 0, 0], outcomes
    assert current_revision(empty_database_url) == head_revision()
    assert _schema_differences(empty_database_url) == []


# Rows as revision 0002 stored them: no message recipients, no automatic outbox flag.
_CUSTOMER_AT_0002 = {"id": 1, "email": "ada@example.test", "name": "Ada", "tier": "free"}
_TICKET_AT_0002: dict[str, Any] = {
    "id": 7,
    "ref": "T7",
    "subject": "Invoice is wrong",
    "customer_id": 1,
    "channel": "email",
    "status": "open",
    "category": "billing",
    "category_confidence": 0.9,
    "priority": "P2",
    "priority_score": 0.5,
    "sentiment": 3,
    "sentiment_score": 0.0,
    "language": "en",
    "created_at": T0,
    "updated_at": T0,
}
_MESSAGE_AT_0002: dict[str, Any] = {
    "id": 5,
    "ticket_id": 7,
    "direction": "inbound",
    "channel": "email",
    "external_id": "<c2@example.test>",
    "author": "ada@example.test",
    "subject": "Invoice is wrong",
    "text": "Hello",
    "attachments": [],
    "created_at": T0,
}
_MESSAGE = Message(
    ticket_id=7,
    direction=Direction.INBOUND,
    channel=Channel.EMAIL,
    external_id="<c2@example.test>",
    author="ada@example.test",
    text="Hello",
    created_at=T0,
    subject="Invoice is wrong",
    id=5,
)
_LEASED = {"next_attempt_at": at(5), "lease_owner": "s1", "lease_until": at(6)}


def _insert_rows_at_0002(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(customers.insert().values(bounced=False, **_CUSTOMER_AT_0002))
            connection.execute(tickets.insert().values(**_TICKET_AT_0002))
            connection.execute(messages.insert().values(**_MESSAGE_AT_0002))
            # No explicit id: on PostgreSQL that would leave the sequence behind for later adds.
            row = {name: value for name, value in _ROW_AT_0001.items() if name != "id"}
            connection.execute(outbox.insert().values(**row, **_LEASED))
    finally:
        engine.dispose()


def _message(url: str) -> Message | None:
    engine = make_engine(url)
    try:
        with unit_of_work_factory(engine)() as uow:
            return uow.messages.get_by_external_id(Channel.EMAIL, "<c2@example.test>")
    finally:
        engine.dispose()


def test_upgrade_from_0002_keeps_message_and_outbox_rows(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0002")
    _insert_rows_at_0002(empty_database_url)

    upgrade(empty_database_url)

    assert current_revision(empty_database_url) == head_revision()
    assert _schema_differences(empty_database_url) == []
    # Backfilled by the server defaults: no recipients, not automatic; the lease survives.
    assert _message(empty_database_url) == _MESSAGE
    assert _outbox_item(empty_database_url) == OutboxItem(**{**vars(_ITEM), **_LEASED})
    engine = make_engine(empty_database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            assert uow.outbox.count_automatic_since("ada@example.test", T0) == 0
            ack = uow.outbox.add(
                records.outbox_item(7, None, "<T7.ack@x>", automatic=True, created_at=at(1))
            )
            uow.commit()
            assert uow.outbox.get(id_of(ack)) == ack
            assert uow.outbox.count_automatic_since("ADA@example.test", T0) == 1
    finally:
        engine.dispose()


def _outbox_ids(url: str) -> list[int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT id FROM outbox ORDER BY id")).scalars())
    finally:
        engine.dispose()


def test_downgrade_to_0002_deletes_the_automatic_outbox_rows_it_cannot_hold(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url, "0002")
    _insert_rows_at_0002(empty_database_url)
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            uow.outbox.add(records.outbox_item(7, None, "<ack@x>", automatic=True))
            uow.outbox.add(records.outbox_item(7, 3, "<auto-drafted@x>", automatic=True))
            kept = uow.outbox.add(records.outbox_item(7, 4, "<reply@x>"))
            uow.messages.add(records.message(7, "<c3@example.test>", recipients=("bo@x",)))
            uow.commit()
    finally:
        engine.dispose()

    command.downgrade(alembic_config(empty_database_url), "0002")

    assert current_revision(empty_database_url) == "0002"
    assert "automatic" not in _columns(empty_database_url, "outbox")
    assert "recipients" not in _columns(empty_database_url, "messages")
    assert _outbox_ids(empty_database_url) == [1, id_of(kept)]
    upgrade(empty_database_url)
    assert _schema_differences(empty_database_url) == []
    assert _message(empty_database_url) == _MESSAGE
    assert _outbox_item(empty_database_url) == OutboxItem(**{**vars(_ITEM), **_LEASED})


# A draft as revision 0003 stored it, for a DRAFT post to point at.
_DRAFT_AT_0003: dict[str, Any] = {
    "id": 3,
    "ticket_id": 7,
    "version": 1,
    "status": "pending",
    "text": "Fixed.",
    "provider": "template",
    "model": "none",
    "prompt_version": "v1",
    "created_at": T0,
}
_DRAFT = Draft(
    ticket_id=7,
    version=1,
    text="Fixed.",
    created_at=T0,
    provider="template",
    model="none",
    prompt_version="v1",
    id=3,
)


def _insert_rows_at_0003(url: str) -> None:
    """0003 holds the rows 0002 did (its new columns take their server defaults) and a draft."""
    _insert_rows_at_0002(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(drafts.insert().values(**_DRAFT_AT_0003))
    finally:
        engine.dispose()


def _assert_rows_at_0003_kept(url: str) -> None:
    assert _message(url) == _MESSAGE
    assert _outbox_item(url) == OutboxItem(**{**vars(_ITEM), **_LEASED})
    engine = make_engine(url)
    try:
        with unit_of_work_factory(engine)() as uow:
            assert uow.drafts.get(3) == _DRAFT
            ticket = uow.tickets.get(7)
            assert ticket is not None and ticket.ref == "T7"
    finally:
        engine.dispose()


def test_upgrade_from_0003_keeps_rows_and_posts_refer_to_them(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0003")
    _insert_rows_at_0003(empty_database_url)

    upgrade(empty_database_url)

    assert current_revision(empty_database_url) == head_revision()
    assert _schema_differences(empty_database_url) == []
    _assert_rows_at_0003_kept(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            assert uow.posts.list_for_ticket(7) == []
            card = uow.posts.add(records.post(7, "1700000000.000100"))
            shown = uow.posts.add(
                records.post(7, "1700000000.000200", kind=PostKind.CUSTOMER, message_id=5)
            )
            drafted = uow.posts.add(
                records.post(7, "1700000000.000300", kind=PostKind.DRAFT, draft_id=3)
            )
            assert uow.events.first_time("slack", "Ev01", at=T0)
            uow.commit()
            assert uow.posts.list_for_ticket(7) == [card, shown, drafted]
            assert uow.posts.find("C0SUPPORT", "1700000000.000300") == drafted
            assert not uow.events.first_time("slack", "Ev01", at=at(1))
    finally:
        engine.dispose()


def test_downgrade_to_0003_drops_posts_and_events_and_keeps_the_rest(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url, "0003")
    _insert_rows_at_0003(empty_database_url)
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            uow.posts.add(records.post(7, "1700000000.000100", kind=PostKind.DRAFT, draft_id=3))
            uow.events.first_time("slack", "Ev01", at=T0)
            uow.commit()
    finally:
        engine.dispose()

    command.downgrade(alembic_config(empty_database_url), "0003")

    assert current_revision(empty_database_url) == "0003"
    assert not {"channel_posts", "seen_events", "kb_articles"} & _table_names(empty_database_url)
    # Today's repositories read today's columns (0005 added some to drafts), so the rows are
    # checked once the database is back at head.
    upgrade(empty_database_url)
    assert _schema_differences(empty_database_url) == []
    _assert_rows_at_0003_kept(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            assert uow.posts.list_for_ticket(7) == []
            # The dropped sightings are gone with their table.
            assert uow.events.first_time("slack", "Ev01", at=at(1))
    finally:
        engine.dispose()


def test_upgrade_to_0008_keeps_mailbox_rows_and_downgrade_drops_only_the_lease(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url, "0007")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO mailboxes (name, uidvalidity, last_uid, auth_failures)"
                    " VALUES ('support', 4294967295, 41, 2)"
                )
            )
    finally:
        engine.dispose()
    kept = MailboxState(name="support", uidvalidity=2**32 - 1, last_uid=41, auth_failures=2)

    upgrade(empty_database_url)
    assert _schema_differences(empty_database_url) == []
    engine = make_engine(empty_database_url)
    try:
        with unit_of_work_factory(engine)() as uow:
            assert uow.mailboxes.get("support") == kept
            assert uow.mailboxes.lease_holder("support", now=T0) is None  # no lease yet
            assert uow.mailboxes.try_lease("support", owner="a", now=T0, seconds=60)
            uow.commit()
    finally:
        engine.dispose()

    command.downgrade(alembic_config(empty_database_url), "0007")
    engine = make_engine(empty_database_url)
    try:
        columns = {column["name"] for column in inspect(engine).get_columns("mailboxes")}
        with engine.connect() as connection:
            row = connection.execute(text("SELECT name, last_uid FROM mailboxes")).one()
    finally:
        engine.dispose()
    assert not {"lease_owner", "lease_until"} & columns
    assert tuple(row) == ("support", 41)
