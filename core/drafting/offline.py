"""The offline drafter: a reply from a per-category template, always available, no network.

It is the default when no LLM is configured and the fallback whenever one fails, so an
agent always has something to approve, edit or reject. When a knowledge base was searched
and nothing relevant was found it uses the `clarify` template, which asks the customer for
details instead of promising an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.drafting.request import DraftRequest, DraftText
from core.ports import Renderer

NO_ARTICLE_FLAG = "no knowledge-base article matched: the draft asks for details"


@dataclass(frozen=True)
class OfflineDrafter:
    renderer: Renderer
    name: str = "offline"
    prompt_version: str = "replies-v1"
    base_language: str = "en"  # of the templates directly in replies/, not in a language folder

    def draft(self, request: DraftRequest) -> DraftText:
        ticket = request.ticket
        kind = "clarify" if request.needs_clarification else ticket.category
        names = [
            f"replies/{ticket.language}/{kind}.txt.j2",
            f"replies/{ticket.language}/general.txt.j2",
            f"replies/{kind}.txt.j2",
            "replies/general.txt.j2",
        ]
        latest = request.latest_customer_text
        chosen = self.renderer.select(names)
        text = self.renderer.render(
            [chosen],
            {
                "ticket": ticket,
                "customer_name": _first_name(request.customer.name),
                "brand": request.brand,
                "signature": request.signature,
                "customer_text": latest,
                "is_followup": request.inbound_count > 1,
                "articles": [h.article for h in request.hits],
            },
        )
        return DraftText(
            text=text.strip() + "\n",
            provider=self.name,
            model="templates",
            prompt_version=self.prompt_version,
            sources=tuple(h.article.citation for h in request.hits),
            flags=(NO_ARTICLE_FLAG,) if request.needs_clarification else (),
            language=ticket.language if chosen in names[:2] else self.base_language,
        )


def _first_name(name: str) -> str:
    """'Müller, Jürgen' → 'Jürgen'; 'Ann Lee' → 'Ann'; an address-like name → ''."""
    name = name.strip().strip('"')
    if "@" in name or not name:
        return ""
    if "," in name:
        name = name.split(",", 1)[1].strip()
    return name.split()[0] if name.split() else ""
