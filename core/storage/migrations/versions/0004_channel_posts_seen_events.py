"""Chat posts tied to tickets; delivered event ids seen before.

`channel_posts` is new: one row per message the bot posted in a chat channel (Slack) about a
ticket, named by Slack's (channel, ts), which is unique. `ts` is text ("1700000000.000100"):
as a number it would lose trailing digits. `draft_id` and `message_id` point at what a DRAFT
or CUSTOMER post shows; the index on `ticket_id` serves `Posts.list_for_ticket`.

`seen_events` is new: (source, event_id) as primary key, so `SeenEvents.first_time` is one
`INSERT … ON CONFLICT DO NOTHING` that the database decides between racing instances; the
index on `seen_at` serves pruning old rows.

Both tables are new and nothing refers to them, so no existing table is rebuilt (the outbox's
expression index is untouched) and existing rows need no backfill. Downgrade drops both with
their rows: which Slack message shows which ticket, and which events were seen, are lost, so
the bot can no longer edit posts made before the downgrade, and an event redelivered right
after it may be handled again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channel_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("ts", sa.String(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_channel_posts_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["draft_id"], ["drafts.id"], name=op.f("fk_channel_posts_draft_id_drafts")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_channel_posts_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_posts")),
        sa.UniqueConstraint("channel", "ts", name=op.f("uq_channel_posts_channel_ts")),
    )
    op.create_index(op.f("ix_channel_posts_ticket_id"), "channel_posts", ["ticket_id"])

    op.create_table(
        "seen_events",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_seen_events")),
    )
    op.create_index(op.f("ix_seen_events_seen_at"), "seen_events", ["seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_events_seen_at"), table_name="seen_events")
    op.drop_table("seen_events")

    op.drop_index(op.f("ix_channel_posts_ticket_id"), table_name="channel_posts")
    op.drop_table("channel_posts")
