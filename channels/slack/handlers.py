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
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from channels.slack import blocks, translate
from channels.slack.approvers import Approvers
from channels.slack.config import SlackConfig
from core.approval import Decided, Identity, Outcome, approve, reject
from core.errors import InvalidInput, NotAuthorised
from core.model import Draft, DraftStatus, InboundMessage, ScheduledAction
from core.ports import Clock, UnitOfWork

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
    regenerate: Callable[[int], Draft]  # a new draft version for the ticket (and present it)
    request: Callable[[ScheduledAction], None]  # enqueue a durable action and run it soon


def refresh_action(draft: Draft, *, now: Any) -> ScheduledAction:
    """Update a draft's Slack message (and the card) to its current state. The key includes
    the status, so each state change is shown once, however many clicks led to it."""
    return ScheduledAction(
        kind="slack.refresh",
        idem_key=f"slack-refresh:draft:{draft.id}:{draft.status.value}",
        due_at=now,
        ticket_id=draft.ticket_id,
        payload=json.dumps({"draft_id": draft.id}),
    )


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
        new = self.desk.regenerate(draft.ticket_id)  # supersedes this version, presents v+1
        with self.desk.new_uow() as uow:
            old = uow.drafts.get(draft_id)
        if old is not None:
            self._refresh(old)
        log.info("draft regenerated", extra={"ticket_id": new.ticket_id, "draft_id": new.id})

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
