"""`SqlKnowledgeBase`: the `KnowledgeBase` port on the database's own full-text search.

SQLite: the FTS5 table `kb_articles_fts` (migration 0005), ranked by `bm25()` with the title
weighted 4:1 over the body. PostgreSQL: the generated `tsvector` column `search`, ranked by
`ts_rank_cd`. Queries are OR-ed terms (`knowledge.query_terms`), so a question matches
an article sharing some of its words, and neither syntax can be injected by a customer.
Scores are mapped into (0, 1) on both (rank / (rank + 1)), so one `min_score` applies to both;
the backends still rank differently, so the threshold is a coarse filter, not a probability.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select, text

from core.drafting.knowledge import Article, Hit, query_terms
from core.storage import tables as t
from core.storage.engine import READ_ONLY


class SqlKnowledgeBase:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def upsert(self, article: Article) -> str:
        c = t.kb_articles.c
        now = article.updated_at or datetime.now(UTC)
        with self._engine.begin() as connection:
            row = connection.execute(
                select(c.id, c.content_hash).where(c.path == article.path)
            ).first()
            values = {
                "title": article.title,
                "url": article.url,
                "body": article.body,
                "content_hash": article.content_hash,
                "updated_at": now,
            }
            if row is None:
                connection.execute(t.kb_articles.insert().values(path=article.path, **values))
                return "added"
            if row.content_hash == article.content_hash:
                return "unchanged"
            connection.execute(t.kb_articles.update().where(c.id == row.id).values(**values))
            return "updated"

    def search(self, query: str, limit: int) -> list[Hit]:
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        with self._engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            if connection.dialect.name == "sqlite":
                ranked = connection.execute(
                    _SQLITE_SEARCH, {"match": _fts5_query(terms), "limit": limit}
                )
            else:
                ranked = connection.execute(
                    _PG_SEARCH, {"query": " | ".join(terms), "limit": limit}
                )
            scores = {int(row.id): float(row.rank) for row in ranked}
            if not scores:
                return []
            rows = connection.execute(
                select(t.kb_articles).where(t.kb_articles.c.id.in_(list(scores)))
            ).mappings()
            articles = {int(row["id"]): Article(**dict(row)) for row in rows}
        hits = [Hit(articles[i], rank / (1.0 + rank)) for i, rank in scores.items()]
        return sorted(hits, key=lambda h: (-h.score, h.article.path))

    def count(self) -> int:
        with self._engine.connect() as connection:
            return len(connection.execute(select(t.kb_articles.c.id)).all())


def _fts5_query(terms: list[str]) -> str:
    # Each term as an FTS5 string (double quotes doubled), so no customer word is an operator.
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


# bm25() is smaller for better matches; negated it is a positive rank. Title weighs 4:1.
_SQLITE_SEARCH = text(
    "SELECT rowid AS id, -bm25(kb_articles_fts, 4.0, 1.0) AS rank FROM kb_articles_fts"
    " WHERE kb_articles_fts MATCH :match ORDER BY rank DESC LIMIT :limit"
)
# ts_rank_cd's normalisation 32 already maps into (0, 1); undo it so both backends share the
# rank / (rank + 1) step above.
_PG_SEARCH = text(
    "SELECT id, ts_rank_cd(search, q) AS rank FROM kb_articles, to_tsquery('english', :query) q"
    " WHERE search @@ q ORDER BY rank DESC, id LIMIT :limit"
)
