"""Drafting with a language model: prompt, call, validate, cite; any failure raises.

The model-specific part is a `ModelClient` (core/drafting/gemini.py, openai_compat.py) that
turns a prompt into a validated `DraftAnswer` or raises `DraftingFailed`. Everything else is
here and the same for every model: the prompt comes from `templates/prompts/` through the
`Renderer` port, customer text is fenced as untrusted data (DESIGN §3.6) and, if configured,
PII is redacted before it leaves; the answer's sources are matched to the articles actually
offered, and its triage suggestion is compared with ours. `FallbackDrafter` catches the raise.
"""

from __future__ import annotations

import re
import time
import typing
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from core.drafting.guards import check_length, redact_pii
from core.drafting.offline import NO_ARTICLE_FLAG
from core.drafting.request import DraftRequest, DraftText, Suggestion
from core.errors import DraftingFailed
from core.model import Direction
from core.ports import Renderer

PROMPT_VERSION = "draft-v1"
Category = Literal["billing", "technical", "account", "shipping", "general"]
CATEGORIES: tuple[str, ...] = typing.get_args(Category)


class DraftAnswer(BaseModel):
    """The structured answer asked of a model (sent as its response schema)."""

    reply: str = Field(description="The reply to the customer, in the customer's language.")
    category: Category | None = None
    priority: Literal["P0", "P1", "P2", "P3"] | None = None
    sentiment: int | None = Field(default=None, ge=1, le=5, description="5 = angry")
    used_sources: list[str] = Field(default_factory=list, description="Titles of articles used.")
    needs_clarification: bool = False


@dataclass(frozen=True)
class ModelReply:
    answer: DraftAnswer
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None


class ModelClient(Protocol):
    @property
    def name(self) -> str: ...

    def complete(self, prompt: str) -> ModelReply:
        """One structured answer, or `DraftingFailed` saying why not."""
        ...

    def warm_up(self) -> None:
        """Load what the first request would (SDK import, client); sends nothing."""
        ...


@dataclass(frozen=True)
class LlmDrafter:
    client: ModelClient
    renderer: Renderer
    is_redacting: bool = True
    max_chars: int = 4000
    prompt_version: str = PROMPT_VERSION

    @property
    def name(self) -> str:
        return self.client.name

    def prompt(self, request: DraftRequest) -> str:
        redact = redact_pii if self.is_redacting else _same

        def clean(text: str) -> str:
            return _defuse_fences(redact(text))

        conversation = [
            {"role": _role(m.direction), "text": clean(m.text)}
            for m in request.messages
            if not m.automatic
        ]
        return self.renderer.render(
            ["prompts/draft.txt.j2"],
            {
                "brand": request.brand,
                "signature": request.signature,
                "tone": request.tone,
                "language": request.ticket.language,
                "subject": clean(request.ticket.subject),
                "conversation": conversation[:-1],
                "customer_text": clean(request.latest_customer_text),
                "articles": [h.article for h in request.hits],
                "needs_clarification": request.needs_clarification,
                "categories": CATEGORIES,
            },
        )

    def draft(self, request: DraftRequest) -> DraftText:
        prompt = self.prompt(request)
        started = time.monotonic()
        reply = self.client.complete(prompt)
        latency_ms = round((time.monotonic() - started) * 1000)
        answer = reply.answer
        if (problem := check_length(answer.reply, max_chars=self.max_chars)) is not None:
            raise DraftingFailed(f"invalid answer: reply {problem}")
        by_title = {h.article.title.casefold(): h.article for h in request.hits}
        by_path = {h.article.path.casefold(): h.article for h in request.hits}
        cited = []
        for name in answer.used_sources:
            key = name.strip().casefold()
            article = by_title.get(key) or by_path.get(key)
            if article is not None and article.citation not in cited:
                cited.append(article.citation)
        flags = []
        if request.needs_clarification:
            flags.append(NO_ARTICLE_FLAG)
        elif answer.needs_clarification:
            flags.append("the model asks the customer for details")
        ticket = request.ticket
        theirs_sentiment = None if answer.sentiment is None else str(answer.sentiment)
        for label, ours, theirs in (
            ("category", ticket.category, answer.category),
            ("priority", ticket.priority.value, answer.priority),
            ("sentiment", str(ticket.sentiment), theirs_sentiment),
        ):
            if theirs is not None and theirs != ours:
                flags.append(f"triage: model suggests {label} {theirs} (ours: {ours})")
        return DraftText(
            text=answer.reply.strip() + "\n",
            provider=self.client.name,
            model=reply.model,
            prompt_version=self.prompt_version,
            latency_ms=latency_ms,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            sources=tuple(cited),
            flags=tuple(flags),
            suggestion=Suggestion(answer.category, answer.priority, answer.sentiment),
        )


def _same(text: str) -> str:
    return text


_FENCE_TAG = re.compile(r"<(/?\s*(?:customer_message|conversation|subject|article)\b)", re.I)


def _defuse_fences(text: str) -> str:
    """Customer text cannot close its fence early: our tag names lose their `<`."""
    return _FENCE_TAG.sub(r"‹\1", text)


def _role(direction: Direction) -> str:
    return "customer" if direction is Direction.INBOUND else "agent"
