"""Indexes for the scheduler's hot lookups.

`scheduled_actions.ticket_id`: every change to a ticket cancels or moves its SLA rows, which
scanned the whole table. `audit_events (action, at)`: exactly-once handlers look up their
side-effect records (`digest.sent`, `sla.breach`) by action. Plain `create_index`, no batch
rebuild on SQLite. Downgrade drops both.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_scheduled_actions_ticket_id"), "scheduled_actions", ["ticket_id"], unique=False
    )
    op.create_index(
        op.f("ix_audit_events_action_at"), "audit_events", ["action", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_events_action_at"), table_name="audit_events")
    op.drop_index(op.f("ix_scheduled_actions_ticket_id"), table_name="scheduled_actions")
