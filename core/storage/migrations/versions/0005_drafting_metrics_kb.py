"""Draft metrics and notes; knowledge-base articles with full-text search.

`drafts` gains `latency_ms`, `input_tokens`, `output_tokens` (NULL where a provider gives
none, and for every draft made before this revision) and `sources` and `flags` (JSON lists
in TEXT, NOT NULL with the server default '[]', so existing rows are backfilled with "none").
Batch mode: on SQLite adding columns runs as plain ALTER TABLE; downgrade drops them the
same way.

`kb_articles` is new: one row per Markdown file, keyed by its path, with a content hash so
re-indexing an unchanged file writes nothing. Full-text search differs per backend and is
not in the metadata (core/storage/tables.py `is_search_object`):
- SQLite: an FTS5 table `kb_articles_fts` over title and body with external content
  (https://www.sqlite.org/fts5.html#external_content_tables), kept in step by triggers on
  insert, update and delete; `porter unicode61 remove_diacritics 2` stems English and folds
  accents.
- PostgreSQL: a stored generated column `search` (`tsvector`, title weighted A, body B,
  'english' configuration) with a GIN index; PostgreSQL keeps it current by itself.

Downgrade drops the search objects, the table with its rows (re-create them with
`supportbot kb index`), and the five draft columns with their values.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
DRAFT_COLUMNS = ("latency_ms", "input_tokens", "output_tokens", "sources", "flags")

_SQLITE_FTS = [
    """CREATE VIRTUAL TABLE kb_articles_fts USING fts5(
        title, body, content='kb_articles', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER kb_articles_fts_ai AFTER INSERT ON kb_articles BEGIN
        INSERT INTO kb_articles_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END""",
    """CREATE TRIGGER kb_articles_fts_ad AFTER DELETE ON kb_articles BEGIN
        INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
    END""",
    """CREATE TRIGGER kb_articles_fts_au AFTER UPDATE ON kb_articles BEGIN
        INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO kb_articles_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
    END""",
]

_PG_SEARCH = [
    """ALTER TABLE kb_articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(body, '')), 'B')) STORED""",
    "CREATE INDEX ix_kb_articles_search ON kb_articles USING gin (search)",
]


def upgrade() -> None:
    with op.batch_alter_table("drafts") as batch_op:
        batch_op.add_column(sa.Column("latency_ms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("input_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("output_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sources", sa.Text(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("flags", sa.Text(), server_default="[]", nullable=False))

    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("path", name=op.f("uq_kb_articles_path")),
    )
    statements = _SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else _PG_SEARCH
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("kb_articles_fts_au", "kb_articles_fts_ad", "kb_articles_fts_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS kb_articles_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_kb_articles_search")
    op.drop_table("kb_articles")

    # Plain DROP COLUMN (SQLite ≥ 3.35 has it): a batch rebuild of `drafts` would drop the
    # table that `decisions` and `channel_posts` refer to, which fails with foreign keys on.
    for column in reversed(DRAFT_COLUMNS):
        op.execute(f"ALTER TABLE drafts DROP COLUMN {column}")
