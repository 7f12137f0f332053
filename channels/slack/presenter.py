"""Shows tickets in Slack: the card in the agents' channel, the customer's messages and the
drafts in its thread, each updated in place as things change.

Presentation is reconciliation: `present` compares what the database says with the posts
recorded for the ticket (`uow.posts`) and posts only what is missing, so running it twice
(a retried scheduled action, a second instance) does not post twice: one run at a time per
ticket across instances (`UnitOfWork.lock`), and a post whose run died before recording it
is found in Slack by its metadata rather than made again (`_post`). It runs from durable
scheduled actions (`slack.present`, `slack.refresh`), so a Slack outage delays the card
rather than losing it. Updates pass blocks, never text alone: `chat.update` with text only
keeps the old buttons (libraries.md §3).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient

from channels.slack import blocks
from channels.slack.posting import OncePoster
from core.model import (
    AuditEvent,
    ChannelPost,
    Customer,
    Decision,
    Direction,
    Draft,
    DraftStatus,
    Message,
    OutboxStatus,
    PostKind,
    ScheduledAction,
    Ticket,
)
from core.ports import Clock, UnitOfWork

log = logging.getLogger(__name__)

POST_EVENT = "supportbot_post"  # message metadata: which ticket, and what the message shows
_CARD_CHANGES = frozenset(
    {
        "ticket.reclassified",
        "ticket.priority",
        "ticket.assigned",
        "ticket.snoozed",
        "ticket.resolved",
        "ticket.woken",
    }
)


@dataclass(frozen=True)
class _Snapshot:
    ticket: Ticket
    customer: Customer
    inbound: list[Message]
    drafts: list[Draft]
    reasons: dict[int, str]
    sent_drafts: frozenset[int]
    posts: list[ChannelPost]
    last_change: AuditEvent | None = None


class Presenter:
    """Posts and updates one ticket's Slack messages; thread-safe within a process."""

    def __init__(
        self,
        client: WebClient,
        poster: OncePoster,
        *,
        new_uow: Callable[[], UnitOfWork],
        clock: Clock,
        agents_channel: str,
    ) -> None:
        self._client = client
        self._new_uow = new_uow
        self._clock = clock
        self._channel = agents_channel
        self._poster = poster
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- scheduled-action handlers ----------------------------------------------------------

    def handle_present(self, action: ScheduledAction) -> None:
        assert action.ticket_id is not None
        self.present(action.ticket_id)

    def handle_refresh(self, action: ScheduledAction) -> None:
        assert action.ticket_id is not None
        draft_id = json.loads(action.payload).get("draft_id")
        self.present(action.ticket_id, refresh_draft=draft_id, refresh_card=True)

    def handle_refresh_card(self, action: ScheduledAction) -> None:
        assert action.ticket_id is not None
        self.present(action.ticket_id, refresh_draft=-1, refresh_card=True)

    # -- the work ---------------------------------------------------------------------------

    def present(
        self,
        ticket_id: int,
        *,
        refresh_draft: int | None = None,
        refresh_card: bool = False,
    ) -> None:
        """Post what is missing for the ticket; update the card and one draft when asked.

        One ticket is presented by one thread of one instance at a time: two would both find
        the card missing and post it twice. The database lock (`UnitOfWork.lock`) is held in
        a transaction of its own while the work opens and commits others."""
        with self._lock_for(ticket_id), self._new_uow() as guard:
            guard.lock(f"slack-present:{ticket_id}")
            snap = self._snapshot(ticket_id)
            card = next((p for p in snap.posts if p.kind is PostKind.CARD), None)
            is_sent = bool(snap.sent_drafts)
            if card is None:
                rendered = blocks.ticket_card(
                    snap.ticket, snap.customer, sent=is_sent, last_change=snap.last_change
                )
                card = self._post(ticket_id, PostKind.CARD, rendered, thread_ts=None)
            elif refresh_card:
                rendered = blocks.ticket_card(
                    snap.ticket, snap.customer, sent=is_sent, last_change=snap.last_change
                )
                self._update(card, rendered)
            shown_messages = {p.message_id for p in snap.posts if p.kind is PostKind.CUSTOMER}
            sender = snap.customer.email
            if snap.customer.name:
                sender = f"{snap.customer.name} <{snap.customer.email}>"
            for message in snap.inbound:
                if message.id in shown_messages:
                    continue
                rendered = blocks.customer_message(message, sender=sender)
                self._post(
                    ticket_id, PostKind.CUSTOMER, rendered, thread_ts=card.ts, message_id=message.id
                )
            draft_posts = {p.draft_id: p for p in snap.posts if p.kind is PostKind.DRAFT}
            for draft in snap.drafts:
                assert draft.id is not None
                rendered = self._draft(draft, snap)
                post = draft_posts.get(draft.id)
                if post is None:
                    self._post(
                        ticket_id, PostKind.DRAFT, rendered, thread_ts=card.ts, draft_id=draft.id
                    )
                elif draft.id == refresh_draft or (
                    refresh_draft is None and draft.status is not DraftStatus.PENDING
                ):
                    self._update(post, rendered)

    def _draft(self, draft: Draft, snap: _Snapshot) -> blocks.Rendered:
        assert draft.id is not None
        if draft.status is DraftStatus.PENDING:
            return blocks.draft_message(draft, ref=snap.ticket.ref)
        return blocks.decided_message(
            draft,
            ref=snap.ticket.ref,
            reason=snap.reasons.get(draft.id, ""),
            is_sent=draft.id in snap.sent_drafts,
        )

    def _snapshot(self, ticket_id: int) -> _Snapshot:
        with self._new_uow() as uow:
            ticket = uow.tickets.get(ticket_id)
            if ticket is None:
                raise LookupError(f"no ticket {ticket_id}")
            customer = uow.customers.get(ticket.customer_id)
            if customer is None:
                raise LookupError(f"ticket {ticket.ref} has no customer")
            inbound = [
                m
                for m in uow.messages.list_for_ticket(ticket_id)
                if m.direction is Direction.INBOUND and m.id is not None and m.automatic is None
            ]
            drafts = uow.drafts.list_for_ticket(ticket_id)
            reasons: dict[int, str] = {}
            for draft in drafts:
                if draft.status is DraftStatus.REJECTED and draft.id is not None:
                    decisions: list[Decision] = uow.drafts.list_decisions(draft.id)
                    reasons[draft.id] = next((d.reason for d in decisions if d.reason), "")
            sent = frozenset(
                item.draft_id
                for item in uow.outbox.list_for_ticket(ticket_id)
                if item.status is OutboxStatus.SENT and item.draft_id is not None
            )
            posts = uow.posts.list_for_ticket(ticket_id)
            changes = [e for e in uow.audit.list_for_ticket(ticket_id) if e.action in _CARD_CHANGES]
        last = changes[-1] if changes else None
        return _Snapshot(ticket, customer, inbound, drafts, reasons, sent, posts, last)

    def _post(
        self,
        ticket_id: int,
        kind: PostKind,
        rendered: blocks.Rendered,
        *,
        thread_ts: str | None,
        draft_id: int | None = None,
        message_id: int | None = None,
    ) -> ChannelPost:
        """Post and record, at most once (`channels.slack.posting`): a post whose run died
        before recording it is found in Slack by its metadata and updated, not made again."""
        payload = {
            "ticket_id": ticket_id,
            "kind": kind.value,
            "draft_id": draft_id or 0,
            "message_id": message_id or 0,
        }
        posted = self._poster.post(
            ":".join(str(value) for value in payload.values()),
            channel=self._channel,
            thread_ts=thread_ts,
            text=rendered.text,
            blocks=rendered.blocks,
            event_type=POST_EVENT,
            payload=payload,
        )
        if posted.is_found:
            log.warning("found an unrecorded %s post in slack", kind.value, extra=payload)
            self._client.chat_update(
                channel=posted.channel, ts=posted.ts, text=rendered.text, blocks=rendered.blocks
            )
        post = ChannelPost(
            ticket_id=ticket_id,
            kind=kind,
            channel=posted.channel,
            ts=posted.ts,
            created_at=self._clock.now(),
            draft_id=draft_id,
            message_id=message_id,
        )
        with self._new_uow() as uow:
            post = uow.posts.add(post)
            uow.commit()
        log.info("posted %s to slack", kind.value, extra={"ticket_id": ticket_id})
        return post

    def _update(self, post: ChannelPost, rendered: blocks.Rendered) -> None:
        self._client.chat_update(
            channel=post.channel, ts=post.ts, text=rendered.text, blocks=rendered.blocks
        )

    def _lock_for(self, ticket_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(ticket_id, threading.Lock())
