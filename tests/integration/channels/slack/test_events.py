"""Message events through the real Bolt app: dedupe by event_id, the bot's own posts ignored,
agents' thread replies kept as internal notes, Slack intake with replies posted back."""

from __future__ import annotations

from bot.scheduler import tick
from core.model import Channel, Direction, DraftStatus, PostKind
from tests.integration.channels.slack.conftest import (
    AGENT,
    CUSTOMER,
    INTAKE,
    Bot,
    wait_until,
)


def _messages(bot: Bot, ticket_id: int) -> list[tuple[Direction, str]]:
    with bot.services.new_uow() as uow:
        return [(m.direction, m.text) for m in uow.messages.list_for_ticket(ticket_id)]


def test_an_agent_reply_in_the_thread_is_an_internal_note_and_never_sent(bot: Bot) -> None:
    ticket_id = bot.mail("My login fails")
    card = bot.post(ticket_id, PostKind.CARD)
    bot.post(ticket_id, PostKind.DRAFT)

    event = bot.slack.payloads.message_event(
        user=AGENT, text="checked: SSO outage", channel=card.channel, thread_ts=card.ts
    )
    bot.send("events_api", event)

    wait_until(
        lambda: (Direction.NOTE, "checked: SSO outage") in _messages(bot, ticket_id),
        what="the note",
    )
    assert bot.outbox(ticket_id) == []


def test_a_duplicated_event_acts_once(bot: Bot) -> None:
    ticket_id = bot.mail("Duplicate please")
    card = bot.post(ticket_id, PostKind.CARD)
    event = bot.slack.payloads.message_event(
        user=AGENT, text="note once", channel=card.channel, thread_ts=card.ts
    )
    bot.send("events_api", event)
    bot.slack.wait_ack(bot.slack.send_envelope("events_api", event, retry_attempt=1))
    wait_until(lambda: (Direction.NOTE, "note once") in _messages(bot, ticket_id), what="note")
    with bot.services.new_uow() as uow:
        assert not uow.events.first_time("slack", event["event_id"], at=bot.services.clock.now())
    assert _messages(bot, ticket_id).count((Direction.NOTE, "note once")) == 1


def test_the_bots_own_message_event_is_ignored(bot: Bot) -> None:
    ticket_id = bot.mail("Own message")
    card = bot.post(ticket_id, PostKind.CARD)
    customer = bot.post(ticket_id, PostKind.CUSTOMER)
    before = _messages(bot, ticket_id)

    event = bot.slack.payloads.bot_message_event(channel=customer.channel, ts=customer.ts)
    event["event"]["thread_ts"] = card.ts
    bot.send("events_api", event)
    # A later, person's note proves the event before it was processed (and ignored).
    marker = bot.slack.payloads.message_event(
        user=AGENT, text="marker", channel=card.channel, thread_ts=card.ts
    )
    bot.send("events_api", marker)
    wait_until(lambda: (Direction.NOTE, "marker") in _messages(bot, ticket_id), what="marker")
    assert _messages(bot, ticket_id) == [*before, (Direction.NOTE, "marker")]


def test_slack_intake_follow_up_and_the_reply_goes_back_to_the_customers_thread(
    bot: Bot,
) -> None:
    first = bot.slack.payloads.message_event(
        user=CUSTOMER, text="Our dashboard shows <!here> errors", channel=INTAKE
    )
    root_ts = first["event"]["ts"]
    bot.send("events_api", first)

    def slack_ticket() -> int | None:
        with bot.services.new_uow() as uow:
            found = uow.messages.get_by_external_id(Channel.SLACK, f"slack:{INTAKE}:{root_ts}")
            return found.ticket_id if found else None

    wait_until(lambda: slack_ticket() is not None, what="the Slack-born ticket")
    ticket_id = slack_ticket()
    assert ticket_id is not None
    with bot.services.new_uow() as uow:
        ticket = uow.tickets.get(ticket_id)
        assert ticket is not None and uow.customers.get(ticket.customer_id) is not None
        customer = uow.customers.get(ticket.customer_id)
    assert ticket.channel is Channel.SLACK and ticket.thread_key == f"{INTAKE}:{root_ts}"
    assert customer is not None and customer.email == "cus@client.example"
    bot.post(ticket_id, PostKind.CARD)

    follow_up = bot.slack.payloads.message_event(
        user=CUSTOMER, text="still broken", channel=INTAKE, thread_ts=root_ts
    )
    bot.send("events_api", follow_up)
    wait_until(
        lambda: (Direction.INBOUND, "still broken") in _messages(bot, ticket_id),
        what="the follow-up on the same ticket",
    )
    wait_until(lambda: len(bot.drafts(ticket_id)) == 2, what="a new draft for the follow-up")
    post = bot.post(ticket_id, PostKind.DRAFT, draft_id=bot.draft(ticket_id).id)

    bot.click(post, "draft.approve")
    wait_until(lambda: len(bot.outbox(ticket_id)) == 1, what="the reply in the outbox")
    tick(bot.services, handlers=bot.services.handlers, owner="test")

    thread = bot.slack.workspace.thread(INTAKE, root_ts)
    replies = [m for m in thread if m.get("bot_id")]
    assert len(replies) == 1 and replies[0]["text"] == bot.outbox(ticket_id)[0].body.replace(
        "&", "&amp;"
    ).replace("<", "&lt;").replace(">", "&gt;")
    assert bot.draft(ticket_id).status is DraftStatus.SENT
    wait_until(lambda: "Sent ✓" in str(bot.message(post)["blocks"]), what="sent shown")
