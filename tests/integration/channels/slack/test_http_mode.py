"""HTTP mode: the real Bolt app behind our WSGI server verifies Slack's signature; and a 429
on chat.postMessage is retried so the card still appears."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.bootstrap import bootstrap, start_slack
from bot.settings import load_settings
from core.model import Direction, PostKind
from tests.integration.channels.slack.conftest import (
    AGENT,
    Bot,
    isolated_env,
    make_standin,
    wait_until,
    write_config,
)


@pytest.fixture(scope="module")
def http_bot(tmp_path_factory: pytest.TempPathFactory, _no_proxy: None) -> Iterator[Bot]:
    slack = make_standin()
    directory = tmp_path_factory.mktemp("slackhttp")
    try:
        with pytest.MonkeyPatch.context() as patch:
            isolated_env(patch, write_config(directory, slack, mode="http"))
            services = bootstrap(load_settings())
            try:
                runtime = start_slack(services)
                try:
                    yield Bot(services, runtime, slack)
                finally:
                    runtime.stop()
            finally:
                services.close()
    finally:
        slack.stop()


def _url(bot: Bot) -> str:
    return f"http://127.0.0.1:{bot.runtime.connection.port}/slack/events"


def test_a_signed_event_is_handled(http_bot: Bot) -> None:
    ticket_id = http_bot.mail("Signed delivery")
    card = http_bot.post(ticket_id, PostKind.CARD)
    event = http_bot.slack.payloads.message_event(
        user=AGENT, text="signed note", channel=card.channel, thread_ts=card.ts
    )

    answer = http_bot.slack.signed_delivery(_url(http_bot)).event(event)

    assert answer.status == 200
    wait_until(lambda: _has_note(http_bot, ticket_id), what="the note")


def _has_note(bot: Bot, ticket_id: int) -> bool:
    with bot.services.new_uow() as uow:
        return any(
            m.direction is Direction.NOTE and m.text == "signed note"
            for m in uow.messages.list_for_ticket(ticket_id)
        )


def test_a_signed_click_approves(http_bot: Bot) -> None:
    ticket_id = http_bot.mail("Click over HTTP")
    post = http_bot.post(ticket_id, PostKind.DRAFT)
    payload = http_bot.slack.payloads.block_actions(
        user=AGENT, action_id="draft.approve", message_ts=post.ts, channel=post.channel
    )
    assert http_bot.slack.signed_delivery(_url(http_bot)).interaction(payload).status == 200
    wait_until(lambda: len(http_bot.outbox(ticket_id)) == 1, what="the outbox row")


@pytest.mark.parametrize("option", ["forge", "stale"])
def test_a_forged_or_stale_signature_is_refused(http_bot: Bot, option: str) -> None:
    ticket_id = http_bot.mail("Forged click")
    post = http_bot.post(ticket_id, PostKind.DRAFT)
    payload = http_bot.slack.payloads.block_actions(
        user=AGENT, action_id="draft.approve", message_ts=post.ts, channel=post.channel
    )

    answer = http_bot.slack.signed_delivery(_url(http_bot)).interaction(payload, **{option: True})

    assert answer.status == 401
    assert http_bot.outbox(ticket_id) == []


def test_a_429_on_post_message_is_retried_and_the_card_appears(http_bot: Bot) -> None:
    http_bot.slack.rate_limit("chat.postMessage", times=1, retry_after=1)

    ticket_id = http_bot.mail("Rate limited")

    http_bot.post(ticket_id, PostKind.DRAFT)
    statuses = [c.status for c in http_bot.slack.calls("chat.postMessage")]
    assert 429 in statuses
