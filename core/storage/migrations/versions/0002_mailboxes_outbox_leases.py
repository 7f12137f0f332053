"""Outbox leases and backoff; mailbox cursors.

`outbox` gains `next_attempt_at`, `lease_owner` and `lease_until`, all nullable, so existing
rows need no backfill: NULL means due now and not leased. The composite index
(status, next_attempt_at) serves `claim_due` and replaces the index on `status` alone, which
is its prefix. `mailboxes` is new: one row per mailbox, with its IMAP cursor and health; UIDs
and UIDVALIDITY are unsigned 32-bit, hence BIGINT.

Batch mode: on SQLite, adding nullable columns and indexes runs as plain ALTER TABLE / CREATE
INDEX; dropping columns on downgrade rebuilds the table by copy (nothing references `outbox`
by foreign key, so the rebuild is safe).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", TIMESTAMP, nullable=True))
        batch_op.drop_index(batch_op.f("ix_outbox_status"))
        batch_op.create_index(
            batch_op.f("ix_outbox_status_next_attempt_at"), ["status", "next_attempt_at"]
        )

    op.create_table(
        "mailboxes",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_success_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TIMESTAMP, nullable=True),
        sa.Column("auth_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lag_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mailboxes")),
    )


def downgrade() -> None:
    op.drop_table("mailboxes")

    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_status_next_attempt_at"))
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"])
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("next_attempt_at")
