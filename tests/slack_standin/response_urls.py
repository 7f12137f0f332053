"""Answers posted to an interaction's `response_url`, served by the Web API stand-in.

Slack's response URLs live on hooks.slack.com; ours point at the stand-in
(`http://127.0.0.1:<port>/hooks/…`), so Bolt's `respond()` works offline and is recorded
(method `response_url` in the call log). What a response does
(https://docs.slack.dev/interactivity/handling-user-interaction#message_responses):
`delete_original` removes the message the click came from; `replace_original` replaces its
content whole (old blocks go, unlike chat.update); `response_type: in_channel` posts a new
message; anything else is an ephemeral message. A URL may be used 5 times within 30 minutes.
"""

from __future__ import annotations

from typing import Any

from tests.slack_standin.methods import bot_message, content, is_truthy
from tests.slack_standin.workspace import SlackError, Workspace


def respond(ws: Workspace, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for one POST to a response_url."""
    target = ws.use_response_key(key)
    if target is None:
        return 404, {"ok": False, "error": "expired_url"}
    channel = ws.channel(target.channel_id)
    try:
        if is_truthy(body.get("delete_original")) and target.message_ts:
            ws.delete_message(channel, target.message_ts)
        elif is_truthy(body.get("replace_original")) and target.message_ts:
            new = content(body, is_update=False)
            ws.update_message(channel, target.message_ts, new, is_replace=True)
        elif body.get("response_type") == "in_channel":
            message = {**bot_message(ws), **content(body, is_update=False)}
            ws.store_message(channel, message, thread_ts=body.get("thread_ts") or None)
        else:
            ws.store_ephemeral({**content(body, is_update=False), "channel": channel.id})
    except SlackError as error:
        return 400, error.body()
    return 200, {"ok": True}
