"""The offline drafter: a reply from a per-category template, always available, no network.

It is the default when no LLM is configured and the fallback whenever one fails, so an
agent always has something to approve, edit or reject.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.drafting.request import DraftRequest, DraftText
from core.ports import Renderer


@dataclass(frozen=True)
class OfflineDrafter:
    renderer: Renderer
    name: str = "offline"
    prompt_version: str = "replies-v1"

    def draft(self, request: DraftRequest) -> DraftText:
        ticket = request.ticket
        names = [
            f"replies/{ticket.language}/{ticket.category}.txt.j2",
            f"replies/{ticket.language}/general.txt.j2",
            f"replies/{ticket.category}.txt.j2",
            "replies/general.txt.j2",
        ]
        latest = request.latest_customer_text
        text = self.renderer.render(
            names,
            {
                "ticket": ticket,
                "customer_name": _first_name(request.customer.name),
                "brand": request.brand,
                "signature": request.signature,
                "customer_text": latest,
                "is_followup": request.inbound_count > 1,
            },
        )
        return DraftText(
            text=text.strip() + "\n",
            provider=self.name,
            model="templates",
            prompt_version=self.prompt_version,
        )


def _first_name(name: str) -> str:
    """'Müller, Jürgen' → 'Jürgen'; 'Ann Lee' → 'Ann'; an address-like name → ''."""
    name = name.strip().strip('"')
    if "@" in name or not name:
        return ""
    if "," in name:
        name = name.split(",", 1)[1].strip()
    return name.split()[0] if name.split() else ""
