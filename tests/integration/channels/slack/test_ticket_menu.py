"""The card's overflow menu, `/support`, the App Home tab and the agents' channel alerts,
through the real Bolt app over Socket Mode with real SQLite storage."""

from __future__ import annotations

import json
from typing import Any

from bot.scheduler import tick
from core import health, ticket_actions
from core.model import (
    Channel,
    MailboxState,
    PostKind,
    Priority,
    QuarantineStatus,
    TicketStatus,
)
from tests.integration.channels.slack.conftest import (
    AGENT,
    AGENT2,
    AGENTS,
    STRANGER,
    Bot,
    wait_until,
)


def _ticket(bot: Bot, ticket_id: int) -> Any:
    with bot.services.new_uow() as uow:
        return uow.tickets.get(ticket_id)


def _menu(bot: Bot, ticket_id: int, op: str, *, user: str = AGENT) -> None:
    card = bot.post(ticket_id, PostKind.CARD)
    payload = bot.slack.payloads.block_actions(
        user=user,
        action_id="ticket.menu",
        message_ts=card.ts,
        channel=card.channel,
        value=f"{op}:{ticket_id}",
    )
    bot.send("interactive", payload)


def _card_text(bot: Bot, ticket_id: int) -> str:
    return str(bot.message(bot.post(ticket_id, PostKind.CARD))["blocks"])


def _audit(bot: Bot, ticket_id: int) -> list[tuple[str, str]]:
    with bot.services.new_uow() as uow:
        return [(e.actor, e.action) for e in uow.audit.list_for_ticket(ticket_id)]


def test_the_card_has_an_overflow_menu(bot: Bot) -> None:
    ticket_id = bot.mail("Where is my invoice?")
    card = bot.message(bot.post(ticket_id, PostKind.CARD))
    menu = card["blocks"][0]["accessory"]
    assert menu["type"] == "overflow" and menu["action_id"] == "ticket.menu"
    assert [o["value"].split(":")[0] for o in menu["options"]] == [
        "triage",
        "assign",
        "unassign",
        "resolve",
    ]


def test_assign_to_me_updates_the_card_and_audits(bot: Bot) -> None:
    ticket_id = bot.mail("Please call me back")
    _menu(bot, ticket_id, "assign")
    wait_until(lambda: _ticket(bot, ticket_id).assignee == f"slack:{AGENT}", what="assignee")
    wait_until(lambda: f"assigned to <@{AGENT}>" in _card_text(bot, ticket_id), what="card")
    assert (f"slack:{AGENT}", "ticket.assigned") in _audit(bot, ticket_id)


def _open_modal(bot: Bot, ticket_id: int, *, user: str = AGENT) -> dict[str, Any]:
    def opened() -> list[Any]:
        return [
            c
            for c in bot.slack.calls("views.open")
            if c.params["view"]["callback_id"] == "ticket.triage"
            and c.params["view"]["private_metadata"] == str(ticket_id)
        ]

    before = len(opened())
    _menu(bot, ticket_id, "triage", user=user)
    wait_until(lambda: len(opened()) > before, what="views.open", timeout=3.0)
    call = opened()[-1]
    assert call.is_ok
    return dict(call.response["view"])


def _submit(bot: Bot, view: dict[str, Any], values: dict[str, Any], *, user: str = AGENT) -> None:
    payload = bot.slack.payloads.view_submission(user=user, view_id=view["id"], values=values)
    bot.send("interactive", payload)


def test_assign_to_someone_through_the_modal_then_unassign(bot: Bot) -> None:
    ticket_id = bot.mail("Please give this to Grace")
    view = _open_modal(bot, ticket_id)
    block = next(b for b in view["blocks"] if b["block_id"] == "assignee")
    assert block["element"]["type"] == "users_select" and block["optional"] is True
    assert "initial_user" not in block["element"]  # nobody yet

    _submit(bot, view, {"assignee": {"assignee": bot.slack.payloads.users_select(AGENT2)}})

    wait_until(lambda: _ticket(bot, ticket_id).assignee == f"slack:{AGENT2}", what="assignee")
    wait_until(
        lambda: f"assigned to <@{AGENT2}> by <@{AGENT}>" in _card_text(bot, ticket_id),
        what="the card updated in place",
    )
    card = bot.post(ticket_id, PostKind.CARD)
    assert sum(m["ts"] == card.ts for m in bot.slack.workspace.messages(AGENTS)) == 1
    with bot.services.new_uow() as uow:
        events = [e for e in uow.audit.list_for_ticket(ticket_id) if e.action == "ticket.assigned"]
    assert [(e.actor, json.loads(e.detail)) for e in events] == [
        (f"slack:{AGENT}", {"from": None, "to": f"slack:{AGENT2}"})
    ]
    # The modal opens prefilled with the current assignee; the category stays as it was.
    again = _open_modal(bot, ticket_id)
    block = next(b for b in again["blocks"] if b["block_id"] == "assignee")
    assert block["element"]["initial_user"] == AGENT2
    category = _ticket(bot, ticket_id).category

    _menu(bot, ticket_id, "unassign")

    wait_until(lambda: _ticket(bot, ticket_id).assignee is None, what="unassigned")
    wait_until(lambda: "assigned: nobody" in _card_text(bot, ticket_id), what="card unassigned")
    assert _ticket(bot, ticket_id).category == category
    assert [a for _, a in _audit(bot, ticket_id)].count("ticket.assigned") == 2


def test_an_empty_assignee_changes_nothing(bot: Bot) -> None:
    ticket_id = bot.mail("Leave me as I am")
    view = _open_modal(bot, ticket_id)
    before = len(_audit(bot, ticket_id))

    _submit(bot, view, {"assignee": {"assignee": bot.slack.payloads.users_select(None)}})

    assert _ticket(bot, ticket_id).assignee is None
    assert len(_audit(bot, ticket_id)) == before


def test_a_stranger_cannot_assign_through_the_modal(bot: Bot) -> None:
    ticket_id = bot.mail("Stranger assigns")
    view = _open_modal(bot, ticket_id)  # an approver opened it; a stranger submits it

    _submit(
        bot,
        view,
        {"assignee": {"assignee": bot.slack.payloads.users_select(STRANGER)}},
        user=STRANGER,
    )

    wait_until(
        lambda: (f"slack:{STRANGER}", "ticket.refused") in _audit(bot, ticket_id),
        what="the audited refusal",
    )
    assert _ticket(bot, ticket_id).assignee is None


def test_a_stranger_cannot_unassign(bot: Bot) -> None:
    ticket_id = bot.mail("Keep my agent")
    _menu(bot, ticket_id, "assign")
    wait_until(lambda: _ticket(bot, ticket_id).assignee is not None, what="assigned")

    _menu(bot, ticket_id, "unassign", user=STRANGER)

    wait_until(
        lambda: (f"slack:{STRANGER}", "ticket.refused") in _audit(bot, ticket_id),
        what="the audited refusal",
    )
    assert _ticket(bot, ticket_id).assignee == f"slack:{AGENT}"


def test_resolve_from_the_menu(bot: Bot) -> None:
    ticket_id = bot.mail("Never mind, found it")
    _menu(bot, ticket_id, "resolve")
    wait_until(lambda: _ticket(bot, ticket_id).status is TicketStatus.RESOLVED, what="resolved")
    assert _ticket(bot, ticket_id).resolved_at is not None
    wait_until(lambda: "Status: resolved" in _card_text(bot, ticket_id), what="card updated")


def test_snooze_pends_the_ticket_and_the_wake_action_reopens_it(bot: Bot) -> None:
    ticket_id = bot.mail("Check again later please")
    view = _open_modal(bot, ticket_id)
    snooze = next(b for b in view["blocks"] if b["block_id"] == "snooze")["element"]
    four_hours = next(o for o in snooze["options"] if o["value"] == "4h")
    _submit(
        bot, view, {"snooze": {"snooze": {"type": "static_select", "selected_option": four_hours}}}
    )
    wait_until(lambda: _ticket(bot, ticket_id).status is TicketStatus.PENDING, what="pending")
    ref = _ticket(bot, ticket_id).ref
    with bot.services.new_uow() as uow:
        snoozes = [e for e in uow.audit.list_for_ticket(ticket_id) if e.action == "ticket.snoozed"]
        until = json.loads(snoozes[-1].detail)["until"]
        stamp = until[:16] + "Z"
        action = uow.actions.get_by_key(f"snooze:{ref}:{stamp}")
    assert action is not None and action.kind == ticket_actions.WAKE
    assert action.ticket_id == ticket_id
    wait_until(lambda: "snoozed until" in _card_text(bot, ticket_id), what="card shows snooze")

    bot.services.wake(action)  # what the ticker does when it is due
    assert _ticket(bot, ticket_id).status is TicketStatus.OPEN
    wait_until(lambda: "snooze ended" in _card_text(bot, ticket_id), what="card shows wake")


def test_reclassify_and_priority_through_the_modal(bot: Bot) -> None:
    ticket_id = bot.mail("My card was charged twice")
    _menu(bot, ticket_id, "triage")
    opened = bot.slack.wait_for(
        "views.open",
        lambda c: (
            c.params["view"]["callback_id"] == "ticket.triage"
            and c.params["view"]["private_metadata"] == str(ticket_id)
        ),
        timeout=3.0,
    )
    view = opened.response["view"]
    options = view["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == [
        "billing",
        "technical",
        "account",
        "shipping",
        "general",
    ]
    category = next(o for o in options if o["value"] == "shipping")
    priority = next(o for o in view["blocks"][1]["element"]["options"] if o["value"] == "P0")
    submitted = bot.slack.payloads.view_submission(
        user=AGENT,
        view_id=view["id"],
        values={
            "category": {"category": {"type": "static_select", "selected_option": category}},
            "priority": {"priority": {"type": "static_select", "selected_option": priority}},
        },
    )
    bot.send("interactive", submitted)
    wait_until(lambda: _ticket(bot, ticket_id).priority is Priority.P0, what="priority")
    assert _ticket(bot, ticket_id).category == "shipping"
    wait_until(lambda: "P0 (critical)" in _card_text(bot, ticket_id), what="card priority")
    assert "shipping" in _card_text(bot, ticket_id)
    actions = [a for _, a in _audit(bot, ticket_id)]
    assert "ticket.reclassified" in actions and "ticket.priority" in actions


def test_a_stranger_gets_a_refusal_and_nothing_changes(bot: Bot) -> None:
    ticket_id = bot.mail("Stranger danger")
    _menu(bot, ticket_id, "resolve", user=STRANGER)
    wait_until(
        lambda: (f"slack:{STRANGER}", "ticket.refused") in _audit(bot, ticket_id),
        what="the audited refusal",
    )
    assert any(
        m["user"] == STRANGER and "not an approver" in m["text"]
        for m in bot.slack.workspace.ephemeral_messages()
    )
    assert _ticket(bot, ticket_id).status is not TicketStatus.RESOLVED


def _command(bot: Bot, text: str, *, user: str = AGENT) -> dict[str, Any]:
    payload = bot.slack.payloads.slash_command(
        command="/support", text=text, user=user, channel=AGENTS
    )
    ack = bot.slack.wait_ack(bot.slack.send_envelope("slash_commands", payload), timeout=3.0)
    return dict(ack["payload"])


def test_support_lookup_gives_a_summary_and_a_thread_link(bot: Bot) -> None:
    ticket_id = bot.mail("Please look this up", subject="Lookup me")
    card = bot.post(ticket_id, PostKind.CARD)
    ref = _ticket(bot, ticket_id).ref

    answer = _command(bot, ref.lower())

    assert answer["response_type"] == "ephemeral"
    shown = str(answer["blocks"])
    assert ref in shown and "Lookup me" in shown
    assert f"/archives/{card.channel}/p{card.ts.replace('.', '')}" in shown
    assert "No ticket T999999" in str(_command(bot, "T999999")["blocks"])


def test_support_mine_stats_and_help(bot: Bot) -> None:
    ticket_id = bot.mail("Mine please")
    _menu(bot, ticket_id, "assign")
    wait_until(lambda: _ticket(bot, ticket_id).assignee is not None, what="assigned")
    ref = _ticket(bot, ticket_id).ref

    assert ref in str(_command(bot, "mine")["blocks"])
    stats = str(_command(bot, "stats")["blocks"])
    assert "*Open:*" in stats and "Quarantined messages" in stats
    assert "/support mine" in str(_command(bot, "help")["blocks"])
    assert "/support mine" in str(_command(bot, "")["blocks"])


def test_app_home_shows_the_queue_and_my_tickets(bot: Bot) -> None:
    ticket_id = bot.mail("Home sweet home")
    _menu(bot, ticket_id, "assign")
    wait_until(lambda: _ticket(bot, ticket_id).assignee is not None, what="assigned")
    ref = _ticket(bot, ticket_id).ref
    before = len(bot.slack.calls("views.publish"))

    bot.send("events_api", bot.slack.payloads.app_home_opened(user=AGENT))

    wait_until(lambda: len(bot.slack.calls("views.publish")) > before, what="views.publish")
    call = bot.slack.calls("views.publish")[-1]
    assert call.is_ok and call.params["user_id"] == AGENT
    view = call.params["view"]
    assert view["type"] == "home"
    shown = str(view["blocks"])
    assert "Assigned to you" in shown and ref in shown and "Quarantined messages" in shown


def test_a_quarantined_message_is_alerted_once_and_retry_reprocesses_it(bot: Bot) -> None:
    bad = b"From: x@y.example\r\nSubject: broken\r\n\r\nbody"
    from core.model import InboundMessage

    msg = InboundMessage(
        channel=Channel.EMAIL,
        raw=bad,
        received_at=bot.services.clock.now(),
        external_id="<broken-1@y.example>",
        problem="could not parse the MIME structure",
    )
    result = bot.services.receive(msg)
    bot.services.receive(msg)  # the same message again: still one alert
    item_id = result.quarantine_id
    assert item_id is not None

    def alerts() -> list[dict[str, Any]]:
        return [
            m
            for m in bot.slack.workspace.messages(AGENTS)
            if f"quarantine (#{item_id})" in str(m.get("blocks"))
        ]

    wait_until(lambda: len(alerts()) == 1, what="the quarantine alert")
    alert = alerts()[0]
    assert "quarantine.retry" in str(alert["blocks"])
    slack = bot.services.slack
    assert slack is not None
    # The run that posted it died before its action was marked done: the rerun finds it.
    rerun = health.quarantine_alert(item_id, reason=result.reason, now=bot.services.clock.now())
    slack.alerter.handle_alert(rerun)
    assert len(alerts()) == 1

    stranger = bot.slack.payloads.block_actions(
        user=STRANGER, action_id="quarantine.retry", message_ts=alert["ts"], channel=AGENTS
    )
    bot.send("interactive", stranger)
    click = bot.slack.payloads.block_actions(
        user=AGENT, action_id="quarantine.retry", message_ts=alert["ts"], channel=AGENTS
    )
    bot.send("interactive", click)

    wait_until(
        lambda: "Retried by" in str(bot.slack.workspace.message(AGENTS, alert["ts"])["blocks"]),
        what="the alert updated",
    )
    with bot.services.new_uow() as uow:
        item = uow.quarantine.get(item_id)
    assert item is not None and item.status is QuarantineStatus.REPROCESSED
    updated = str(bot.slack.workspace.message(AGENTS, alert["ts"])["blocks"])
    assert "quarantine.retry" not in updated and "new ticket" in updated
    assert len(alerts()) == 1


def test_mailbox_auth_failure_and_lag_are_alerted_once(bot: Bot) -> None:
    with bot.services.new_uow() as uow:
        uow.mailboxes.save(MailboxState("billing-box", auth_failures=3, last_error="AUTH failed"))
        uow.mailboxes.save(MailboxState("lagging-box", lag_seconds=3600.0))
        uow.commit()

    for _ in range(2):
        tick(bot.services, handlers=bot.services.handlers, owner="test")

    def posted(text: str) -> int:
        return sum(text in str(m.get("blocks")) for m in bot.slack.workspace.messages(AGENTS))

    wait_until(lambda: posted("billing-box") == 1, what="the auth alert")
    wait_until(lambda: posted("lagging-box") == 1, what="the lag alert")
    assert "refused the login" in str(bot.slack.workspace.messages(AGENTS))
    tick(bot.services, handlers=bot.services.handlers, owner="test")
    assert posted("billing-box") == 1 and posted("lagging-box") == 1
