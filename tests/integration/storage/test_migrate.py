"""Migrations: an empty database reaches head, matches the metadata, and upgrades are safe
to repeat and to run from several processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from core.storage import current_revision, head_revision, make_engine, upgrade
from core.storage.migrate import alembic_config
from core.storage.tables import metadata

ROOT = Path(__file__).resolve().parents[3]


def _schema_differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_head_is_the_initial_revision() -> None:
    assert head_revision() == "0001"


def test_upgrade_brings_an_empty_database_to_head_matching_the_metadata(
    empty_database_url: str,
) -> None:
    assert current_revision(empty_database_url) is None

    upgrade(empty_database_url)

    assert current_revision(empty_database_url) == head_revision()
    assert _schema_differences(empty_database_url) == []


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
