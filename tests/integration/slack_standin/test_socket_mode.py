"""A real Bolt app over Socket Mode against the stand-in: acks, modals, reconnects, retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.integration.slack_standin.bolt_app import APPROVAL_BLOCKS, BoltUnderTest, build_app
from tests.integration.slack_standin.conftest import AGENT, AGENTS
from tests.slack_standin import SlackStandIn

ACK_DEADLINE = 3.0  # https://docs.slack.dev/apis/events-api/using-socket-mode#acknowledge


@pytest.fixture(scope="module")
def socket_slack(_no_proxy: None) -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_channel(AGENTS, "agents")
        standin.add_user(AGENT, "ada.lovelace", is_admin=True)
        yield standin


@pytest.fixture(scope="module")
def bolt(socket_slack: SlackStandIn) -> Iterator[BoltUnderTest]:
    """One connected app for the module: closing slack_sdk's built-in client takes ~3 s (its
    socket read timeout), too long to pay per test."""
    bolt = build_app(socket_slack)
    handler = SocketModeHandler(bolt.app, socket_slack.app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        socket_slack.socket_mode.wait_connections_opened(1)
        yield bolt
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        bolt.close()


@pytest.fixture
def approval_ts(socket_slack: SlackStandIn) -> str:
    client = WebClient(token=socket_slack.bot_token, base_url=socket_slack.base_url)
    posted = client.chat_postMessage(channel=AGENTS, text="Draft for T42", blocks=APPROVAL_BLOCKS)
    return str(posted["ts"])


def _click_edit(slack: SlackStandIn, message_ts: str) -> str:
    payload = slack.payloads.block_actions(
        user=AGENT, action_id="edit_draft", message_ts=message_ts, channel=AGENTS
    )
    return slack.send_envelope("interactive", payload)


def test_a_click_is_acked_within_3_s_and_opens_the_modal(
    socket_slack: SlackStandIn, bolt: BoltUnderTest, approval_ts: str
) -> None:
    envelope_id = _click_edit(socket_slack, approval_ts)

    assert socket_slack.wait_ack(envelope_id, timeout=ACK_DEADLINE) == {"envelope_id": envelope_id}
    assert socket_slack.socket_mode.ack_latency(envelope_id) < ACK_DEADLINE
    kind, view_id = bolt.outcomes.next()
    assert kind == "views_open"
    opened = socket_slack.wait_for(
        "views.open", lambda c: c.response.get("view", {}).get("id") == view_id
    )
    assert opened.is_ok and opened.params["view"]["callback_id"] == "edit_draft"


def test_a_modal_submission_answers_in_its_ack(
    socket_slack: SlackStandIn, bolt: BoltUnderTest, approval_ts: str
) -> None:
    _click_edit(socket_slack, approval_ts)
    kind, view_id = bolt.outcomes.next()
    assert kind == "views_open"

    empty = socket_slack.payloads.view_submission(
        user=AGENT, view_id=view_id, private_metadata="d1", values={"draft": {"text": " "}}
    )
    envelope_id = socket_slack.send_envelope("interactive", empty)
    assert socket_slack.wait_ack(envelope_id)["payload"] == {
        "response_action": "errors",
        "errors": {"draft": "The reply is empty"},
    }
    filled = socket_slack.payloads.view_submission(
        user=AGENT, view_id=view_id, private_metadata="d1", values={"draft": {"text": "Hi!"}}
    )
    socket_slack.wait_ack(socket_slack.send_envelope("interactive", filled))
    assert bolt.outcomes.next() == ("edited", ("d1", "Hi!"))


def test_after_a_disconnect_the_app_reconnects_and_is_served(
    socket_slack: SlackStandIn, bolt: BoltUnderTest, approval_ts: str
) -> None:
    opened_before = socket_slack.connections_opened
    urls_before = len(socket_slack.calls("apps.connections.open"))

    socket_slack.disconnect("refresh_requested")
    socket_slack.socket_mode.wait_connections_opened(opened_before + 1)
    envelope_id = _click_edit(socket_slack, approval_ts)

    assert socket_slack.wait_ack(envelope_id, timeout=ACK_DEADLINE)["envelope_id"] == envelope_id
    assert bolt.outcomes.next()[0] == "views_open"
    assert socket_slack.connections_opened == opened_before + 1
    assert len(socket_slack.calls("apps.connections.open")) == urls_before + 1


def test_a_trigger_used_after_3_s_has_expired(
    socket_slack: SlackStandIn, bolt: BoltUnderTest, approval_ts: str
) -> None:
    bolt.modal_delay = 3.1
    try:
        envelope_id = _click_edit(socket_slack, approval_ts)
        assert socket_slack.wait_ack(envelope_id, timeout=ACK_DEADLINE)
        assert bolt.outcomes.next(timeout=6) == ("views_open_error", "expired_trigger_id")
    finally:
        bolt.modal_delay = 0.0


def test_events_and_their_retries_reach_the_app(
    socket_slack: SlackStandIn, bolt: BoltUnderTest
) -> None:
    event = socket_slack.payloads.message_event(user=AGENT, text="my invoice?", channel=AGENTS)
    socket_slack.wait_ack(socket_slack.send_envelope("events_api", event))
    # Slack numbers the first attempt 0; Bolt passes it on as x-slack-retry-num.
    assert bolt.outcomes.next() == ("message", ("my invoice?", "0"))
    reply = socket_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == event["event"]["ts"]
    )
    assert reply.is_ok

    socket_slack.send_envelope("events_api", event, retry_attempt=1, retry_reason="timeout")
    assert bolt.outcomes.next() == ("message", ("my invoice?", "1"))


def test_a_slash_command_is_answered_in_the_ack(
    socket_slack: SlackStandIn, bolt: BoltUnderTest
) -> None:
    fields = socket_slack.payloads.slash_command(
        command="/ticket", text="42", user=AGENT, channel=AGENTS
    )
    envelope_id = socket_slack.send_envelope("slash_commands", dict(fields))
    assert socket_slack.wait_ack(envelope_id)["payload"] == {"text": "Ticket 42 is open"}


# -- the protocol itself, with a bare websocket client ------------------------------------------


def _socket_url(slack: SlackStandIn) -> str:
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    return str(client.apps_connections_open(app_token=slack.app_token)["url"])


def test_hello_first_and_tickets_are_single_use(slack: SlackStandIn) -> None:
    url = _socket_url(slack)
    with connect(url, proxy=None, open_timeout=5) as socket:
        hello = json.loads(socket.recv(timeout=5))
    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": slack.app_id}
    with pytest.raises(InvalidStatus) as refused:
        connect(url, proxy=None, open_timeout=5)
    assert refused.value.response.status_code == 401


def test_an_unacked_event_is_delivered_again_with_retry_attempt() -> None:
    with SlackStandIn(redeliver_unacked=True, redeliver_after=0.2) as slack:
        slack.add_channel(AGENTS)
        with connect(_socket_url(slack), proxy=None, open_timeout=5) as socket:
            socket.recv(timeout=5)  # hello
            event = slack.payloads.message_event(user=AGENT, text="hello?", channel=AGENTS)
            first_id = slack.send_envelope("events_api", event)
            first: dict[str, Any] = json.loads(socket.recv(timeout=5))
            again: dict[str, Any] = json.loads(socket.recv(timeout=5))
            socket.send(json.dumps({"envelope_id": again["envelope_id"]}))
            slack.socket_mode.wait_ack_record(again["envelope_id"])

    assert (first["envelope_id"], first["retry_attempt"], first["retry_reason"]) == (
        first_id,
        0,
        "",
    )
    assert again["envelope_id"] != first_id
    assert (again["retry_attempt"], again["retry_reason"]) == (1, "timeout")
    assert again["payload"]["event_id"] == event["event_id"]
    assert [d.retry_attempt for d in slack.socket_mode.deliveries(first_id)] == [0, 1]
