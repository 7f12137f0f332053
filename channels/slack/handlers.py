"""Bolt listeners: translate clicks, modal submissions and messages into core calls.

Every listener acks first. Bolt (process_before_response=False) runs a listener on its
executor and answers Slack as soon as `ack()` is called, so the work after it never holds
the 3-second deadline; views.open for Edit/Reject comes right after the ack because the
trigger_id dies ~3 s after the click. Decisions go through `core.approval` (a conditional
update: a double click, two agents, a stale version act once); the draft's Slack message is
then refreshed by a durable `slack.refresh` action, so it shows the real state whoever won.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from channels.slack import blocks, translate, views
from channels.slack.actions import refresh_action, refresh_card_action
from channels.slack.approvers import Approvers
from channels.slack.config import SlackConfig
from core import queue, ticket_actions
from core.approval import Decided, Identity, Outcome, approve, reject
from core.errors import InvalidInput, NotAuthorised, NotFound
from core.model import (
    AuditEvent,
    Disposition,
    Draft,
    DraftStatus,
    InboundMessage,
    PostKind,
    Priority,
    ScheduledAction,
)
from core.ports import Clock, UnitOfWork
from core.triage.sla import SlaPolicy

log = logging.getLogger(__name__)

REFUSED = "You are not an approver for support replies, so nothing was done."


@dataclass(frozen=True)
class Desk:
    """What the listeners may do, handed in by the composition root (channels never import
    bot/): storage, time, our identity, and the few service operations they trigger."""

    config: SlackConfig
    new_uow: Callable[[], UnitOfWork]
    clock: Clock
    identity: Identity
    approvers: Approvers
    receive: Callable[[InboundMessage], object]  # Services.receive: intake + draft
    # Services.regenerate: a new draft version, made in the background when a model drafts;
    # None when one is already under way for the ticket.
    regenerate: Callable[[int], object | None]
    request: Callable[[ScheduledAction], None]  # enqueue a durable action and run it soon
    retry: Callable[[int], Any] | None = None  # Services.retry: a quarantined message again
    categories: tuple[str, ...] = ()  # what a ticket may be reclassified to
    sla: SlaPolicy = field(default_factory=SlaPolicy)  # due times after a priority change


def register(app: App, desk: Desk) -> None:
    """Attach every listener to `app`."""
    listeners = _Listeners(desk)
    app.action(blocks.APPROVE)(listeners.on_approve)
    app.action(blocks.EDIT)(listeners.on_edit)
    app.action(blocks.REJECT)(listeners.on_reject)
    app.action(blocks.REGENERATE)(listeners.on_regenerate)
    app.view(blocks.EDIT_VIEW)(listeners.on_edit_submit)
    app.view(blocks.REJECT_VIEW)(listeners.on_reject_submit)
    app.event("message")(listeners.on_message)
    tickets = _TicketListeners(desk)
    app.action(blocks.TICKET_MENU)(tickets.on_menu)
    app.view(blocks.TICKET_VIEW)(tickets.on_triage_submit)
    app.action(blocks.RETRY)(tickets.on_retry)
    app.command("/support")(tickets.on_command)
    app.event("app_home_opened")(tickets.on_home_opened)


class _Listeners:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    # -- buttons ----------------------------------------------------------------------------

    def on_approve(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, draft_id, version = _clicked(body)
        decided = self._decide(
            client,
            body,
            lambda policy: approve(
                self.desk.new_uow(),
                draft_id=draft_id,
                version=version,
                actor=f"slack:{user}",
                policy=policy,
                clock=self.desk.clock,
                identity=self.desk.identity,
            ),
        )
        if decided is not None:
            self._refresh(decided.draft)

    def on_edit(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        self._open_modal(body, client, blocks.edit_modal)

    def on_reject(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        self._open_modal(body, client, blocks.reject_modal)

    def on_regenerate(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, draft_id, version = _clicked(body)
        if not self.desk.approvers.may_decide(user):
            self._ephemeral(client, body, REFUSED)
            return
        draft, ref = self._draft(draft_id)
        if draft.status is not DraftStatus.PENDING or draft.version != version:
            self._ephemeral(client, body, f"Draft v{version} of {ref} is no longer pending.")
            self._refresh(draft)
            return
        now = self.desk.clock.now()
        with self.desk.new_uow() as uow:
            uow.audit.add(
                AuditEvent(
                    actor=f"slack:{user}",
                    action="draft.regenerate",
                    at=now,
                    ticket_id=draft.ticket_id,
                    detail=json.dumps({"draft_id": draft_id, "version": version}),
                )
            )
            uow.commit()
        # Shown before the work starts, so the "superseded" update that follows it wins.
        container = body.get("container") or {}
        rendered = blocks.regenerating_message(draft, ref=ref, by=f"slack:{user}", at=now)
        try:
            client.chat_update(
                channel=str(container.get("channel_id")),
                ts=str(container.get("message_ts")),
                text=rendered.text,
                blocks=rendered.blocks,
            )
        except SlackApiError as exc:
            log.warning("could not show regenerating: %s", exc.response.get("error"))
        if self.desk.regenerate(draft.ticket_id) is None:  # the pool posts v+1 when done
            self._ephemeral(client, body, f"{ref} is already being regenerated.")
            return
        log.info("draft regeneration started", extra={"ticket_id": draft.ticket_id})

    # -- modals -----------------------------------------------------------------------------

    def on_edit_submit(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        text = _input(view, blocks.EDIT_BLOCK, blocks.EDIT_INPUT)
        if not text.strip():
            ack(response_action="errors", errors={blocks.EDIT_BLOCK: "The reply is empty."})
            return
        ack()
        user = body["user"]["id"]
        draft_id, version = blocks.parse_draft_value(view["private_metadata"])
        decided = self._decide(
            client,
            body,
            lambda policy: approve(
                self.desk.new_uow(),
                draft_id=draft_id,
                version=version,
                actor=f"slack:{user}",
                policy=policy,
                clock=self.desk.clock,
                identity=self.desk.identity,
                edited_text=text,
            ),
        )
        if decided is not None:
            self._refresh(decided.draft)

    def on_reject_submit(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        reason = _input(view, blocks.REASON_BLOCK, blocks.REASON_INPUT)
        if not reason.strip():
            ack(response_action="errors", errors={blocks.REASON_BLOCK: "Please give a reason."})
            return
        ack()
        user = body["user"]["id"]
        draft_id, version = blocks.parse_draft_value(view["private_metadata"])
        decided = self._decide(
            client,
            body,
            lambda policy: reject(
                self.desk.new_uow(),
                draft_id=draft_id,
                version=version,
                actor=f"slack:{user}",
                reason=reason,
                policy=policy,
                clock=self.desk.clock,
            ),
        )
        if decided is not None:
            self._refresh(decided.draft)

    # -- messages ---------------------------------------------------------------------------

    def on_message(self, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        """Bolt acks events itself, before this runs."""
        if not translate.is_from_person(event, bot_user_id=context.bot_user_id):
            return
        event_id = str(body.get("event_id") or "")
        now = self.desk.clock.now()
        with self.desk.new_uow() as uow:
            if event_id and not uow.events.first_time("slack", event_id, at=now):
                log.info("duplicate slack event %s ignored", event_id)
                return
            uow.commit()
        channel = str(event.get("channel", ""))
        thread_ts = event.get("thread_ts")
        if channel == self.desk.config.agents_channel:
            if thread_ts:
                self._note(event, channel=channel, thread_ts=str(thread_ts))
            return
        is_dm = event.get("channel_type") == "im"
        if is_dm or channel in self.desk.config.intake_channels:
            self._intake(body, event, context)

    def _note(self, event: dict[str, Any], *, channel: str, thread_ts: str) -> None:
        with self.desk.new_uow() as uow:
            post = uow.posts.find(channel, thread_ts)
            if post is None:
                return
            note = translate.note(event, ticket_id=post.ticket_id, at=self.desk.clock.now())
            if uow.messages.get_by_external_id(note.channel, note.external_id) is None:
                uow.messages.add(note)
                uow.commit()
                log.info("agent note stored", extra={"ticket_id": post.ticket_id})

    def _intake(self, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        user = str(event.get("user", ""))
        email, name = "", ""
        try:
            if context.client is not None:
                found: dict[str, Any] = context.client.users_info(user=user).get("user") or {}
                profile: dict[str, Any] = found.get("profile") or {}
                email = str(profile.get("email") or "")
                name = str(profile.get("real_name") or found.get("real_name") or "")
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
        team = str(body.get("team_id") or event.get("team") or "")
        msg = translate.inbound_message(
            event,
            raw=json.dumps(event).encode(),
            received_at=self.desk.clock.now(),
            sender_email=email or translate.placeholder_email(user, team),
            sender_name=name,
        )
        self.desk.receive(msg)

    # -- helpers ----------------------------------------------------------------------------

    def _decide(
        self,
        client: WebClient,
        body: dict[str, Any],
        decide: Callable[[Any], Decided],
    ) -> Decided | None:
        """Run a decision; tell the clicker (ephemerally) when it did nothing and why."""
        try:
            decided = decide(self.desk.approvers.policy())
        except NotAuthorised:
            self._ephemeral(client, body, REFUSED)
            return None
        except InvalidInput as exc:
            self._ephemeral(client, body, str(exc))
            return None
        if decided.outcome is Outcome.APPLIED:
            return decided
        draft = decided.draft
        who = f" by {blocks.mention(draft.decided_by)}" if draft.decided_by else ""
        if decided.outcome is Outcome.STALE:
            message = f"Draft v{draft.version} was replaced by a newer version; nothing was done."
        else:
            message = f"Draft v{draft.version} was already {draft.status.value}{who}."
        self._ephemeral(client, body, message)
        return decided

    def _open_modal(
        self, body: dict[str, Any], client: WebClient, build: Callable[..., dict[str, Any]]
    ) -> None:
        user, draft_id, version = _clicked(body)
        if not self.desk.approvers.may_decide(user):
            self._ephemeral(client, body, REFUSED)
            return
        draft, ref = self._draft(draft_id)
        if draft.status is not DraftStatus.PENDING or draft.version != version:
            self._ephemeral(client, body, f"Draft v{version} of {ref} is no longer pending.")
            self._refresh(draft)
            return
        client.views_open(trigger_id=body["trigger_id"], view=build(draft, ref=ref))

    def _draft(self, draft_id: int) -> tuple[Draft, str]:
        with self.desk.new_uow() as uow:
            draft = uow.drafts.get(draft_id)
            if draft is None:
                raise LookupError(f"no draft {draft_id}")
            ticket = uow.tickets.get(draft.ticket_id)
        return draft, ticket.ref if ticket else ""

    def _refresh(self, draft: Draft) -> None:
        self.desk.request(refresh_action(draft, now=self.desk.clock.now()))

    def _ephemeral(self, client: WebClient, body: dict[str, Any], text: str) -> None:
        """Only the clicker sees it. A modal submission has no channel: fall back to a DM."""
        user = body["user"]["id"]
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        try:
            if channel:
                client.chat_postEphemeral(
                    channel=channel, user=user, text=text, thread_ts=container.get("thread_ts")
                )
            else:
                client.chat_postMessage(channel=user, text=text)
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user, exc.response.get("error"))


def _clicked(body: dict[str, Any]) -> tuple[str, int, int]:
    action = body["actions"][0]
    draft_id, version = blocks.parse_draft_value(str(action["value"]))
    return str(body["user"]["id"]), draft_id, version


def _input(view: dict[str, Any], block_id: str, action_id: str) -> str:
    state = view.get("state", {}).get("values", {})
    return str(state.get(block_id, {}).get(action_id, {}).get("value") or "")


class _TicketListeners:
    """The card's overflow menu, `/support`, the Home tab and the quarantine Retry button."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    # -- the overflow menu ------------------------------------------------------------------

    def on_menu(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = str(body["user"]["id"])
        action = body["actions"][0]
        op, ticket_id = blocks.parse_menu_value(str(action["selected_option"]["value"]))
        if not self.desk.approvers.may_decide(user):
            self._refuse(client, body, ticket_id, op)
            return
        if op == blocks.MENU_TRIAGE:
            with self.desk.new_uow() as uow:
                ticket = uow.tickets.get(ticket_id)
            if ticket is None:
                _ephemeral(client, body, f"No ticket {ticket_id}.")
                return
            view = blocks.triage_modal(ticket, categories=self.desk.categories)
            client.views_open(trigger_id=body["trigger_id"], view=view)
            return
        self._change(
            client, body, ticket_id, lambda actor, policy: self._op(op, ticket_id, actor, policy)
        )

    def _op(self, op: str, ticket_id: int, actor: str, policy: Any) -> ticket_actions.TicketChange:
        common: dict[str, Any] = {
            "ticket_id": ticket_id,
            "actor": actor,
            "policy": policy,
            "clock": self.desk.clock,
        }
        uow = self.desk.new_uow()
        if op == blocks.MENU_ASSIGN:
            return ticket_actions.assign(uow, assignee=actor, **common)
        if op == blocks.MENU_UNASSIGN:
            return ticket_actions.assign(uow, assignee=None, **common)
        if op == blocks.MENU_RESOLVE:
            return ticket_actions.resolve(uow, **common)
        raise InvalidInput(f"unknown menu option {op!r}")

    def on_triage_submit(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        ticket_id = int(view["private_metadata"])
        category = _selected(view, blocks.CATEGORY_BLOCK, blocks.CATEGORY_INPUT)
        priority = _selected(view, blocks.PRIORITY_BLOCK, blocks.PRIORITY_INPUT)
        assignee = _selected_user(view, blocks.ASSIGNEE_BLOCK, blocks.ASSIGNEE_INPUT)
        snooze = _selected(view, blocks.SNOOZE_BLOCK, blocks.SNOOZE_INPUT)
        if category:
            self._change(
                client,
                body,
                ticket_id,
                lambda actor, policy: ticket_actions.reclassify(
                    self.desk.new_uow(),
                    ticket_id=ticket_id,
                    category=category,
                    categories=self.desk.categories,
                    actor=actor,
                    policy=policy,
                    clock=self.desk.clock,
                ),
            )
        if priority:
            self._change(
                client,
                body,
                ticket_id,
                lambda actor, policy: ticket_actions.set_priority(
                    self.desk.new_uow(),
                    ticket_id=ticket_id,
                    priority=Priority(priority),
                    actor=actor,
                    policy=policy,
                    clock=self.desk.clock,
                    sla=self.desk.sla,
                ),
            )
        if assignee:
            self._change(
                client,
                body,
                ticket_id,
                lambda actor, policy: ticket_actions.assign(
                    self.desk.new_uow(),
                    ticket_id=ticket_id,
                    assignee=f"slack:{assignee}",
                    actor=actor,
                    policy=policy,
                    clock=self.desk.clock,
                ),
            )
        if snooze:
            choice = ticket_actions.SnoozeChoice(snooze)
            until = ticket_actions.snooze_until(
                self.desk.clock.now(), choice, hours=self.desk.sla.business_hours
            )
            self._change(
                client,
                body,
                ticket_id,
                lambda actor, policy: ticket_actions.snooze(
                    self.desk.new_uow(),
                    ticket_id=ticket_id,
                    until=until,
                    actor=actor,
                    policy=policy,
                    clock=self.desk.clock,
                ),
            )

    def _change(
        self,
        client: WebClient,
        body: dict[str, Any],
        ticket_id: int,
        run: Callable[[str, Any], ticket_actions.TicketChange],
    ) -> None:
        user = str(body["user"]["id"])
        try:
            changed = run(f"slack:{user}", self.desk.approvers.policy())
        except NotAuthorised:
            _ephemeral(client, body, REFUSED)
            return
        except (InvalidInput, NotFound) as exc:
            _ephemeral(client, body, str(exc))
            return
        if changed.applied:
            now = self.desk.clock.now()
            self.desk.request(refresh_card_action(ticket_id, change=str(changed.event_id), now=now))

    def _refuse(self, client: WebClient, body: dict[str, Any], ticket_id: int, op: str) -> None:
        user = str(body["user"]["id"])
        with self.desk.new_uow() as uow:
            uow.audit.add(
                AuditEvent(
                    actor=f"slack:{user}",
                    action="ticket.refused",
                    at=self.desk.clock.now(),
                    ticket_id=ticket_id,
                    detail=json.dumps({"action": op}),
                )
            )
            uow.commit()
        _ephemeral(client, body, REFUSED)

    # -- quarantine Retry -------------------------------------------------------------------

    def on_retry(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = str(body["user"]["id"])
        item_id = int(str(body["actions"][0]["value"]))
        if not self.desk.approvers.may_decide(user) or self.desk.retry is None:
            _ephemeral(client, body, REFUSED)
            return
        with self.desk.new_uow() as uow:
            item = uow.quarantine.get(item_id)
            uow.audit.add(
                AuditEvent(
                    actor=f"slack:{user}",
                    action="quarantine.retried",
                    at=self.desk.clock.now(),
                    detail=json.dumps({"quarantine_id": item_id}),
                )
            )
            uow.commit()
        reason = item.reason if item is not None else "unknown"
        try:
            result = self.desk.retry(item_id)
        except NotFound as exc:
            _ephemeral(client, body, str(exc))
            return
        who = f"Retried by <@{user}> at {blocks.slack_date(self.desk.clock.now())}"
        disposition = getattr(result, "disposition", None)
        if disposition is Disposition.QUARANTINED:
            why = blocks.escape(str(getattr(result, "reason", "")))
            outcome, can_retry = f"{who}: still quarantined ({why})", True
        else:
            ref = getattr(result, "ticket_ref", None)
            what = str(disposition.value if disposition else "done").replace("_", " ")
            outcome = f"{who}: {what}" + (f", ticket {blocks.escape(ref)}" if ref else "")
            can_retry = False
        rendered = views.quarantine_alert(
            item_id, reason=reason, outcome=outcome, can_retry=can_retry
        )
        container = body.get("container") or {}
        client.chat_update(
            channel=str(container.get("channel_id")),
            ts=str(container.get("message_ts")),
            text=rendered.text,
            blocks=rendered.blocks,
        )

    # -- /support ---------------------------------------------------------------------------

    def on_command(self, ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        """Answered in the ack itself (ephemeral): every lookup is a few indexed queries."""
        words = str(command.get("text") or "").split()
        user = str(command.get("user_id") or "")
        arg = words[0].lower() if words else "help"
        try:
            if arg == "help":
                rendered = views.help_message()
            elif arg == "mine":
                mine = queue.assigned_to(self.desk.new_uow(), f"slack:{user}")
                rendered = views.ticket_list(
                    "Your open tickets", mine, empty="No open tickets are assigned to you."
                )
            elif arg == "stats":
                stats = queue.queue_stats(self.desk.new_uow(), now=self.desk.clock.now())
                rendered = views.stats_message(stats)
            elif arg.lstrip("#").upper().startswith("T"):
                rendered = self._lookup(client, arg)
            else:
                rendered = views.help_message(f"I do not know `{arg}`.")
        except Exception:
            log.exception("/support %s failed", arg)
            rendered = views.help_message("Sorry, that failed; the error is in the bot's log.")
        ack(text=rendered.text, blocks=rendered.blocks, response_type="ephemeral")

    def _lookup(self, client: WebClient, ref: str) -> blocks.Rendered:
        normal = ref.strip().lstrip("#").upper()
        with self.desk.new_uow() as uow:
            ticket = uow.tickets.get_by_ref(normal)
            if ticket is None or ticket.id is None:
                return views.help_message(f"No ticket {normal}.")
            customer = uow.customers.get(ticket.customer_id)
            card = next(
                (p for p in uow.posts.list_for_ticket(ticket.id) if p.kind is PostKind.CARD), None
            )
        link = None
        if card is not None:
            try:
                found = client.chat_getPermalink(channel=card.channel, message_ts=card.ts)
                link = str(found.get("permalink") or "") or None
            except SlackApiError as exc:
                log.warning("chat.getPermalink failed: %s", exc.response.get("error"))
        who = ""
        if customer is not None:
            who = f"{customer.name} <{customer.email}>" if customer.name else customer.email
        return views.ticket_summary(ticket, customer=who, link=link)

    # -- App Home ---------------------------------------------------------------------------

    def on_home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user") or "")
        tickets = queue.active_tickets(self.desk.new_uow())
        now = self.desk.clock.now()
        stats = queue.queue_stats(self.desk.new_uow(), now=now, tickets=tickets)
        mine = [t for t in tickets if t.assignee == f"slack:{user}"]
        view = views.home_view(user=user, tickets=tickets, mine=mine, stats=stats, now=now)
        client.views_publish(user_id=user, view=view)


def _selected(view: dict[str, Any], block_id: str, action_id: str) -> str:
    state = view.get("state", {}).get("values", {})
    option = state.get(block_id, {}).get(action_id, {}).get("selected_option") or {}
    return str(option.get("value") or "")


def _selected_user(view: dict[str, Any], block_id: str, action_id: str) -> str:
    """A users_select's choice: `selected_user` (null when left empty)."""
    state = view.get("state", {}).get("values", {})
    return str(state.get(block_id, {}).get(action_id, {}).get("selected_user") or "")


def _ephemeral(client: WebClient, body: dict[str, Any], text: str) -> None:
    """Only the clicker sees it. A modal submission has no channel: fall back to a DM."""
    user = body["user"]["id"]
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    try:
        if channel:
            client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=container.get("thread_ts")
            )
        else:
            client.chat_postMessage(channel=user, text=text)
    except SlackApiError as exc:
        log.warning("could not tell %s: %s", user, exc.response.get("error"))
