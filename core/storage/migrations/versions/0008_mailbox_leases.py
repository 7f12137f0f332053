"""Mailbox leases: one instance reads a mailbox at a time.

`mailboxes` gains `lease_owner` and `lease_until` (both nullable: no lease yet, or released).
An instance takes or renews the lease with one conditional upsert before it reads; one that
dies stops renewing, and another takes over once `lease_until` has passed. Existing rows
keep their cursor and health and start without a lease. Batch mode, so SQLite rebuilds the
table. Downgrade drops both columns (a running lease is forgotten).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
