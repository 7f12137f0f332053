"""The draft state machine: pending → approved | edited | rejected, approved | edited → sent.

Every transition is a conditional update on (draft id, version, status), so a double click,
two approvers or a click on a stale version change the state at most once. Approving writes
the outbox row in the same transaction: there is no approved reply without its outbox item
and no outbox item without an approval recorded with who and when.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from core.errors import InvalidInput, NotAuthorised, NotFound
from core.model import (
    AuditEvent,
    AutoKind,
    Channel,
    Decision,
    Direction,
    Draft,
    DraftStatus,
    Message,
    OutboxItem,
    Ticket,
    TicketStatus,
)
from core.ports import Clock, UnitOfWork
from core.sla_actions import cancel_sla_actions
from core.threading import make_message_id, reply_subject

_MAX_REFERENCES = 20  # RFC 5322 allows trimming the middle of long References chains


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY_DECIDED = "already_decided"  # someone (maybe this actor) decided first
    STALE = "stale"  # a newer version of the draft exists


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may decide on drafts: actor ids such as `slack:U123` or `web:alice`."""

    approvers: frozenset[str] = frozenset()

    def may_decide(self, actor: str) -> bool:
        return actor in self.approvers


@dataclass(frozen=True)
class Identity:
    """What our outbound mail is signed with, for deterministic, verifiable Message-IDs."""

    thread_secret: bytes
    domain: str


@dataclass(frozen=True)
class Decided:
    outcome: Outcome
    draft: Draft
    outbox: OutboxItem | None = None


def approve(
    uow: UnitOfWork,
    *,
    draft_id: int,
    version: int,
    actor: str,
    policy: ApprovalPolicy,
    clock: Clock,
    identity: Identity,
    edited_text: str | None = None,
) -> Decided:
    """Approve a draft version (with the approver's edits, if any) and queue the reply."""
    if edited_text is not None and not edited_text.strip():
        raise InvalidInput("an edited reply cannot be empty")
    _authorise(uow, actor=actor, policy=policy, clock=clock, draft_id=draft_id)
    now = clock.now()
    with uow:
        draft = _get_draft(uow, draft_id)
        is_edit = edited_text is not None and edited_text.strip() != draft.text.strip()
        status = DraftStatus.EDITED if is_edit else DraftStatus.APPROVED
        if not uow.drafts.transition(
            draft_id,
            version=version,
            from_statuses=[DraftStatus.PENDING],
            to_status=status,
            actor=actor,
            at=now,
            text=edited_text if is_edit else None,
        ):
            return _refused(draft)
        text = edited_text if is_edit and edited_text is not None else draft.text
        uow.drafts.add_decision(
            Decision(
                draft_id=draft_id,
                version=version,
                actor=actor,
                action=status,
                at=now,
                diff=_diff(draft.text, text) if is_edit else "",
            )
        )
        ticket = _get_ticket(uow, draft.ticket_id)
        item = queue_reply(uow, ticket, text, draft=draft, identity=identity, now=now, author=actor)
        _audit(uow, f"draft.{status}", actor, ticket.id, now, {"draft_id": draft_id, "v": version})
        uow.commit()
        approved = replace(draft, status=status, text=text, decided_by=actor, decided_at=now)
        return Decided(Outcome.APPLIED, approved, item)


def reject(
    uow: UnitOfWork,
    *,
    draft_id: int,
    version: int,
    actor: str,
    reason: str,
    policy: ApprovalPolicy,
    clock: Clock,
) -> Decided:
    """Reject a draft version; the reason is kept so rejections can be reported and learned from."""
    if not reason.strip():
        raise InvalidInput("a rejection needs a reason")
    _authorise(uow, actor=actor, policy=policy, clock=clock, draft_id=draft_id)
    now = clock.now()
    with uow:
        draft = _get_draft(uow, draft_id)
        if not uow.drafts.transition(
            draft_id,
            version=version,
            from_statuses=[DraftStatus.PENDING],
            to_status=DraftStatus.REJECTED,
            actor=actor,
            at=now,
        ):
            return _refused(draft)
        uow.drafts.add_decision(
            Decision(
                draft_id=draft_id,
                version=version,
                actor=actor,
                action=DraftStatus.REJECTED,
                at=now,
                reason=reason.strip(),
            )
        )
        _audit(uow, "draft.rejected", actor, draft.ticket_id, now, {"draft_id": draft_id})
        uow.commit()
        rejected = replace(draft, status=DraftStatus.REJECTED, decided_by=actor, decided_at=now)
        return Decided(Outcome.APPLIED, rejected)


def mark_sent(uow: UnitOfWork, *, outbox_id: int, clock: Clock) -> bool:
    """Record that a channel delivered an outbox item: draft → sent, ticket waits on the customer.

    Returns False when the item was already recorded as sent, so a redelivery changes nothing.
    """
    now = clock.now()
    with uow:
        item = uow.outbox.get(outbox_id)
        if item is None:
            raise NotFound(f"no outbox item {outbox_id}")
        if not uow.outbox.mark_sent(outbox_id, at=now):
            return False
        if item.draft_id is None:  # an acknowledgement is not a first response
            _audit(uow, "ack.sent", "supportbot", item.ticket_id, now, {"outbox_id": outbox_id})
            uow.commit()
            return True
        draft = _get_draft(uow, item.draft_id)
        uow.drafts.transition(
            item.draft_id,
            version=draft.version,
            from_statuses=[DraftStatus.APPROVED, DraftStatus.EDITED],
            to_status=DraftStatus.SENT,
            at=now,
        )
        ticket = _get_ticket(uow, item.ticket_id)
        uow.tickets.save(
            replace(
                ticket,
                status=TicketStatus.PENDING,
                sla_paused_at=now,
                first_responded_at=ticket.first_responded_at or now,
                updated_at=now,
            )
        )
        # Answered and now waiting on the customer: the SLA clock pauses, so no warning or
        # escalation stands until a follow-up resumes it (intake plans them again).
        cancel_sla_actions(uow, item.ticket_id)
        _audit(uow, "reply.sent", "supportbot", ticket.id, now, {"outbox_id": outbox_id})
        uow.commit()
        return True


def _authorise(
    uow: UnitOfWork, *, actor: str, policy: ApprovalPolicy, clock: Clock, draft_id: int
) -> None:
    if policy.may_decide(actor):
        return
    with uow:
        draft = uow.drafts.get(draft_id)
        _audit(
            uow,
            "draft.refused",
            actor,
            draft.ticket_id if draft else None,
            clock.now(),
            {"draft_id": draft_id},
        )
        uow.commit()
    raise NotAuthorised(f"{actor} is not an approver")


def _refused(draft: Draft) -> Decided:
    outcome = Outcome.STALE if draft.status is DraftStatus.SUPERSEDED else Outcome.ALREADY_DECIDED
    return Decided(outcome, draft)


def queue_reply(
    uow: UnitOfWork,
    ticket: Ticket,
    text: str,
    *,
    draft: Draft | None,
    identity: Identity,
    now: datetime,
    author: str,
) -> OutboxItem:
    """Queue a reply on `ticket` threaded under the customer's latest message, and record it
    in the conversation under its Message-ID so the customer's answer threads back to it.

    `draft` None is the automatic acknowledgement: Message-ID version 0, marked automatic.
    """
    assert ticket.id is not None
    customer = uow.customers.get(ticket.customer_id)
    if customer is None:
        raise NotFound(f"ticket {ticket.ref} has no customer")
    # Slack-born tickets are answered in their Slack thread; every other ticket (email, API,
    # web form) by email to the customer, the one address we always have.
    reply_channel = Channel.SLACK if ticket.channel is Channel.SLACK else Channel.EMAIL
    thread = [
        m for m in uow.messages.list_for_ticket(ticket.id) if m.direction is not Direction.NOTE
    ]
    inbound = [m.external_id for m in thread if m.direction is Direction.INBOUND]
    ids = [m.external_id for m in thread]
    references = tuple(ids[:1] + ids[1:][-(_MAX_REFERENCES - 1) :]) if ids else ()
    item = uow.outbox.add(
        OutboxItem(
            ticket_id=ticket.id,
            draft_id=draft.id if draft else None,
            automatic=draft is None,
            channel=reply_channel,
            recipient=customer.email
            if reply_channel is Channel.EMAIL
            else (ticket.thread_key or ""),
            subject=reply_subject(ticket.subject, ticket.ref),
            body=text,
            message_id=make_message_id(
                ref=ticket.ref,
                draft_id=(draft.id or 0) if draft else 0,
                version=draft.version if draft else 0,
                secret=identity.thread_secret,
                domain=identity.domain,
            ),
            created_at=now,
            in_reply_to=inbound[-1] if inbound else None,
            references=references,
        )
    )
    uow.messages.add(
        Message(
            ticket_id=ticket.id,
            direction=Direction.OUTBOUND,
            channel=reply_channel,
            external_id=item.message_id,
            author=author,
            text=text,
            created_at=now,
            subject=item.subject,
            automatic=AutoKind.AUTO_REPLY if draft is None else None,
        )
    )
    return item


def _diff(before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), "draft", "sent"
        )
    )


def _get_draft(uow: UnitOfWork, draft_id: int) -> Draft:
    draft = uow.drafts.get(draft_id)
    if draft is None:
        raise NotFound(f"no draft with id {draft_id}")
    return draft


def _get_ticket(uow: UnitOfWork, ticket_id: int) -> Ticket:
    ticket = uow.tickets.get(ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}")
    return ticket


def _audit(
    uow: UnitOfWork,
    action: str,
    actor: str,
    ticket_id: int | None,
    at: datetime,
    detail: dict[str, object],
) -> None:
    uow.audit.add(
        AuditEvent(
            actor=actor, action=action, at=at, ticket_id=ticket_id, detail=json.dumps(detail)
        )
    )
