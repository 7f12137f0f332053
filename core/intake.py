"""Intake: the one function every channel calls with an inbound message.

`handle_inbound` stores the message before anything else can go wrong, decides whether it
opens a ticket, follows one up, is a duplicate, or is automatic mail, and commits. A message
it cannot process is quarantined with its raw bytes and the reason (Mailman's shunt queue):
nothing is dropped, and a person can reprocess it later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.errors import NotFound
from core.model import (
    AuditEvent,
    AutoKind,
    Customer,
    Direction,
    Disposition,
    Draft,
    InboundMessage,
    Message,
    QuarantineItem,
    QuarantineStatus,
    Ticket,
    TicketStatus,
    Tier,
)
from core.pipeline import TriageInput, TriagePolicy, escalate_priority, run_triage
from core.ports import Clock, UnitOfWork
from core.sla_actions import sync_sla_actions
from core.threading import find_subject_ref, ref_from_message_id
from core.triage.learned import NO_MODELS, TriageModels
from core.triage.sla import resume_sla, sla_target_for

log = logging.getLogger(__name__)

_MAX_REASON = 500


@dataclass(frozen=True)
class IntakeContext:
    """What intake needs besides the message: policy, time and our identity."""

    clock: Clock
    policy: TriagePolicy
    thread_secret: bytes
    own_addresses: frozenset[str] = frozenset()  # mail from these is our own, looping back
    repeat_window: timedelta = timedelta(days=7)
    models: TriageModels = NO_MODELS  # trained models, when `supportbot train` made any


@dataclass(frozen=True)
class IntakeResult:
    disposition: Disposition
    ticket_id: int | None = None
    ticket_ref: str | None = None
    message_id: int | None = None
    quarantine_id: int | None = None
    needs_draft: bool = False
    reason: str = ""
    draft: Draft | None = None  # made in intake's transaction, when a `DraftStep` was given


DraftStep = Callable[[UnitOfWork, IntakeResult], Draft | None]
"""Runs in intake's open transaction, without committing, for a message a person must
answer, so the message and what the step writes commit together. Drafting that answers at
once (the offline templates) writes the draft itself; a model, which runs while intake holds
no lock, gets a durable promise instead (`core.drafting.owed`) and the step returns None."""


def handle_inbound(
    uow: UnitOfWork,
    msg: InboundMessage,
    *,
    ctx: IntakeContext,
    draft: DraftStep | None = None,
) -> IntakeResult:
    """Store and route one message; idempotent on the message's source id or content hash.

    Any failure while deciding rolls back; the decision is tried once more (a race with
    another writer is then settled), and if that fails too the message is quarantined in a
    fresh transaction. Only if even that fails does the error propagate, so the channel does
    not acknowledge the message and will deliver it again. With `draft`, a message a person
    must answer gets its draft in the same transaction; a drafting failure is logged and
    costs the draft only, never the message.
    """
    return _handle(uow, msg, ctx=ctx, retry_of=None, draft=draft)


def handle_batch(
    uow: UnitOfWork,
    messages: Iterable[InboundMessage],
    *,
    ctx: IntakeContext,
    draft: DraftStep | None = None,
) -> list[IntakeResult]:
    """`handle_inbound` for several messages in one transaction, committed once at the end.

    Each message is decided in its own savepoint, so one that fails is undone alone, tried
    once more and, failing again, quarantined, as `handle_inbound` does. A mailbox poller
    hands over a fetch group this way: a commit per message (and its connection, BEGIN and
    write of the touched index pages) cost more than a message's SQL. `messages` is read one
    at a time, so a lazy iterable keeps one parsed message in memory. Returning means every
    message is committed; raising means none is, so the channel acknowledges none of them.
    """
    results: list[IntakeResult] = []
    with uow:
        for msg in messages:
            results.append(_handle_in_savepoint(uow, msg, ctx=ctx, draft=draft))
        uow.commit()
    return results


def retry_quarantined(
    uow: UnitOfWork,
    item_id: int,
    *,
    parse: Callable[[QuarantineItem], InboundMessage],
    ctx: IntakeContext,
    draft: DraftStep | None = None,
) -> IntakeResult:
    """Run a quarantined message through intake again (after a fix or a config change)."""
    with uow:
        item = uow.quarantine.get(item_id)
    if item is None:
        raise NotFound(f"no quarantined item {item_id}")
    return _handle(uow, parse(item), ctx=ctx, retry_of=item, draft=draft)


def _handle(
    uow: UnitOfWork,
    msg: InboundMessage,
    *,
    ctx: IntakeContext,
    retry_of: QuarantineItem | None,
    draft: DraftStep | None = None,
) -> IntakeResult:
    try:
        return _decide_and_commit(uow, msg, ctx=ctx, retry_of=retry_of, draft=draft)
    except Exception as exc:
        # A lost race, most likely: another instance (while a mailbox lease changes hands) or
        # thread stored this message, or this sender as a customer, between our read and our
        # insert, and a unique constraint refused ours. Once more, in a fresh transaction,
        # sees theirs (a duplicate, a known customer); a real failure fails again.
        log.debug("intake attempt failed, trying once more: %s", type(exc).__name__)
    try:
        return _decide_and_commit(uow, msg, ctx=ctx, retry_of=retry_of, draft=draft)
    except Exception as exc:  # the shunt: nothing is dropped, whatever went wrong
        reason = _report_failure(exc, msg)
        if retry_of is not None and retry_of.id is not None:
            return IntakeResult(Disposition.QUARANTINED, quarantine_id=retry_of.id, reason=reason)
        with uow:
            result = _quarantine(uow, msg, reason=reason, ctx=ctx)
            uow.commit()
            return result


def _handle_in_savepoint(
    uow: UnitOfWork, msg: InboundMessage, *, ctx: IntakeContext, draft: DraftStep | None
) -> IntakeResult:
    """`_handle`'s two tries and its shunt, each in a savepoint of the caller's transaction
    (see `_handle` for why a second try). Only if even the quarantine fails does it raise."""
    try:
        with uow.savepoint():
            return _decide_with_draft(uow, msg, ctx=ctx, retry_of=None, draft=draft)
    except Exception as exc:
        log.debug("intake attempt failed, trying once more: %s", type(exc).__name__)
    try:
        with uow.savepoint():
            return _decide_with_draft(uow, msg, ctx=ctx, retry_of=None, draft=draft)
    except Exception as exc:  # the shunt: nothing is dropped, whatever went wrong
        reason = _report_failure(exc, msg)
    with uow.savepoint():
        return _quarantine(uow, msg, reason=reason, ctx=ctx)


def _report_failure(exc: Exception, msg: InboundMessage) -> str:
    """Log a message's processing failure; the reason it is quarantined with."""
    reason = f"processing failed: {type(exc).__name__}: {exc}"
    # One line per failure; the traceback only at DEBUG, so a batch stays readable.
    log.error(
        "intake failed, message quarantined: %s",
        reason,
        exc_info=log.isEnabledFor(logging.DEBUG),
        extra={"source_id": msg.dedupe_key},
    )
    return reason


def _decide_and_commit(
    uow: UnitOfWork,
    msg: InboundMessage,
    *,
    ctx: IntakeContext,
    retry_of: QuarantineItem | None,
    draft: DraftStep | None = None,
) -> IntakeResult:
    with uow:
        result = _decide_with_draft(uow, msg, ctx=ctx, retry_of=retry_of, draft=draft)
        is_resolved = result.disposition is not Disposition.QUARANTINED
        if retry_of is not None and retry_of.id is not None and is_resolved:
            uow.quarantine.set_status(retry_of.id, QuarantineStatus.REPROCESSED)
        uow.commit()
        return result


def _decide_with_draft(
    uow: UnitOfWork,
    msg: InboundMessage,
    *,
    ctx: IntakeContext,
    retry_of: QuarantineItem | None,
    draft: DraftStep | None,
) -> IntakeResult:
    """`_decide`, then the draft when one is wanted and `draft` makes it here."""
    result = _decide(uow, msg, ctx=ctx, retry_of=retry_of)
    if draft is None or not result.needs_draft or result.ticket_id is None:
        return result
    try:
        with uow.savepoint():  # a failed draft is undone on its own: the message stays
            made = draft(uow, result)
    except Exception:
        log.exception("drafting failed", extra={"ticket_id": result.ticket_id})
        return result
    return replace(result, draft=made)


def _decide(
    uow: UnitOfWork, msg: InboundMessage, *, ctx: IntakeContext, retry_of: QuarantineItem | None
) -> IntakeResult:
    key = msg.dedupe_key
    stored = uow.messages.get_by_external_id(msg.channel, key)
    if stored is not None:
        ticket = uow.tickets.get(stored.ticket_id)
        return IntakeResult(
            Disposition.DUPLICATE,
            ticket_id=stored.ticket_id,
            ticket_ref=ticket.ref if ticket else None,
            message_id=stored.id,
            needs_draft=_awaits_draft(uow, stored),
        )
    if retry_of is None and (held := uow.quarantine.get_by_source_id(key)) is not None:
        return IntakeResult(Disposition.DUPLICATE, quarantine_id=held.id, reason=held.reason)
    if msg.problem:
        return _quarantine(uow, msg, reason=msg.problem, ctx=ctx, retry_of=retry_of)

    ticket = _find_thread(uow, msg, ctx=ctx)
    automatic = msg.automatic or (
        AutoKind.OWN if msg.sender_email.lower() in ctx.own_addresses else None
    )
    if automatic is not None:
        return _note_automatic(uow, msg, automatic, ticket, ctx=ctx)
    if not msg.sender_email:
        return _quarantine(uow, msg, reason="no usable sender address", ctx=ctx, retry_of=retry_of)

    customer, is_new_customer = _get_or_add_customer(uow, msg)
    if ticket is not None:
        return _add_followup(uow, msg, ticket, customer, ctx=ctx)
    return _open_ticket(uow, msg, customer, ctx=ctx, is_new_customer=is_new_customer)


def _awaits_draft(uow: UnitOfWork, stored: Message) -> bool:
    """Whether a customer's message has had no draft since it was stored: the process that
    stored it died before drafting (a crash, a SIGKILL), and its source delivers it again
    because the cursor had not moved past it. This delivery then makes the draft."""
    if stored.direction is not Direction.INBOUND or stored.automatic is not None:
        return False
    latest = uow.drafts.latest_for_ticket(stored.ticket_id)
    return latest is None or latest.created_at < stored.created_at


def _find_thread(uow: UnitOfWork, msg: InboundMessage, *, ctx: IntakeContext) -> Ticket | None:
    """Our own verifiable Message-IDs first, then any known id, then the subject token."""
    ids = list(dict.fromkeys((*msg.in_reply_to, *reversed(msg.references))))
    for message_id in ids:
        ref = ref_from_message_id(message_id, secret=ctx.thread_secret)
        if ref is not None and (ticket := uow.tickets.get_by_ref(ref)) is not None:
            return ticket
    if ids and (ticket_id := uow.messages.find_ticket_id(ids)) is not None:
        return uow.tickets.get(ticket_id)
    ref = find_subject_ref(msg.subject)
    if ref is None or (ticket := uow.tickets.get_by_ref(ref)) is None:
        return None
    # A subject token is guessable, so it only counts from the ticket's own customer or
    # someone already on the thread (in To or Cc of one of its messages).
    sender = msg.sender_email.lower()
    customer = uow.customers.get(ticket.customer_id)
    if customer is not None and customer.email == sender:
        return ticket
    assert ticket.id is not None
    if any(sender in m.recipients for m in uow.messages.list_for_ticket(ticket.id)):
        return ticket
    return None


def _get_or_add_customer(uow: UnitOfWork, msg: InboundMessage) -> tuple[Customer, bool]:
    """The sender as a customer, and whether they were added just now."""
    email = msg.sender_email.lower()
    customer = uow.customers.get_by_email(email)
    if customer is None:
        return uow.customers.add(Customer(email=email, name=msg.sender_name)), True
    if not customer.name and msg.sender_name:
        customer = replace(customer, name=msg.sender_name)
        uow.customers.save(customer)
    return customer, False


def _store_message(
    uow: UnitOfWork, msg: InboundMessage, ticket_id: int, *, automatic: AutoKind | None = None
) -> Message:
    return uow.messages.add(
        Message(
            ticket_id=ticket_id,
            direction=Direction.INBOUND,
            channel=msg.channel,
            external_id=msg.dedupe_key,
            author=msg.sender_email.lower() or msg.sender_name,
            text=msg.text or msg.full_text,
            created_at=msg.received_at,
            raw=msg.raw,
            subject=msg.subject,
            automatic=automatic,
            attachments=msg.attachments,
            recipients=tuple(r.lower() for r in msg.recipients),
        )
    )


def _open_ticket(
    uow: UnitOfWork,
    msg: InboundMessage,
    customer: Customer,
    *,
    ctx: IntakeContext,
    is_new_customer: bool = False,
) -> IntakeResult:
    assert customer.id is not None
    now = ctx.clock.now()
    repeats = (  # a customer added just now has no earlier tickets to count
        0
        if is_new_customer
        else uow.tickets.count_for_customer_since(customer.id, now - ctx.repeat_window)
    )
    triage = run_triage(
        TriageInput(
            subject=msg.subject,
            text=msg.text or msg.full_text,
            created_at=msg.received_at,
            tier=customer.tier,
            repeat_contacts=repeats,
        ),
        policy=ctx.policy,
        models=ctx.models,
    )
    ticket = uow.tickets.add(
        Ticket(
            subject=msg.subject.strip() or "(no subject)",
            customer_id=customer.id,
            channel=msg.channel,
            created_at=msg.received_at,
            updated_at=now,
            category=triage.category,
            category_confidence=triage.category_confidence,
            priority=triage.priority,
            priority_score=triage.priority_score,
            sentiment=triage.sentiment,
            sentiment_score=triage.sentiment_score,
            language=triage.language,
            first_response_due=triage.sla.first_response_due,
            resolution_due=triage.sla.resolution_due,
            thread_key=msg.thread_key,
        )
    )
    assert ticket.id is not None
    stored = _store_message(uow, msg, ticket.id)
    sync_sla_actions(uow, ticket, policy=ctx.policy.sla, tier=customer.tier, is_new=True)
    _audit(
        uow,
        "ticket.created",
        ticket.id,
        ctx=ctx,
        detail={"ref": ticket.ref, "priority": ticket.priority, "signals": list(triage.signals)},
    )
    return IntakeResult(
        Disposition.NEW_TICKET,
        ticket_id=ticket.id,
        ticket_ref=ticket.ref,
        message_id=stored.id,
        needs_draft=True,
    )


def _add_followup(
    uow: UnitOfWork, msg: InboundMessage, ticket: Ticket, customer: Customer, *, ctx: IntakeContext
) -> IntakeResult:
    assert ticket.id is not None
    now = ctx.clock.now()
    stored = _store_message(uow, msg, ticket.id)
    triage = run_triage(
        TriageInput(
            subject=ticket.subject,
            text=msg.text or msg.full_text,
            created_at=ticket.created_at,
            tier=customer.tier,
        ),
        policy=ctx.policy,
        models=ctx.models,
    )
    updated = replace(
        _reopen(ticket, now=now, ctx=ctx, tier=customer.tier),
        priority=escalate_priority(ticket.priority, triage.priority),
        priority_score=max(ticket.priority_score, triage.priority_score),
        sentiment=triage.sentiment,
        sentiment_score=triage.sentiment_score,
        updated_at=now,
    )
    if updated.priority != ticket.priority:
        # A stricter target now applies; never extend a deadline already promised.
        updated = replace(
            updated,
            first_response_due=_earliest(updated.first_response_due, triage.sla.first_response_due),
            resolution_due=_earliest(updated.resolution_due, triage.sla.resolution_due),
        )
    uow.tickets.save(updated)
    # The SLA follows the tier of the ticket's customer, who need not be this sender (a Cc).
    tier = customer.tier if customer.id == ticket.customer_id else None
    sync_sla_actions(uow, updated, policy=ctx.policy.sla, tier=tier)
    _audit(uow, "ticket.followup", ticket.id, ctx=ctx, detail={"message_id": stored.id})
    return IntakeResult(
        Disposition.FOLLOWUP,
        ticket_id=ticket.id,
        ticket_ref=ticket.ref,
        message_id=stored.id,
        needs_draft=True,
    )


def _reopen(ticket: Ticket, *, now: datetime, ctx: IntakeContext, tier: Tier) -> Ticket:
    """A customer's reply restarts a paused SLA clock and reopens a solved ticket."""
    if ticket.status is TicketStatus.PENDING and ticket.sla_paused_at is not None:
        calendar = sla_target_for(ticket.priority, tier, policy=ctx.policy.sla).calendar
        return replace(
            ticket,
            status=TicketStatus.OPEN,
            sla_paused_at=None,
            resolution_due=resume_sla(
                ticket.resolution_due,
                paused_at=ticket.sla_paused_at,
                resumed_at=now,
                policy=ctx.policy.sla,
                calendar=calendar,
            ),
        )
    if ticket.status in (TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED):
        return replace(ticket, status=TicketStatus.OPEN, resolved_at=None, sla_paused_at=None)
    return ticket


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


def _note_automatic(
    uow: UnitOfWork,
    msg: InboundMessage,
    kind: AutoKind,
    ticket: Ticket | None,
    *,
    ctx: IntakeContext,
) -> IntakeResult:
    """Automatic mail is kept and noted, never drafted to or answered (loop defence)."""
    for address in msg.bounced_recipients:
        customer = uow.customers.get_by_email(address.lower())
        if customer is not None and not customer.bounced:
            uow.customers.save(replace(customer, bounced=True))
            _audit(uow, "customer.bounced", None, ctx=ctx, detail={"customer_id": customer.id})
    if ticket is None or ticket.id is None:
        held = uow.quarantine.add(
            QuarantineItem(
                channel=msg.channel,
                raw=msg.raw,
                reason=f"automatic message ({kind}) that matches no ticket",
                received_at=msg.received_at,
                source_id=msg.dedupe_key,
                status=QuarantineStatus.IGNORED,
            )
        )
        return IntakeResult(Disposition.IGNORED_AUTOMATIC, quarantine_id=held.id, reason=kind)
    stored = _store_message(uow, msg, ticket.id, automatic=kind)
    _audit(uow, "message.automatic", ticket.id, ctx=ctx, detail={"kind": kind})
    return IntakeResult(
        Disposition.IGNORED_AUTOMATIC,
        ticket_id=ticket.id,
        ticket_ref=ticket.ref,
        message_id=stored.id,
        reason=kind,
    )


def _quarantine(
    uow: UnitOfWork,
    msg: InboundMessage,
    *,
    reason: str,
    ctx: IntakeContext,
    retry_of: QuarantineItem | None = None,
) -> IntakeResult:
    if retry_of is not None:
        return IntakeResult(Disposition.QUARANTINED, quarantine_id=retry_of.id, reason=reason)
    item = uow.quarantine.add(
        QuarantineItem(
            channel=msg.channel,
            raw=msg.raw,
            reason=reason[:_MAX_REASON],
            received_at=msg.received_at,
            source_id=msg.dedupe_key,
        )
    )
    _audit(uow, "message.quarantined", None, ctx=ctx, detail={"quarantine_id": item.id})
    return IntakeResult(Disposition.QUARANTINED, quarantine_id=item.id, reason=reason)


def _audit(
    uow: UnitOfWork,
    action: str,
    ticket_id: int | None,
    *,
    ctx: IntakeContext,
    detail: dict[str, object],
) -> None:
    uow.audit.add(
        AuditEvent(
            actor="supportbot",
            action=action,
            at=ctx.clock.now(),
            ticket_id=ticket_id,
            detail=json.dumps(detail, default=str),
        )
    )
