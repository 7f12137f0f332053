"""What a drafting provider is given and what it returns, whichever provider it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.drafting.knowledge import Hit
from core.model import Customer, Direction, Message, Ticket


@dataclass(frozen=True)
class DraftRequest:
    ticket: Ticket
    customer: Customer
    messages: tuple[Message, ...]  # oldest first; notes excluded
    brand: str
    signature: str
    tone: str = "friendly, concise and professional"
    hits: tuple[Hit, ...] = ()  # relevant knowledge-base articles, best first
    is_kb_checked: bool = False  # a knowledge base was searched (so no hits means "unknown")

    @property
    def latest_customer_text(self) -> str:
        inbound = [m for m in self.messages if m.direction is Direction.INBOUND and not m.automatic]
        return inbound[-1].text if inbound else ""

    @property
    def inbound_count(self) -> int:
        return sum(1 for m in self.messages if m.direction is Direction.INBOUND)

    @property
    def needs_clarification(self) -> bool:
        """Nothing in the knowledge base answers this: ask, do not invent (DESIGN §5)."""
        return self.is_kb_checked and not self.hits


@dataclass(frozen=True)
class Suggestion:
    """Triage as a model sees it; the offline triage stays authoritative (DESIGN §4)."""

    category: str | None = None
    priority: str | None = None
    sentiment: int | None = None


@dataclass(frozen=True)
class DraftText:
    text: str
    provider: str
    model: str = ""
    prompt_version: str = ""
    fallback_reason: str | None = None
    latency_ms: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    sources: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    suggestion: Suggestion | None = None
    # The language the text is in, when the provider knows it (the offline templates do);
    # None: the guards detect it, which cost a quarter of a millisecond per draft.
    language: str | None = None


class DraftProvider(Protocol):
    @property
    def name(self) -> str: ...

    def draft(self, request: DraftRequest) -> DraftText: ...
