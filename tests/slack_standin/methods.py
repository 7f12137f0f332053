"""The Web API methods the bot uses, answering with Slack's response shapes and error codes.

Each method takes the parsed parameters and returns the JSON body, or raises `SlackError`.
Shapes follow https://docs.slack.dev/reference/methods/<method> and the python-slack-sdk
fixtures; errors are the ones those pages list.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

from tests.slack_standin.block_kit import message_block_errors, view_errors
from tests.slack_standin.workspace import Channel, SlackError, Workspace, invalid_arguments

Params = dict[str, Any]
Body = dict[str, Any]

# "Slack will truncate messages containing more than 40,000 characters"; the methods list
# msg_too_long for them (https://docs.slack.dev/reference/methods/chat.postMessage#truncating).
TEXT_MAX = 40_000


@dataclass(frozen=True)
class Context:
    """What a method may use: the workspace, and the Socket Mode server's URL issuer."""

    workspace: Workspace
    issue_socket_url: Callable[[], str] | None


Handler = Callable[[Context, Params], Body]


@dataclass(frozen=True)
class Method:
    handler: Handler
    # apps.connections.open takes the app-level token (xapp-), everything else the bot token
    # (https://docs.slack.dev/authentication/tokens#app-level).
    token: Literal["bot", "app"] = "bot"


def _required(params: Params, name: str) -> Any:
    value = params.get(name)
    if value in (None, ""):
        raise invalid_arguments(f"missing required field: {name}")
    return value


def is_truthy(value: object) -> bool:
    return value is True or value in ("1", "true", "True", 1)


def bot_message(ws: Workspace) -> dict[str, Any]:
    """What Slack stores for a post made with the bot token: user, bot_id, app_id, bot_profile,
    no subtype (https://docs.slack.dev/reference/events/message/bot_message is the legacy form)."""
    me = ws.identity
    return {
        "user": me.bot_user_id,
        "type": "message",
        "bot_id": me.bot_id,
        "app_id": me.app_id,
        "team": me.team_id,
        "bot_profile": {
            "id": me.bot_id,
            "app_id": me.app_id,
            "name": me.bot_name,
            "icons": {"image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png"},
            "deleted": False,
            "updated": 1_700_000_000,
            "team_id": me.team_id,
        },
    }


def content(params: Params, *, is_update: bool) -> dict[str, Any]:
    """text/blocks/attachments/metadata, checked as Slack checks them."""
    text, blocks, attachments = params.get("text"), params.get("blocks"), params.get("attachments")
    if text in (None, "") and blocks is None and attachments is None:
        raise SlackError("no_text")
    if isinstance(text, str) and len(text) > TEXT_MAX:
        raise SlackError("msg_too_long")
    content: dict[str, Any] = {}
    if text is not None or not is_update:
        content["text"] = text or ""
    if blocks is not None:
        errors = message_block_errors(blocks)
        if errors:
            raise SlackError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        # Slack gives every block without a block_id one of its own, and returns it.
        content["blocks"] = [
            {**block, "block_id": block.get("block_id") or secrets.token_urlsafe(3)}
            for block in blocks
        ]
    if attachments is not None:
        content["attachments"] = attachments
    if params.get("metadata") is not None:
        content["metadata"] = params["metadata"]
    return content


def _postable_channel(ws: Workspace, params: Params) -> Channel:
    channel = ws.channel(params.get("channel"))
    if not channel.is_member and not channel.is_im:
        raise SlackError("not_in_channel")
    return channel


# -- methods ----------------------------------------------------------------------------------


def auth_test(ctx: Context, params: Params) -> Body:
    me = ctx.workspace.identity
    return {
        "ok": True,
        "url": f"https://{me.team_domain}.slack.com/",
        "team": me.team_name,
        "user": me.bot_name,
        "team_id": me.team_id,
        "user_id": me.bot_user_id,
        "bot_id": me.bot_id,
        "is_enterprise_install": False,
    }


def chat_post_message(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    channel = _postable_channel(ws, params)
    message = {**bot_message(ws), **content(params, is_update=False)}
    thread_ts = params.get("thread_ts") or None
    stored = ws.store_message(
        channel,
        message,
        thread_ts=thread_ts,
        reply_broadcast=thread_ts is not None and is_truthy(params.get("reply_broadcast")),
    )
    return {"ok": True, "channel": channel.id, "ts": stored["ts"], "message": stored}


def chat_update(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    channel = ws.channel(params.get("channel"))
    ts = _required(params, "ts")
    # Only what is passed changes: text alone keeps the old blocks (and their buttons).
    updated = ws.update_message(channel, ts, content(params, is_update=True))
    return {
        "ok": True,
        "channel": channel.id,
        "ts": ts,
        "text": updated.get("text", ""),
        "message": updated,
    }


def chat_post_ephemeral(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    channel = _postable_channel(ws, params)
    user = params.get("user")
    if not isinstance(user, str) or not ws.has_user(user):
        raise SlackError("user_not_in_channel")
    message = content(params, is_update=False)
    message_ts = ws.store_ephemeral(
        {**message, "channel": channel.id, "user": user, "thread_ts": params.get("thread_ts")}
    )
    return {"ok": True, "message_ts": message_ts}


def chat_get_permalink(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    channel = ws.channel(params.get("channel"))
    message = ws.message(channel.id, _required(params, "message_ts"))
    link = (
        f"https://{ws.identity.team_domain}.slack.com/archives/{channel.id}"
        f"/p{message['ts'].replace('.', '')}"
    )
    if message.get("thread_ts") not in (None, message["ts"]):
        link += f"?thread_ts={message['thread_ts']}&cid={channel.id}"
    return {"ok": True, "channel": channel.id, "permalink": link}


def _checked_view(params: Params) -> dict[str, Any]:
    view = _required(params, "view")
    errors = view_errors(view)
    if errors:
        raise invalid_arguments(*errors)
    return cast(dict[str, Any], view)


def _view_object(ws: Workspace, view: dict[str, Any], *, view_id: str, root: str) -> Body:
    """A view as views.* return it (shape of python-slack-sdk's view fixtures)."""
    me = ws.identity
    return {
        "id": view_id,
        "team_id": me.team_id,
        "type": view["type"],
        "blocks": view.get("blocks", []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{secrets.token_urlsafe(6)}",
        "title": view.get("title"),
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": None,
        "root_view_id": root,
        "app_id": me.app_id,
        "external_id": view.get("external_id", ""),
        "app_installed_team_id": me.team_id,
        "bot_id": me.bot_id,
    }


def views_open(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    view = _checked_view(params)
    ws.exchange_trigger(params.get("trigger_id") or params.get("interactivity_pointer"))
    view_id = ws.seq.view_id()
    saved = ws.save_view(_view_object(ws, view, view_id=view_id, root=view_id))
    return {"ok": True, "view": saved}


def views_push(ctx: Context, params: Params) -> Body:
    return views_open(ctx, params)


def views_update(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    view = _checked_view(params)
    current = ws.find_view(view_id=params.get("view_id"), external_id=params.get("external_id"))
    if params.get("hash") not in (None, "", current["hash"]):
        raise SlackError("hash_conflict")
    updated = _view_object(ws, view, view_id=current["id"], root=current["root_view_id"])
    return {"ok": True, "view": ws.save_view(updated)}


def views_publish(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    user = ws.user(_required(params, "user_id"))
    view = _checked_view(params)
    try:
        current = ws.find_view(external_id=f"home:{user['id']}")
        view_id = current["id"]
    except SlackError:
        view_id = ws.seq.view_id()
    saved = _view_object(
        ws, {**view, "external_id": f"home:{user['id']}"}, view_id=view_id, root=view_id
    )
    return {"ok": True, "view": ws.save_view(saved)}


def _page(items: list[dict[str, Any]], params: Params, *, default_limit: int) -> Body:
    """Cursor pagination as Slack does it (https://docs.slack.dev/apis/web-api/pagination)."""
    limit = int(params.get("limit") or default_limit)
    cursor = params.get("cursor")
    start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
    page = items[start : start + limit]
    has_more = start + limit < len(items)
    next_cursor = base64.b64encode(f"next_ts:{start + limit}".encode()).decode() if has_more else ""
    return {
        "ok": True,
        "messages": page,
        "has_more": has_more,
        "response_metadata": {"next_cursor": next_cursor},
    }


def conversations_replies(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    channel = ws.channel(params.get("channel"))
    thread = ws.thread(channel.id, _required(params, "ts"))
    return _page(thread, params, default_limit=1000)


def conversations_history(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    channel = ws.channel(params.get("channel"))
    oldest = float(params.get("oldest") or 0)
    latest = float(params["latest"]) if params.get("latest") else None
    inclusive = is_truthy(params.get("inclusive"))

    def is_in_range(message: dict[str, Any]) -> bool:
        ts = float(message["ts"])
        above = ts >= oldest if inclusive else ts > oldest
        below = latest is None or (ts <= latest if inclusive else ts < latest)
        return above and below

    messages = [m for m in ws.history(channel.id) if is_in_range(m)]
    return {**_page(messages, params, default_limit=100), "pin_count": 0}


def conversations_info(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    return {"ok": True, "channel": ws.channel(params.get("channel")).info(ws.identity.team_id)}


def conversations_open(ctx: Context, params: Params) -> Body:
    users = str(_required(params, "users")).split(",")
    if len(users) != 1:
        raise SlackError("not_implemented", detail="the stand-in opens one-to-one DMs only")
    channel = ctx.workspace.open_dm(users[0])
    return {"ok": True, "channel": {"id": channel.id}}


def users_info(ctx: Context, params: Params) -> Body:
    return {"ok": True, "user": ctx.workspace.user(params.get("user"))}


def usergroups_users_list(ctx: Context, params: Params) -> Body:
    return {"ok": True, "users": ctx.workspace.usergroup_users(params.get("usergroup"))}


def reactions_add(ctx: Context, params: Params) -> Body:
    ws = ctx.workspace
    channel = ws.channel(params.get("channel"))
    name = str(params.get("name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    ws.add_reaction(channel, _required(params, "timestamp"), name, ws.identity.bot_user_id)
    return {"ok": True}


def apps_connections_open(ctx: Context, params: Params) -> Body:
    if ctx.issue_socket_url is None:
        raise SlackError("internal_error", detail="no Socket Mode server is running")
    return {"ok": True, "url": ctx.issue_socket_url()}


METHODS: dict[str, Method] = {
    "auth.test": Method(auth_test),
    "chat.postMessage": Method(chat_post_message),
    "chat.update": Method(chat_update),
    "chat.postEphemeral": Method(chat_post_ephemeral),
    "chat.getPermalink": Method(chat_get_permalink),
    "views.open": Method(views_open),
    "views.push": Method(views_push),
    "views.update": Method(views_update),
    "views.publish": Method(views_publish),
    "conversations.replies": Method(conversations_replies),
    "conversations.history": Method(conversations_history),
    "conversations.info": Method(conversations_info),
    "conversations.open": Method(conversations_open),
    "users.info": Method(users_info),
    "usergroups.users.list": Method(usergroups_users_list),
    "reactions.add": Method(reactions_add),
    "apps.connections.open": Method(apps_connections_open, token="app"),
}
