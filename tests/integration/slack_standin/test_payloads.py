"""The payload factories: Slack's shapes, tied to what the stand-in workspace holds."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from tests.integration.slack_standin.bolt_app import APPROVAL_BLOCKS
from tests.integration.slack_standin.conftest import AGENT, AGENTS
from tests.slack_standin import SlackStandIn


def test_message_events_are_stored_and_unique(slack: SlackStandIn) -> None:
    first = slack.payloads.message_event(user=AGENT, text="Hello", channel=AGENTS)
    reply = slack.payloads.message_event(
        user=AGENT, text="More", channel=AGENTS, thread_ts=first["event"]["ts"]
    )

    assert first["type"] == "event_callback" and first["event_id"] != reply["event_id"]
    assert first["event"]["channel_type"] == "channel" and first["event"]["user"] == AGENT
    assert first["authorizations"][0]["user_id"] == slack.bot_user_id
    assert reply["event"]["thread_ts"] == first["event"]["ts"]
    assert reply["event"]["parent_user_id"] == AGENT
    assert reply["event_time"] >= first["event_time"]
    assert [m["text"] for m in slack.workspace.messages(AGENTS)] == ["Hello", "More"]


def test_app_mention_names_the_bot(slack: SlackStandIn) -> None:
    event = slack.payloads.app_mention(user=AGENT, text="help", channel=AGENTS)["event"]
    assert (event["type"], event["text"]) == ("app_mention", f"<@{slack.bot_user_id}> help")


def test_other_bots_post_as_bot_message(slack: SlackStandIn) -> None:
    event = slack.payloads.other_bot_message_event(channel=AGENTS, text="Deploy done")["event"]
    assert event["subtype"] == "bot_message" and "user" not in event


def test_a_click_names_a_real_button(slack: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=AGENTS, text="Draft", blocks=APPROVAL_BLOCKS)
    click = slack.payloads.block_actions(
        user=AGENT, action_id="approve_draft", message_ts=posted["ts"], channel=AGENTS
    )

    action = click["actions"][0]
    assert (action["value"], action["type"]) == ("d1:1", "button")
    assert action["block_id"] == posted["message"]["blocks"][1]["block_id"]
    assert click["container"]["message_ts"] == posted["ts"]
    assert click["message"]["ts"] == posted["ts"] and click["user"]["name"] == "ada.lovelace"
    with pytest.raises(ValueError, match="no element 'delete_everything'"):
        slack.payloads.block_actions(
            user=AGENT, action_id="delete_everything", message_ts=posted["ts"], channel=AGENTS
        )


def test_slash_command_fields_are_strings(slack: SlackStandIn) -> None:
    fields = slack.payloads.slash_command(command="/ticket", text="42", user=AGENT, channel=AGENTS)
    assert all(isinstance(value, str) for value in fields.values())
    assert (fields["command"], fields["channel_name"], fields["user_name"]) == (
        "/ticket",
        "agents",
        "ada.lovelace",
    )
