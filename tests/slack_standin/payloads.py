"""Request payloads as Slack sends them to an app, bound to the stand-in workspace.

Shapes are those of the real payloads collected from slackapi/bolt-python's tests and the
java-slack-sdk's samples (see ../shared/data/slack/), with the fields Bolt and our bot read:
- Events API: an `event_callback` envelope with a unique `event_id`, `event_time`,
  `authorizations` (https://docs.slack.dev/apis/events-api/#callback-field);
- interactions: `block_actions` and `view_submission` with a fresh `trigger_id`
  (https://docs.slack.dev/reference/interaction-payloads);
- slash commands: the form fields (https://docs.slack.dev/interactivity/implementing-slash-commands);
- `url_verification` (https://docs.slack.dev/reference/events/url_verification).

Being bound to the workspace is the point: a customer's message gets a real `ts` there (so the
bot can reply in its thread), a click names a message the stand-in holds (and must name a
button that message has), its `trigger_id` is one `views.open` will accept for 3 seconds, and
its `response_url` leads to the stand-in (see response_urls.py), not to hooks.slack.com.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

from tests.slack_standin.workspace import Workspace


def url_verification(challenge: str | None = None, *, token: str = "") -> dict[str, Any]:
    """The handshake Slack sends when an Events API request URL is saved."""
    return {
        "token": token,
        "challenge": challenge or secrets.token_urlsafe(24),
        "type": "url_verification",
    }


class PayloadFactory:
    def __init__(
        self, workspace: Workspace, *, response_url_base: Callable[[], str] | None = None
    ) -> None:
        """`response_url_base` gives where response_urls point (the Web API stand-in's
        `/hooks/`); without it they have Slack's own form and lead nowhere."""
        self.workspace = workspace
        self.me = workspace.identity
        self._response_url_base = response_url_base

    def _response_url(self, kind: str, channel_id: str, message_ts: str | None) -> str:
        key = self.workspace.issue_response_key(channel_id, message_ts)
        base = self._response_url_base() if self._response_url_base else "https://hooks.slack.com/"
        return f"{base}{kind}/{self.me.team_id}/{secrets.randbelow(10**12)}/{key}"

    # -- Events API -------------------------------------------------------------------------

    def event_callback(
        self, event: dict[str, Any], *, authed_user: str | None = None
    ) -> dict[str, Any]:
        """Wrap an inner event as Slack does; each call is a new event_id (a retry of the same
        event keeps it: resend the same dict)."""
        return {
            "token": self.me.verification_token,
            "team_id": self.me.team_id,
            "context_team_id": self.me.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.me.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": self.workspace.seq.event_id(),
            "event_time": int(float(event.get("event_ts", event.get("ts", "0")))),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.me.team_id,
                    "user_id": authed_user or self.me.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(40),
        }

    def message_event(
        self,
        *,
        user: str,
        text: str,
        channel: str,
        thread_ts: str | None = None,
        event_type: str = "message",
    ) -> dict[str, Any]:
        """A person's message, stored in the channel (so it has a real ts), wrapped."""
        ws = self.workspace
        target = ws.channel(channel)
        stored = ws.store_message(
            target,
            {
                "client_msg_id": str(uuid.uuid4()),
                "type": "message",
                "text": text,
                "user": user,
                "team": self.me.team_id,
                "blocks": [_rich_text(text)],
            },
            thread_ts=thread_ts,
        )
        event = {**stored, "type": event_type, "channel": target.id, "event_ts": stored["ts"]}
        if event_type == "message":
            event["channel_type"] = "im" if target.is_im else "channel"
        for key in ("reply_count", "reply_users", "reply_users_count", "latest_reply"):
            event.pop(key, None)
        return self.event_callback(event)

    def app_mention(
        self, *, user: str, text: str, channel: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A message mentioning the bot (text gets `<@BOT> ` in front if it lacks it)."""
        mention = f"<@{self.me.bot_user_id}>"
        if mention not in text:
            text = f"{mention} {text}"
        return self.message_event(
            user=user, text=text, channel=channel, thread_ts=thread_ts, event_type="app_mention"
        )

    def bot_message_event(self, *, channel: str, ts: str) -> dict[str, Any]:
        """The message event Slack sends back for a message the bot itself posted (found in
        the stand-in by channel and ts): it carries `bot_id`, `bot_profile`, `app_id` and the
        bot's user id, which is how Bolt and our bot recognise their own posts."""
        stored = self.workspace.message(self.workspace.channel(channel).id, ts)
        event = {**stored, "channel": channel, "event_ts": stored["ts"], "channel_type": "channel"}
        return self.event_callback(event)

    def other_bot_message_event(
        self, *, channel: str, text: str, bot_id: str = "B0OTHERBOT1", username: str = "other"
    ) -> dict[str, Any]:
        """A legacy integration's post: `subtype: bot_message`, a bot_id, no user
        (https://docs.slack.dev/reference/events/message/bot_message)."""
        ws = self.workspace
        stored = ws.store_message(
            ws.channel(channel),
            {
                "type": "message",
                "subtype": "bot_message",
                "text": text,
                "bot_id": bot_id,
                "username": username,
            },
        )
        event = {**stored, "channel": channel, "event_ts": stored["ts"], "channel_type": "channel"}
        return self.event_callback(event)

    def app_home_opened(self, *, user: str, tab: str = "home") -> dict[str, Any]:
        """A user opened the app's Home (or Messages) tab
        (https://docs.slack.dev/reference/events/app_home_opened)."""
        ws = self.workspace
        event_ts = ws.seq.next_ts()
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": ws.open_dm(user).id,
            "tab": tab,
            "event_ts": event_ts,
        }
        return self.event_callback(event)

    # -- interactions -----------------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        name = self.workspace.user(user_id)["name"] if self.workspace.has_user(user_id) else user_id
        return {"id": user_id, "username": name, "name": name, "team_id": self.me.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.me.team_id, "domain": self.me.team_domain}

    def block_actions(
        self,
        *,
        user: str,
        action_id: str,
        message_ts: str,
        channel: str,
        value: str | None = None,
        block_id: str | None = None,
    ) -> dict[str, Any]:
        """A button click on a message the stand-in holds. The button must exist in that
        message (Slack cannot send a click on a button that is not there); `value` and
        `block_id` default to the button's own. For an overflow menu or a select, `value`
        names the option picked, which must be one of the element's options; the action then
        carries `selected_option` as Slack sends it."""
        ws = self.workspace
        target = ws.channel(channel)
        message = ws.message(target.id, message_ts)
        found = _find_element(message.get("blocks", []), action_id)
        if found is None:
            raise ValueError(f"message {message_ts} in {channel} has no element {action_id!r}")
        found_block_id, element = found
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or found_block_id,
            "type": element.get("type", "button"),
            "action_ts": ws.seq.next_ts(),
        }
        if element.get("type", "button") == "button":
            action["text"] = element.get("text", {"type": "plain_text", "text": ""})
        if "options" in element:
            option = next((o for o in element["options"] if o.get("value") == value), None)
            if option is None:
                raise ValueError(f"{action_id!r} has no option with value {value!r}")
            action["selected_option"] = option
        else:
            chosen = value if value is not None else element.get("value")
            if chosen is not None:
                action["value"] = chosen
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": target.id,
            "is_ephemeral": False,
        }
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        return {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.me.app_id,
            "token": self.me.verification_token,
            "container": container,
            "trigger_id": ws.issue_trigger(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": target.id, "name": target.name},
            "message": message,
            "state": {"values": {}},
            "response_url": self._response_url("actions", target.id, message_ts),
            "actions": [action],
        }

    def view_submission(
        self,
        *,
        user: str,
        callback_id: str | None = None,
        private_metadata: str | None = None,
        values: dict[str, dict[str, Any]] | None = None,
        view_id: str | None = None,
    ) -> dict[str, Any]:
        """A modal submitted. With `view_id`, the view the bot opened (views.open) is the base
        (its blocks, callback_id, private_metadata). `values` is
        `{block_id: {action_id: "text" | {full state value}}}`; a string becomes a
        plain_text_input value."""
        ws = self.workspace
        if view_id is not None:
            view = ws.find_view(view_id=view_id)
        else:
            view = {
                "id": ws.seq.view_id(),
                "team_id": self.me.team_id,
                "type": "modal",
                "blocks": [],
                "private_metadata": "",
                "callback_id": "",
                "hash": f"1700000000.{secrets.token_urlsafe(6)}",
                "title": {"type": "plain_text", "text": "Modal"},
                "clear_on_close": False,
                "notify_on_close": False,
                "close": None,
                "submit": {"type": "plain_text", "text": "Submit"},
                "previous_view_id": None,
                "app_id": self.me.app_id,
                "external_id": "",
                "app_installed_team_id": self.me.team_id,
                "bot_id": self.me.bot_id,
            }
            view["root_view_id"] = view["id"]
        if callback_id is not None:
            view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        view["state"] = {
            "values": {
                block: {
                    action: (
                        {"type": "plain_text_input", "value": value}
                        if isinstance(value, str)
                        else value
                    )
                    for action, value in actions.items()
                }
                for block, actions in (values or {}).items()
            }
        }
        return {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user),
            "api_app_id": self.me.app_id,
            "token": self.me.verification_token,
            "trigger_id": ws.issue_trigger(),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def users_select(self, user: str | None) -> dict[str, Any]:
        """A users_select's state value in a view submission: `selected_user` is a user of
        this workspace (Slack offers no one else), or null when an optional input was left
        empty (https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element)."""
        if user is not None and not self.workspace.has_user(user):
            raise ValueError(f"{user!r} is not a user of this workspace")
        return {"type": "users_select", "selected_user": user}

    def slash_command(self, *, command: str, text: str, user: str, channel: str) -> dict[str, str]:
        """The form fields of a slash command (all strings, as Slack posts them)."""
        ws = self.workspace
        target = ws.channel(channel)
        user_name = ws.user(user)["name"] if ws.has_user(user) else user
        return {
            "token": self.me.verification_token,
            "team_id": self.me.team_id,
            "team_domain": self.me.team_domain,
            "channel_id": target.id,
            "channel_name": "directmessage" if target.is_im else target.name,
            "user_id": user,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.me.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url("commands", target.id, None),
            "trigger_id": ws.issue_trigger(),
        }


def _rich_text(text: str) -> dict[str, Any]:
    """The rich_text block Slack adds to every message a person types."""
    return {
        "type": "rich_text",
        "block_id": secrets.token_urlsafe(3),
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }


def _find_element(
    blocks: list[dict[str, Any]], action_id: str
) -> tuple[str, dict[str, Any]] | None:
    for block in blocks:
        candidates = list(block.get("elements", []))
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id") or secrets.token_urlsafe(3)), element
    return None
