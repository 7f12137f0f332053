"""The knowledge base as drafting sees it: articles, the search port, and reading Markdown.

Articles are Markdown files; `parse_article` takes the title from the first `# ` heading and
the link from a front-matter `url:` line, so authors write plain Markdown. Search is the
database's full-text search (core/storage/knowledge.py); `relevant` keeps the hits above a
score threshold, and an empty result makes the draft ask the customer for details instead of
inventing an answer (DESIGN §5).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Article:
    path: str  # relative to the knowledge-base folder: the article's identity
    title: str
    body: str
    url: str = ""
    content_hash: str = ""
    updated_at: datetime | None = None
    id: int | None = None

    @property
    def citation(self) -> str:
        """How the draft records and the agent sees the source: title, and link if any."""
        return f"{self.title} <{self.url}>" if self.url else self.title


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float  # 0 < score < 1, higher is more relevant


class KnowledgeBase(Protocol):
    def upsert(self, article: Article) -> str:
        """Insert or update by path; returns "added", "updated" or "unchanged"."""
        ...

    def search(self, query: str, limit: int) -> list[Hit]:
        """Best first; an empty or stop-word-only query finds nothing."""
        ...


@dataclass(frozen=True)
class Retriever:
    """Search plus the policy of what counts as relevant."""

    knowledge: KnowledgeBase
    top_k: int = 3
    min_score: float = 0.1

    def relevant(self, query: str) -> tuple[Hit, ...]:
        hits = self.knowledge.search(query, self.top_k)
        return tuple(h for h in hits if h.score >= self.min_score)


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_URL_LINE = re.compile(r"^url:\s*(\S+)\s*$", re.MULTILINE)


def parse_article(path: str, text: str) -> Article:
    """An article from a Markdown file's text; the title falls back to the file name."""
    url = ""
    body = text
    if match := _FRONT_MATTER.match(text):
        if found := _URL_LINE.search(match.group(1)):
            url = found.group(1).strip("'\"")
        body = text[match.end() :]
    heading = _HEADING.search(body)
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    title = heading.group(1).strip() if heading else stem.replace("-", " ").replace("_", " ")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Article(path=path, title=title, body=body.strip(), url=url, content_hash=digest)


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_terms(text: str, *, limit: int = 40) -> list[str]:
    """Lower-case words of at least three letters, first occurrence order, deduplicated:
    safe to put in an FTS5 or tsquery expression, whatever the customer typed."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) >= 3 and word not in _STOP:
            seen.setdefault(word, None)
    return list(seen)[:limit]


_STOP = frozenset(
    """the and for are but not you your our with have has had was were this that these those
    from they them their there what when where which who why how can could would should will
    just than then also into out about any all some more most very please thanks thank hello
    dear regards best hi hey get got does did done been being its it's i'm i've don't
    """.split()  # noqa: SIM905 - a word list reads better as prose
)


def list_markdown(root: Path) -> list[Path]:
    """The Markdown files under `root` (or `root` itself), in a stable order."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.md") if p.is_file())


def index_markdown(
    knowledge: KnowledgeBase, root: Path, *, advance: Callable[[], None] | None = None
) -> Counter[str]:
    """Upsert every Markdown file under `root`; counts of added, updated and unchanged."""
    counts: Counter[str] = Counter({"added": 0, "updated": 0, "unchanged": 0})
    base = root if root.is_dir() else root.parent
    for path in list_markdown(root):
        name = path.relative_to(base).as_posix()
        counts[knowledge.upsert(parse_article(name, path.read_text(encoding="utf-8")))] += 1
        if advance is not None:
            advance()
    return counts
