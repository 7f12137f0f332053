"""Alembic environment: runs our migrations on the connection `core.storage.migrate` hands in.

`render_as_batch=True` because SQLite can barely ALTER a table: batch mode rebuilds it
instead (https://alembic.sqlalchemy.org/en/latest/batch.html). Autogenerate renders our
`UtcDateTime` as a plain `sa.DateTime(timezone=True)`, so revisions never import app code
that may change after they are written.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from core.storage.engine import make_engine
from core.storage.tables import UtcDateTime, is_search_object, metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # Full-text search objects are per backend and kept out of the metadata on purpose.
    return not is_search_object(name)


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        include_name=_include_name,
        **kwargs,
    )


def _run(connection: Connection) -> None:
    # Both backends roll back DDL with the transaction; Alembic assumes SQLite cannot, but
    # with pysqlite's implicit BEGIN/COMMIT disabled (engine.py) it does.
    _configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    _configure(url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no connection and no sqlalchemy.url; use core.storage.migrate")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
