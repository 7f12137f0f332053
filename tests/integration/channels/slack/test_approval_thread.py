"""The approval thread end to end through the real Bolt app over Socket Mode: card, customer
message and draft posted; Approve, Edit, Reject, Regenerate; who may decide; races."""

from __future__ import annotations

from core.model import DraftStatus, PostKind
from tests.integration.channels.slack.conftest import (
    AGENT,
    AGENT2,
    GROUPIE,
    STRANGER,
    Bot,
    wait_until,
)


def _buttons(message: dict[str, object]) -> list[str]:
    blocks = message.get("blocks") or []
    assert isinstance(blocks, list)
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_mail_becomes_a_card_with_the_message_and_the_draft_in_its_thread(bot: Bot) -> None:
    ticket_id = bot.mail("Hi <!channel>, my order & <http://evil|bank> has not arrived.")

    card = bot.post(ticket_id, PostKind.CARD)
    customer = bot.post(ticket_id, PostKind.CUSTOMER)
    draft = bot.post(ticket_id, PostKind.DRAFT)

    assert card.channel == "C0AGENTS001" and bot.message(card)["thread_ts"] == card.ts
    assert bot.message(customer)["thread_ts"] == card.ts
    assert bot.message(draft)["thread_ts"] == card.ts
    shown = str(bot.message(customer)["blocks"])
    assert "&lt;!channel&gt;" in shown and "&amp;" in shown and "<!channel>" not in shown
    assert "&lt;http://evil|bank&gt;" in shown
    assert _buttons(bot.message(draft)) == [
        "draft.approve",
        "draft.edit",
        "draft.regenerate",
        "draft.reject",
    ]


def test_approve_queues_the_reply_and_removes_the_buttons(bot: Bot) -> None:
    ticket_id = bot.mail("Where is my parcel?")
    post = bot.post(ticket_id, PostKind.DRAFT)

    bot.click(post, "draft.approve")

    wait_until(lambda: len(bot.outbox(ticket_id)) == 1, what="the outbox row")
    assert bot.draft(ticket_id).status is DraftStatus.APPROVED
    assert bot.draft(ticket_id).decided_by == f"slack:{AGENT}"
    wait_until(lambda: _buttons(bot.message(post)) == [], what="the buttons to go")
    assert f"Approved by <@{AGENT}>" in str(bot.message(post)["blocks"])


def test_a_double_click_and_two_approvers_queue_one_reply(bot: Bot) -> None:
    ticket_id = bot.mail("Invoice question")
    post = bot.post(ticket_id, PostKind.DRAFT)
    first = bot.slack.payloads.block_actions(
        user=AGENT, action_id="draft.approve", message_ts=post.ts, channel=post.channel
    )
    second = bot.slack.payloads.block_actions(
        user=AGENT2, action_id="draft.approve", message_ts=post.ts, channel=post.channel
    )

    for payload in (first, first, second):
        bot.send("interactive", payload)

    wait_until(lambda: len(bot.slack.workspace.ephemeral_messages()) >= 2, what="two notices")
    assert len(bot.outbox(ticket_id)) == 1
    notices = [m["text"] for m in bot.slack.workspace.ephemeral_messages()[-2:]]
    assert all("already approved" in n for n in notices)


def test_an_unauthorised_user_is_refused_and_nothing_is_queued(bot: Bot) -> None:
    ticket_id = bot.mail("Refund please")
    post = bot.post(ticket_id, PostKind.DRAFT)

    bot.click(post, "draft.approve", user=STRANGER)

    wait_until(
        lambda: any(m["user"] == STRANGER for m in bot.slack.workspace.ephemeral_messages()),
        what="the refusal",
    )
    assert bot.outbox(ticket_id) == []
    assert bot.draft(ticket_id).status is DraftStatus.PENDING
    assert _buttons(bot.message(post)) != []
    with bot.services.new_uow() as uow:
        actions = [e.action for e in uow.audit.list_for_ticket(ticket_id)]
    assert "draft.refused" in actions


def test_a_member_of_the_approver_group_may_approve(bot: Bot) -> None:
    ticket_id = bot.mail("Account locked")
    bot.click(bot.post(ticket_id, PostKind.DRAFT), "draft.approve", user=GROUPIE)
    wait_until(lambda: len(bot.outbox(ticket_id)) == 1, what="the outbox row")


def test_edit_opens_the_modal_and_the_edited_text_is_queued(bot: Bot) -> None:
    ticket_id = bot.mail("Can I change my address?")
    post = bot.post(ticket_id, PostKind.DRAFT)
    draft = bot.draft(ticket_id)

    bot.click(post, "draft.edit")
    opened = bot.slack.wait_for("views.open", timeout=3.0)
    assert opened.is_ok
    view = opened.response["view"]
    assert view["private_metadata"] == f"{draft.id}:{draft.version}"
    initial = view["blocks"][0]["element"]["initial_value"]
    assert initial == draft.text

    submitted = bot.slack.payloads.view_submission(
        user=AGENT, view_id=view["id"], values={"reply": {"text": "Yes, done. Best, Ada"}}
    )
    bot.send("interactive", submitted)

    wait_until(lambda: len(bot.outbox(ticket_id)) == 1, what="the edited reply")
    assert bot.outbox(ticket_id)[0].body == "Yes, done. Best, Ada"
    assert bot.draft(ticket_id).status is DraftStatus.EDITED
    wait_until(lambda: "Edited and approved" in str(bot.message(post)["blocks"]), what="update")


def test_reject_asks_a_reason_and_records_it(bot: Bot) -> None:
    ticket_id = bot.mail("Cancel my plan")
    post = bot.post(ticket_id, PostKind.DRAFT)

    bot.click(post, "draft.reject")
    view = bot.slack.wait_for(
        "views.open", lambda c: c.params["view"]["callback_id"] == "draft.reject", timeout=3.0
    ).response["view"]
    empty = bot.slack.payloads.view_submission(
        user=AGENT, view_id=view["id"], values={"reason": {"text": " "}}
    )
    envelope = bot.slack.send_envelope("interactive", empty)
    assert bot.slack.wait_ack(envelope)["payload"]["response_action"] == "errors"
    filled = bot.slack.payloads.view_submission(
        user=AGENT, view_id=view["id"], values={"reason": {"text": "wrong plan named"}}
    )
    bot.send("interactive", filled)

    wait_until(lambda: bot.draft(ticket_id).status is DraftStatus.REJECTED, what="rejection")
    assert bot.outbox(ticket_id) == []
    wait_until(lambda: "wrong plan named" in str(bot.message(post)["blocks"]), what="reason shown")
    assert _buttons(bot.message(post)) == []


def test_regenerate_posts_v2_and_marks_v1_superseded(bot: Bot) -> None:
    ticket_id = bot.mail("Shipping to Canada?")
    v1_post = bot.post(ticket_id, PostKind.DRAFT)

    bot.click(v1_post, "draft.regenerate")

    wait_until(lambda: len(bot.drafts(ticket_id)) == 2, what="draft v2")
    v1, v2 = bot.drafts(ticket_id)
    assert (v1.status, v2.status, v2.version) == (DraftStatus.SUPERSEDED, DraftStatus.PENDING, 2)
    v2_post = bot.post(ticket_id, PostKind.DRAFT, draft_id=v2.id)
    assert _buttons(bot.message(v2_post))
    wait_until(lambda: "Superseded" in str(bot.message(v1_post)["blocks"]), what="v1 updated")
    assert _buttons(bot.message(v1_post)) == []
