"""Message recipients; automatic outbox items, which need no draft.

`messages` gains `recipients` (To and Cc as a JSON list in TEXT) and `outbox` gains
`automatic`; both NOT NULL with a server default, so existing rows are backfilled by the
database: no recipients, not automatic. `outbox.draft_id` becomes nullable, because an
automatic acknowledgement is queued without a draft. The index on
(lower(recipient), created_at) serves `Outbox.count_automatic_since`, which compares
addresses case-insensitively.

Batch mode: on SQLite, making `draft_id` nullable rebuilds `outbox` by copy (nothing
references it by foreign key); adding the columns runs as plain ALTER TABLE. The expression
index is created after the rebuild and dropped before the one on downgrade, because batch
mode rebuilds a table from its reflection, and SQLite's reflection skips expression indexes.

Downgrade deletes the outbox rows that 0002 cannot represent: those without a draft (its
`draft_id` is NOT NULL) and automatic ones (its sender would mail them as ordinary replies,
without `Auto-Submitted`). Both are acknowledgements, which nobody approved and nobody
needs: a pending one is then never sent, and a sent one loses only its outbox row, as the
conversation keeps its text as an outbound message and the audit log its `ack.queued`.
Message recipients are dropped with their column.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECIPIENT_INDEX = "ix_outbox_lower_recipient_created_at"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("recipients", sa.Text(), server_default="[]", nullable=False))

    with op.batch_alter_table("outbox") as batch_op:
        batch_op.alter_column("draft_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(
            sa.Column("automatic", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(RECIPIENT_INDEX, "outbox", [sa.text("lower(recipient)"), "created_at"])


def downgrade() -> None:
    op.drop_index(RECIPIENT_INDEX, table_name="outbox")
    outbox = sa.table(
        "outbox", sa.column("draft_id", sa.Integer()), sa.column("automatic", sa.Boolean())
    )
    op.execute(
        outbox.delete().where(outbox.c.draft_id.is_(None) | (outbox.c.automatic == sa.true()))
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("automatic")
        batch_op.alter_column("draft_id", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("recipients")
