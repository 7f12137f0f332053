"""Creating a new draft version for a ticket: read, draft outside the transaction, write.

The provider runs between two short transactions so a slow model never holds a database
lock, and a newer version supersedes any older one nobody has decided on yet. The reading
transaction loads text only (no raw message bytes, no attachment contents) and may be
read-only; the knowledge base is searched once per draft. The offline drafter, which
answers at once, may instead run inside intake's transaction (`draft_in_transaction`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.drafting.guards import review
from core.drafting.knowledge import Hit, Retriever
from core.drafting.request import DraftProvider, DraftRequest, DraftText
from core.errors import NotFound
from core.model import AuditEvent, Customer, Direction, Draft, DraftStatus, Message, Ticket
from core.ports import Clock, UnitOfWork
from core.triage.language import detect_language

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voice:
    """How replies sound and are signed: configuration, shown to the drafter."""

    brand: str = "Support"
    signature: str = "The Support Team"
    tone: str = "friendly, concise and professional"


def create_draft(
    uow: UnitOfWork,
    ticket_id: int,
    *,
    provider: DraftProvider,
    clock: Clock,
    voice: Voice,
    retriever: Retriever | None = None,
    read_uow: UnitOfWork | None = None,
    then: Callable[[UnitOfWork, Draft], None] | None = None,
) -> Draft:
    """`read_uow`, if given, serves the reading phase: a read-only unit of work takes no
    write lock on SQLite, so many drafts being prepared do not queue behind intake. `then`
    runs in the transaction that stores the draft, and its exception rolls the draft back:
    what must not be lost or doubled with the draft goes there (the request to post it,
    the settling of an owed draft, see `core.drafting.owed`)."""
    reader = read_uow if read_uow is not None else uow
    with reader:
        ticket, customer, messages = _read(reader, ticket_id)
    request = _request(ticket, customer, messages, voice=voice, retriever=retriever)
    result, flags = _compose(provider, request)
    with uow:
        # Two drafts of one ticket stored at once (two instances paying owed drafts, or a
        # Regenerate) would both take the next version number; one waits for the other.
        uow.lock(f"ticket-drafts:{ticket_id}")
        draft = _store(uow, ticket_id, result, flags=flags, clock=clock)
        if then is not None:
            then(uow, draft)
        uow.commit()
    return draft


def draft_in_transaction(
    uow: UnitOfWork,
    ticket_id: int,
    *,
    provider: DraftProvider,
    clock: Clock,
    voice: Voice,
    retriever: Retriever | None = None,
) -> Draft:
    """`create_draft` inside the caller's open transaction, which the caller commits.

    Intake uses it with the offline drafter, so a message and its draft cost one commit
    instead of three transactions. Only for a provider that answers at once: a model called
    here would hold the database's write lock for as long as it takes to answer.
    """
    ticket, customer, messages = _read(uow, ticket_id)
    request = _request(ticket, customer, messages, voice=voice, retriever=retriever)
    result, flags = _compose(provider, request)
    return _store(uow, ticket_id, result, flags=flags, clock=clock)


def _read(reader: UnitOfWork, ticket_id: int) -> tuple[Ticket, Customer, tuple[Message, ...]]:
    ticket = reader.tickets.get(ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    customer = reader.customers.get(ticket.customer_id)
    if customer is None:
        raise NotFound(f"ticket {ticket.ref} has no customer")
    messages = tuple(  # the text only: raw bytes and attachment contents stay stored
        m
        for m in reader.messages.list_for_ticket(ticket_id, with_content=False)
        if m.direction is not Direction.NOTE
    )
    return ticket, customer, messages


def _request(
    ticket: Ticket,
    customer: Customer,
    messages: tuple[Message, ...],
    *,
    voice: Voice,
    retriever: Retriever | None,
) -> DraftRequest:
    assert ticket.id is not None
    return DraftRequest(
        ticket=ticket,
        customer=customer,
        messages=messages,
        brand=voice.brand,
        signature=voice.signature,
        tone=voice.tone,
        hits=_search(retriever, ticket.subject, messages, ticket_id=ticket.id),
        is_kb_checked=retriever is not None,
    )


def _compose(provider: DraftProvider, request: DraftRequest) -> tuple[DraftText, tuple[str, ...]]:
    """The provider's draft and every flag on it: its own and the guards'."""
    result = provider.draft(request)
    language = request.ticket.language

    def detect(text: str) -> str:
        if result.language is not None:  # the provider knows; detecting would only guess
            return result.language
        return detect_language(text, default=language)

    return result, result.flags + review(result.text, language=language, detect=detect)


def _store(
    uow: UnitOfWork, ticket_id: int, result: DraftText, *, flags: tuple[str, ...], clock: Clock
) -> Draft:
    """The next version, superseding a pending one nobody decided on, and its audit event;
    in the caller's transaction."""
    previous = uow.drafts.latest_for_ticket(ticket_id)
    if previous is not None and previous.id is not None:
        uow.drafts.transition(
            previous.id,
            version=previous.version,
            from_statuses=[DraftStatus.PENDING],
            to_status=DraftStatus.SUPERSEDED,
        )
    draft = uow.drafts.add(
        Draft(
            ticket_id=ticket_id,
            version=(previous.version + 1) if previous else 1,
            text=result.text,
            created_at=clock.now(),
            provider=result.provider,
            model=result.model,
            prompt_version=result.prompt_version,
            fallback_reason=result.fallback_reason,
            latency_ms=result.latency_ms,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            sources=result.sources,
            flags=flags,
        )
    )
    uow.audit.add(
        AuditEvent(
            actor="supportbot",
            action="draft.created",
            at=clock.now(),
            ticket_id=ticket_id,
            detail=json.dumps(
                {
                    "draft_id": draft.id,
                    "version": draft.version,
                    "provider": draft.provider,
                    "fallback_reason": draft.fallback_reason,
                }
            ),
        )
    )
    return draft


def _search(
    retriever: Retriever | None, subject: str, messages: tuple[Message, ...], *, ticket_id: int
) -> tuple[Hit, ...]:
    """The relevant articles for the latest customer message; none if search fails (the
    draft then asks for details, which is safe, and the failure is logged)."""
    if retriever is None:
        return ()
    inbound = [m.text for m in messages if m.direction is Direction.INBOUND and not m.automatic]
    query = f"{subject}\n{inbound[-1] if inbound else ''}"
    try:
        return retriever.relevant(query)
    except Exception:
        log.exception("knowledge-base search failed", extra={"ticket_id": ticket_id})
        return ()
