"""The Web API stand-in driven by the real slack_sdk WebClient: shapes, errors, limits."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.integration.slack_standin.conftest import AGENT, AGENTS
from tests.slack_standin import SlackStandIn


def _button(action_id: str, *, text: str = "Go", value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def _actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_post_in_a_thread_update_and_permalink(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=AGENTS, text="New ticket T42")
    reply = client.chat_postMessage(
        channel=AGENTS, thread_ts=parent["ts"], text="draft", blocks=[_actions(_button("ok"))]
    )

    assert parent["channel"] == AGENTS and reply["channel"] == AGENTS
    assert float(reply["ts"]) > float(parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert reply["message"]["bot_id"] == slack.bot_id
    assert reply["message"]["user"] == slack.bot_user_id
    thread = client.conversations_replies(channel=AGENTS, ts=parent["ts"])["messages"]
    assert [m["ts"] for m in thread] == [parent["ts"], reply["ts"]]
    assert thread[0]["reply_count"] == 1 and thread[0]["latest_reply"] == reply["ts"]
    history = client.conversations_history(channel=AGENTS)["messages"]
    assert [m["ts"] for m in history] == [parent["ts"]]  # replies stay in their thread

    updated = client.chat_update(channel=AGENTS, ts=reply["ts"], text="approved by Ada")
    assert updated["text"] == "approved by Ada"
    # Slack keeps the old blocks (and buttons) when chat.update gets text only.
    assert updated["message"]["blocks"][0]["elements"][0]["action_id"] == "ok"
    cleared = client.chat_update(channel=AGENTS, ts=reply["ts"], text="done", blocks=[])
    assert cleared["message"]["blocks"] == []

    link = client.chat_getPermalink(channel=AGENTS, message_ts=reply["ts"])["permalink"]
    assert link.endswith(
        f"/archives/{AGENTS}/p{reply['ts'].replace('.', '')}?thread_ts={parent['ts']}&cid={AGENTS}"
    )


def test_each_call_is_recorded_with_its_parameters(slack: SlackStandIn, client: WebClient) -> None:
    client.chat_postMessage(channel=AGENTS, text="hello")
    call = slack.wait_for("chat.postMessage", lambda c: c.params["text"] == "hello", timeout=1)
    assert call.is_ok and call.params["channel"] == AGENTS
    assert "Authorization" not in call.headers  # never keep the token
    with pytest.raises(TimeoutError, match=r"saw: \[chat.postMessage→ok\]"):
        slack.wait_for("chat.update", timeout=0.1)


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-1-2-wrong", "invalid_auth"), ("", "not_authed"), ("app", "not_allowed_token_type")],
)
def test_bad_tokens_are_refused(slack: SlackStandIn, token: str, error: str) -> None:
    client = WebClient(
        token=slack.app_token if token == "app" else token or None, base_url=slack.base_url
    )
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=AGENTS, text="hi")
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == error


def test_apps_connections_open_needs_the_app_token(slack: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        client.apps_connections_open(app_token=slack.bot_token)
    url = client.apps_connections_open(app_token=slack.app_token)["url"]
    assert url.startswith(f"ws://127.0.0.1:{slack.socket_mode.port}/link/?ticket=")


@pytest.mark.parametrize(
    ("blocks", "reason", "pointer"),
    [
        ([_section("x")] * 51, "no more than 50 items", "/blocks"),
        ([_section("x" * 3001)], "must be less than 3001 characters", "/blocks/0/text/text"),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "must be less than 151 characters",
            "/blocks/0/text/text",
        ),
        (
            [_actions(*[_button(f"b{i}") for i in range(26)])],
            "no more than 25 items",
            "/blocks/0/elements",
        ),
        (
            [_actions(_button("b", text="t" * 76))],
            "must be less than 76 characters",
            "/blocks/0/elements/0/text/text",
        ),
        (
            [_actions(_button("b", value="v" * 2001))],
            "must be less than 2001 characters",
            "/blocks/0/elements/0/value",
        ),
        (
            [_actions(_button("a" * 256))],
            "must be less than 256 characters",
            "/blocks/0/elements/0/action_id",
        ),
        (
            [_actions(_button("same")), _actions(_button("same"))],
            "duplicate action_id 'same'",
            "/blocks/1/elements/0/action_id",
        ),
    ],
    ids=[
        "51-blocks",
        "section-3001",
        "header-151",
        "26-elements",
        "button-text-76",
        "value-2001",
        "action-id-256",
        "duplicate-action-id",
    ],
)
def test_invalid_blocks_are_refused_with_the_problem(
    client: WebClient, blocks: list[dict[str, Any]], reason: str, pointer: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=AGENTS, text="fallback", blocks=blocks)
    body = raised.value.response.data
    assert isinstance(body, dict) and body["error"] == "invalid_blocks"
    assert any(reason in e and e.endswith(f"[json-pointer:{pointer}]") for e in body["errors"])
    assert body["response_metadata"]["messages"][0].startswith("[ERROR] ")


def test_chat_update_checks_blocks_too(client: WebClient) -> None:
    ts = client.chat_postMessage(channel=AGENTS, text="x")["ts"]
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_update(channel=AGENTS, ts=ts, text="y", blocks=[_section("y" * 3001)])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOWHERE01", "text": "x"}, "channel_not_found"),
        ({"channel": AGENTS, "text": "x", "thread_ts": "1600000000.000100"}, "thread_not_found"),
        ({"channel": AGENTS, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": AGENTS}, "no_text"),
    ],
)
def test_post_message_errors(client: WebClient, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(SlackApiError) as raised:
        # api_call: the SDK's own no-text warning would come before the request.
        client.api_call("chat.postMessage", json=kwargs)
    assert raised.value.response["error"] == error


def test_a_channel_the_bot_is_not_in(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_channel("C0PRIVATE01", "secret", is_private=True, is_member=False)
    with pytest.raises(SlackApiError, match="not_in_channel"):
        client.chat_postMessage(channel="C0PRIVATE01", text="x")


def test_a_user_id_as_channel_opens_a_dm(client: WebClient) -> None:
    posted = client.chat_postMessage(channel=AGENT, text="Your digest")
    assert posted["channel"].startswith("D")
    assert client.conversations_open(users=AGENT)["channel"]["id"] == posted["channel"]


def test_people_groups_reactions_and_ephemeral_messages(
    slack: SlackStandIn, client: WebClient
) -> None:
    slack.add_usergroup("S0AGENTS001", [AGENT])
    user = client.users_info(user=AGENT)["user"]
    assert (user["id"], user["name"], user["is_admin"], user["is_bot"]) == (
        AGENT,
        "ada.lovelace",
        True,
        False,
    )
    assert user["profile"]["real_name"] == "Ada Lovelace"
    assert client.usergroups_users_list(usergroup="S0AGENTS001")["users"] == [AGENT]
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.users_info(user="U0NOBODY001")
    with pytest.raises(SlackApiError, match="no_such_subteam"):
        client.usergroups_users_list(usergroup="S0NOTHING01")

    ts = client.chat_postMessage(channel=AGENTS, text="x")["ts"]
    client.reactions_add(channel=AGENTS, timestamp=ts, name="white_check_mark")
    with pytest.raises(SlackApiError, match="already_reacted"):
        client.reactions_add(channel=AGENTS, timestamp=ts, name="white_check_mark")
    assert slack.workspace.message(AGENTS, ts)["reactions"][0]["count"] == 1

    ephemeral = client.chat_postEphemeral(channel=AGENTS, user=AGENT, text="only you")
    assert ephemeral["message_ts"]
    assert slack.workspace.ephemeral_messages()[0]["text"] == "only you"
    assert client.conversations_history(channel=AGENTS)["messages"][0]["ts"] == ts


def test_views_open_update_and_publish(slack: SlackStandIn, client: WebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Edit"}, "blocks": []}
    trigger = slack.workspace.issue_trigger()
    opened = client.views_open(trigger_id=trigger, view=view)["view"]
    assert opened["id"].startswith("V") and opened["root_view_id"] == opened["id"]
    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        client.views_open(trigger_id=trigger, view=view)
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        client.views_open(trigger_id="123.456.abc", view=view)

    renamed = {**view, "title": {"type": "plain_text", "text": "Edited"}}
    with pytest.raises(SlackApiError, match="hash_conflict"):
        client.views_update(view_id=opened["id"], hash="stale", view=renamed)
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=renamed)
    assert updated["view"]["title"]["text"] == "Edited"

    too_long = {**view, "title": {"type": "plain_text", "text": "t" * 25}}
    with pytest.raises(SlackApiError) as raised:
        client.views_open(trigger_id=slack.workspace.issue_trigger(), view=too_long)
    assert raised.value.response["error"] == "invalid_arguments"
    assert (
        "[json-pointer:/view/title/text]"
        in raised.value.response["response_metadata"]["messages"][0]
    )

    home = client.views_publish(user_id=AGENT, view={"type": "home", "blocks": []})["view"]
    assert home["type"] == "home"


def test_an_expired_trigger_is_refused(slack: SlackStandIn, client: WebClient) -> None:
    slack.workspace.trigger_ttl = 0.05
    trigger = slack.workspace.issue_trigger()
    time.sleep(0.1)
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Edit"}, "blocks": []}
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        client.views_open(trigger_id=trigger, view=view)


def test_form_bodies_with_a_token_field_and_json_strings(slack: SlackStandIn) -> None:
    """What other clients send: form fields, `token=`, blocks as a JSON string."""
    form = {
        "token": slack.bot_token,
        "channel": AGENTS,
        "text": "form",
        "blocks": json.dumps([_section("hi")]),
    }
    request = urllib.request.Request(
        slack.base_url + "chat.postMessage", data=urlencode(form).encode(), method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=5) as response:
        body = json.loads(response.read())
    assert body["ok"] is True and body["message"]["blocks"][0]["type"] == "section"
    # A token inside a JSON body is ignored by Slack: the call is not authenticated.
    request = urllib.request.Request(
        slack.base_url + "auth.test",
        data=json.dumps({"token": slack.bot_token}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    with opener.open(request, timeout=5) as response:
        assert json.loads(response.read())["error"] == "not_authed"


def test_429_is_retried_with_the_rate_limit_handler(slack: SlackStandIn) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    slack.rate_limit("chat.postMessage", times=1, retry_after=1)

    started = time.monotonic()
    posted = client.chat_postMessage(channel=AGENTS, text="after a wait")

    assert posted["ok"] and time.monotonic() - started >= 1.0
    statuses = [c.status for c in slack.calls("chat.postMessage")]
    assert statuses == [429, 200]


def test_429_raises_without_a_retry_handler(slack: SlackStandIn, client: WebClient) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=AGENTS, text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response["error"] == "ratelimited"
    assert raised.value.response.headers["Retry-After"] == "7"
    assert client.chat_postMessage(channel=AGENTS, text="x")["ok"]  # only the next n calls


def test_automatic_per_channel_limit_for_post_message(
    slack: SlackStandIn, client: WebClient
) -> None:
    slack.add_channel("C0OTHER0001", "other")
    slack.web.limit_posts_per_channel(per_second=1.0, burst=2)
    for _ in range(2):
        client.chat_postMessage(channel=AGENTS, text="burst")
    with pytest.raises(SlackApiError, match="ratelimited"):
        client.chat_postMessage(channel=AGENTS, text="one too many")
    assert client.chat_postMessage(channel="C0OTHER0001", text="other channel")["ok"]
