"""Knowledge-base search on both databases: the right article for a handful of questions,
nothing for a question no article answers, and re-indexing writes only what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.drafting.knowledge import Retriever, index_markdown, parse_article
from core.storage.knowledge import SqlKnowledgeBase

KB = Path(__file__).resolve().parents[3] / "kb"


@pytest.fixture
def knowledge(engine: Engine) -> SqlKnowledgeBase:
    kb = SqlKnowledgeBase(engine)
    index_markdown(kb, KB)
    return kb


@pytest.mark.parametrize(
    ("question", "path"),
    [
        ("I was charged for the annual plan by mistake, can I get a refund?", "refunds.md"),
        ("The password reset email never arrives", "password-reset.md"),
        ("Where is my parcel? The tracking number shows nothing", "shipping.md"),
        ("Please add our VAT number to the invoice", "invoices.md"),
        ("I lost my phone and cannot pass two-factor authentication", "two-factor.md"),
        ("How do I export all projects as CSV?", "export-data.md"),
    ],
)
def test_search_finds_the_article_that_answers(
    knowledge: SqlKnowledgeBase, question: str, path: str
) -> None:
    hits = Retriever(knowledge, top_k=3, min_score=0.1).relevant(question)
    assert hits, question
    assert hits[0].article.path == path


def test_a_question_no_article_answers_finds_nothing_relevant(
    knowledge: SqlKnowledgeBase,
) -> None:
    assert Retriever(knowledge, min_score=0.1).relevant("Do you sponsor marathon runners?") == ()
    assert knowledge.search("the and of", 3) == []  # stop words only


def test_customer_text_cannot_inject_search_syntax(knowledge: SqlKnowledgeBase) -> None:
    for query in ['refund" OR *', "refund & !invoice | (", "NEAR(refund invoice)", "'; DROP"]:
        knowledge.search(query, 3)  # no syntax error on either backend


def test_reindexing_counts_added_updated_unchanged(engine: Engine, tmp_path: Path) -> None:
    kb = SqlKnowledgeBase(engine)
    (tmp_path / "a.md").write_text("# Alpha\n\nGift cards never expire.\n")
    (tmp_path / "b.md").write_text("---\nurl: https://x.test/b\n---\n# Beta\n\nBody.\n")
    assert index_markdown(kb, tmp_path) == {"added": 2, "updated": 0, "unchanged": 0}
    (tmp_path / "a.md").write_text("# Alpha\n\nGift cards expire after five years.\n")
    assert index_markdown(kb, tmp_path) == {"added": 0, "updated": 1, "unchanged": 1}
    hits = kb.search("when do gift cards expire", 3)
    assert [h.article.title for h in hits] == ["Alpha"]
    assert "five years" in hits[0].article.body  # the search index followed the update
    assert kb.search("Beta", 1)[0].article.citation == "Beta <https://x.test/b>"


def test_parse_article_title_url_and_fallbacks() -> None:
    article = parse_article("dir/how-to.md", "No heading here.\n")
    assert (article.title, article.url) == ("how to", "")
    assert parse_article("x.md", "---\nurl: 'https://a.test'\n---\n# T #\n").url == "https://a.test"
