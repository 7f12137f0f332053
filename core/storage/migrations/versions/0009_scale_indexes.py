"""Indexes for a million tickets: the digest's and stats' periods, the listing's sorts and
its subject search (benchmarks/scale.py measured each).

`tickets` gains plain indexes on `resolved_at` and `first_responded_at` (the tickets alive in
a period, those resolved or answered in it, and, through `IS NULL`, the unresolved and
unanswered ones), `updated_at`, `resolution_due`, (`status`, `resolution_due`) and
(`priority`, `id`) (the API's sorts, the queue of a status by urgency, the tiebreak after
priority); `decisions` one on (`at`, `action`) (the digest's decisions in a period, by action,
read from the index alone).

PostgreSQL only: a GIN trigram index on lower(subject) (`ix_tickets_subject_trgm`, pg_trgm),
which serves `LIKE '%word%'`; without it every text search reads the whole table. It needs
the pg_trgm extension: created here when it is available and we may (it is a trusted
extension, so a role with CREATE on the database may; a superuser always), used when it
exists already, and otherwise skipped with a warning: searches then still work, by scanning.
SQLite gets no such index: it has none that serves a substring, and a small store scans
quickly enough.

Plain `create_index` (no batch rebuild on SQLite), each `IF NOT EXISTS`: building them locks
writes to `tickets` for a while on a big table (about a minute in all for a million tickets
on a small machine), so an operator may build them beforehand with `CREATE INDEX
CONCURRENTLY` under the same names and this revision then only records itself. Downgrade
drops the indexes; it leaves the extension, which other things may use.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

TICKET_INDEXES = (
    ["resolved_at"],
    ["first_responded_at"],
    ["updated_at"],
    ["resolution_due"],
    ["status", "resolution_due"],
    ["priority", "id"],
)
TRIGRAMS = "ix_tickets_subject_trgm"

# Installed already, or installable by us: pg_trgm is trusted (PostgreSQL ≥ 13), so CREATE on
# the database is enough; a superuser may create any available extension.
_PG_TRGM = sa.text(
    """
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') AS installed,
        EXISTS (
            SELECT 1 FROM pg_available_extension_versions v
            JOIN pg_available_extensions a ON a.name = v.name AND a.default_version = v.version
            WHERE v.name = 'pg_trgm' AND (
                (v.trusted AND has_database_privilege(current_database(), 'CREATE'))
                OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
        ) AS creatable
    """
)


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for columns in TICKET_INDEXES:
        op.create_index(op.f(_name("tickets", columns)), "tickets", columns, if_not_exists=True)
    op.create_index(
        op.f("ix_decisions_at_action"), "decisions", ["at", "action"], if_not_exists=True
    )

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    installed, creatable = bind.execute(_PG_TRGM).one()
    if not installed and not creatable:
        log.warning(
            "pg_trgm is not available to this role: no trigram index on tickets.subject, so "
            "text searches of the ticket list scan the table; CREATE EXTENSION pg_trgm and "
            "CREATE INDEX %s ON tickets USING gin (lower(subject) gin_trgm_ops) add it",
            TRIGRAMS,
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {TRIGRAMS} ON tickets USING gin (lower(subject) gin_trgm_ops)"
    )
    # The planner estimates how many subjects match from statistics of the indexed
    # expression, which only ANALYZE gathers (a sample: a second or two at a million rows).
    op.execute("ANALYZE tickets")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAMS}")
    op.drop_index(op.f("ix_decisions_at_action"), table_name="decisions")
    for columns in reversed(TICKET_INDEXES):
        op.drop_index(op.f(_name("tickets", columns)), table_name="tickets")
