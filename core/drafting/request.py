"""What a drafting provider is given and what it returns, whichever provider it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.model import Customer, Direction, Message, Ticket


@dataclass(frozen=True)
class DraftRequest:
    ticket: Ticket
    customer: Customer
    messages: tuple[Message, ...]  # oldest first; notes excluded
    brand: str
    signature: str

    @property
    def latest_customer_text(self) -> str:
        inbound = [m for m in self.messages if m.direction is Direction.INBOUND and not m.automatic]
        return inbound[-1].text if inbound else ""

    @property
    def inbound_count(self) -> int:
        return sum(1 for m in self.messages if m.direction is Direction.INBOUND)


@dataclass(frozen=True)
class DraftText:
    text: str
    provider: str
    model: str = ""
    prompt_version: str = ""
    fallback_reason: str | None = None


class DraftProvider(Protocol):
    @property
    def name(self) -> str: ...

    def draft(self, request: DraftRequest) -> DraftText: ...
