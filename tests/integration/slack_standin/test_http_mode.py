"""The same Bolt app over HTTP (WSGI), fed signed requests by `SignedDelivery`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from tests.integration.slack_standin.bolt_app import APPROVAL_BLOCKS, BoltUnderTest, build_app
from tests.integration.slack_standin.conftest import AGENT, AGENTS
from tests.slack_standin import SignedDelivery, SlackStandIn, WsgiServer, url_verification
from tests.slack_standin.http_delivery import sign


@pytest.fixture
def bolt(slack: SlackStandIn) -> Iterator[BoltUnderTest]:
    bolt = build_app(slack)
    try:
        yield bolt
    finally:
        bolt.close()


@pytest.fixture
def deliver(slack: SlackStandIn, bolt: BoltUnderTest) -> Iterator[SignedDelivery]:
    with WsgiServer(SlackRequestHandler(bolt.app)) as server:
        yield slack.signed_delivery(server.url + "/slack/events")


def test_our_signature_is_the_one_slack_sdk_verifies() -> None:
    verifier = SignatureVerifier("secret")
    body, timestamp = '{"type":"event_callback"}', str(int(time.time()))
    signature = sign("secret", timestamp, body.encode())
    assert signature == verifier.generate_signature(timestamp=timestamp, body=body)
    assert verifier.is_valid(body=body, timestamp=timestamp, signature=signature)


def test_a_signed_event_is_handled(
    slack: SlackStandIn, bolt: BoltUnderTest, deliver: SignedDelivery
) -> None:
    event = slack.payloads.message_event(user=AGENT, text="where is my parcel?", channel=AGENTS)

    result = deliver.event(event)

    assert result.status == 200
    assert bolt.outcomes.next() == ("message", ("where is my parcel?", None))
    reply = slack.wait_for("chat.postMessage")
    assert reply.params["thread_ts"] == event["event"]["ts"]
    thread = slack.workspace.thread(AGENTS, event["event"]["ts"])
    assert [m["text"] for m in thread] == ["where is my parcel?", "On it"]


def test_retry_headers_reach_the_app(
    slack: SlackStandIn, bolt: BoltUnderTest, deliver: SignedDelivery
) -> None:
    event = slack.payloads.message_event(user=AGENT, text="hello?", channel=AGENTS)
    assert deliver.event(event, retry_num=2, retry_reason="http_timeout").status == 200
    assert bolt.outcomes.next() == ("message", ("hello?", "2"))


def test_the_bots_own_post_is_ignored(
    slack: SlackStandIn, bolt: BoltUnderTest, deliver: SignedDelivery, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=AGENTS, text="Draft ready")
    echo = slack.payloads.bot_message_event(channel=AGENTS, ts=posted["ts"])
    assert echo["event"]["bot_id"] == slack.bot_id

    assert deliver.event(echo).status == 200
    after = slack.payloads.message_event(user=AGENT, text="next", channel=AGENTS)
    assert deliver.event(after).status == 200
    # Bolt's ignoring_self_events dropped the echo: the next thing the app saw is "next".
    assert bolt.outcomes.next() == ("message", ("next", None))


@pytest.mark.parametrize("tamper", ["forge", "stale"])
def test_forged_or_stale_requests_get_401(
    slack: SlackStandIn, bolt: BoltUnderTest, deliver: SignedDelivery, tamper: str
) -> None:
    event = slack.payloads.message_event(user=AGENT, text="x", channel=AGENTS)
    result = deliver.event(event, **{tamper: True})
    assert result.status == 401
    assert bolt.outcomes.items.empty()


def test_url_verification_answers_the_challenge(deliver: SignedDelivery) -> None:
    result = deliver.event(url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    assert result.status == 200
    assert result.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_a_click_over_http_opens_the_modal(
    slack: SlackStandIn, bolt: BoltUnderTest, deliver: SignedDelivery, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=AGENTS, text="Draft", blocks=APPROVAL_BLOCKS)
    click = slack.payloads.block_actions(
        user=AGENT, action_id="edit_draft", message_ts=posted["ts"], channel=AGENTS
    )
    started = time.monotonic()
    assert deliver.interaction(click).status == 200
    assert time.monotonic() - started < 3.0
    assert bolt.outcomes.next()[0] == "views_open"


def test_a_slash_command_over_http(
    slack: SlackStandIn, bolt: BoltUnderTest, deliver: SignedDelivery
) -> None:
    fields = slack.payloads.slash_command(command="/ticket", text="42", user=AGENT, channel=AGENTS)
    result = deliver.slash_command(fields)
    assert (result.status, result.body) == (200, "Ticket 42 is open")


def test_respond_through_the_response_url_replaces_the_card(
    slack: SlackStandIn, bolt: BoltUnderTest, deliver: SignedDelivery, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=AGENTS, text="Draft", blocks=APPROVAL_BLOCKS)
    click = slack.payloads.block_actions(
        user=AGENT, action_id="approve_draft", message_ts=posted["ts"], channel=AGENTS
    )
    assert click["response_url"].startswith(slack.web.response_url_base)

    assert deliver.interaction(click).status == 200
    assert bolt.outcomes.next() == ("approved", 200)
    call = slack.wait_for("response_url")
    assert call.params["replace_original"] is True
    card = slack.workspace.message(AGENTS, posted["ts"])
    # A replacement drops the old buttons (Bolt sends no empty blocks list).
    assert card["text"] == f"Approved by <@{AGENT}>" and "blocks" not in card
