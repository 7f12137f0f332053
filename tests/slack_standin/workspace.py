"""The stand-in workspace's state: channels and their messages and threads, users, user groups,
issued trigger_ids and opened views. Thread-safe; the Web API methods and the payload factories
both read and write it, and tests inspect it.

Messages are kept in Slack's own JSON shape (what conversations.history returns), because that
is what the bot reads back; everything handed out is a deep copy.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.slack_standin.ids import Identity, IdSource

# Slack: "trigger_ids expire in 3 seconds" and may be used once
# (https://docs.slack.dev/interactivity/handling-user-interaction#modal_responses,
# views.open errors expired_trigger_id / exchanged_trigger_id / invalid_trigger_id).
TRIGGER_TTL_SECONDS = 3.0
# "use the response_url up to 5 times within 30 minutes"
# (https://docs.slack.dev/interactivity/handling-user-interaction#message_responses).
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60


class SlackError(Exception):
    """A Web API method's `{"ok": false, "error": …}` answer (HTTP 200, as Slack sends it)."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}


def invalid_arguments(*messages: str) -> SlackError:
    """Slack's answer to a malformed call: the reasons under response_metadata.messages."""
    return SlackError(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] {m}" for m in messages]},
    )


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    user: str | None = None
    is_member: bool = True
    # ts → message; ts only grows, so insertion order is chronological order.
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def info(self, team_id: str) -> dict[str, Any]:
        """The channel object of conversations.info / conversations.open."""
        base: dict[str, Any] = {
            "id": self.id,
            "created": 1_700_000_000,
            "is_archived": False,
            "is_im": self.is_im,
            "context_team_id": team_id,
        }
        if self.is_im:
            return {**base, "is_org_shared": False, "user": self.user, "is_user_deleted": False}
        return {
            **base,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": False,
            "is_private": self.is_private,
            "is_mpim": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": self.is_member,
            "name_normalized": self.name,
        }


@dataclass
class _Trigger:
    issued_at: float
    is_exchanged: bool = False


@dataclass
class ResponseTarget:
    """Where a response_url answers: the channel, and the message the interaction came from."""

    channel_id: str
    message_ts: str | None
    issued_at: float
    uses: int = 0


class Workspace:
    """All state of one stand-in workspace, behind one lock."""

    def __init__(self, identity: Identity, *, trigger_ttl: float = TRIGGER_TTL_SECONDS) -> None:
        self.identity = identity
        self.seq = IdSource()
        self.trigger_ttl = trigger_ttl
        self.lock = threading.RLock()
        self._channels: dict[str, Channel] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._ephemeral: list[dict[str, Any]] = []
        self._response_targets: dict[str, ResponseTarget] = {}
        self.add_user(identity.bot_user_id, identity.bot_name, is_bot=True)

    # -- set-up, by tests -------------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool = False,
        is_member: bool = True,
    ) -> Channel:
        """Register a channel; Slack answers `channel_not_found` for any other id. With
        `is_member=False` the bot is not in it, and posting answers `not_in_channel`."""
        if channel_id[:1] not in ("C", "G"):
            raise ValueError(f"channel ids start with C (or G for old private ones): {channel_id}")
        with self.lock:
            channel = Channel(
                channel_id, name or channel_id.lower(), is_private=is_private, is_member=is_member
            )
            self._channels[channel_id] = channel
            return channel

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        is_admin: bool = False,
        real_name: str | None = None,
        email: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Register a user; users.info answers with the object shaped as Slack's
        (https://docs.slack.dev/reference/methods/users.info)."""
        real = real_name or name.replace(".", " ").title()
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
        profile: dict[str, Any] = {
            "real_name": real,
            "display_name": name,
            "real_name_normalized": real,
            "display_name_normalized": name,
            "status_text": "",
            "status_emoji": "",
            "team": self.identity.team_id,
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self.identity.bot_id
        user = {
            "id": user_id,
            "team_id": self.identity.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real,
            "tz": tz,
            "tz_label": datetime.now(ZoneInfo(tz)).tzname() or tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
        }
        with self.lock:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        with self.lock:
            self._usergroups[usergroup_id] = list(users)

    # -- lookups ----------------------------------------------------------------------------

    def channel(self, ref: object) -> Channel:
        """A channel by id or name (`general`, `#general`); a user id opens the DM with that
        user, as chat.postMessage does (https://docs.slack.dev/reference/methods/chat.postMessage
        "channel")."""
        if not isinstance(ref, str) or not ref:
            raise SlackError("channel_not_found")
        with self.lock:
            if ref in self._channels:
                return self._channels[ref]
            if ref[:1] in ("U", "W") and ref in self._users:
                return self.open_dm(ref)
            name = ref.removeprefix("#")
            for channel in self._channels.values():
                if channel.name == name and not channel.is_im:
                    return channel
        raise SlackError("channel_not_found")

    def open_dm(self, user_id: str) -> Channel:
        with self.lock:
            if user_id not in self._users:
                raise SlackError("user_not_found")
            for channel in self._channels.values():
                if channel.is_im and channel.user == user_id:
                    return channel
            channel = Channel(self.seq.dm_channel_id(), user_id, is_im=True, user=user_id)
            self._channels[channel.id] = channel
            return channel

    def user(self, user_id: object) -> dict[str, Any]:
        with self.lock:
            if not isinstance(user_id, str) or user_id not in self._users:
                raise SlackError("user_not_found")
            return copy.deepcopy(self._users[user_id])

    def has_user(self, user_id: str) -> bool:
        with self.lock:
            return user_id in self._users

    def usergroup_users(self, usergroup_id: object) -> list[str]:
        with self.lock:
            if not isinstance(usergroup_id, str) or usergroup_id not in self._usergroups:
                raise SlackError("no_such_subteam")
            return list(self._usergroups[usergroup_id])

    def message(self, channel_id: str, ts: object) -> dict[str, Any]:
        """A stored message (deep copy); `message_not_found` otherwise."""
        with self.lock:
            found = self._find(channel_id, ts)
            if found is None:
                raise SlackError("message_not_found")
            return copy.deepcopy(found)

    def _find(self, channel_id: str, ts: object) -> dict[str, Any] | None:
        channel = self._channels.get(channel_id)
        if channel is None or not isinstance(ts, str):
            return None
        return channel.messages.get(ts)

    # -- messages ---------------------------------------------------------------------------

    def store_message(
        self,
        channel: Channel,
        message: dict[str, Any],
        *,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> dict[str, Any]:
        """Give `message` the next ts, thread it under `thread_ts`, keep it; returns a copy.

        Threading as Slack shows it (https://docs.slack.dev/messaging#threading): the parent
        gains thread_ts, reply_count, reply_users, latest_reply; a reply carries thread_ts and
        parent_user_id. A thread_ts naming a reply is taken as that reply's thread.
        """
        with self.lock:
            stored = dict(message)
            stored["ts"] = self.seq.next_ts()
            if thread_ts is not None:
                parent = channel.messages.get(thread_ts)
                if parent is None:
                    raise SlackError("thread_not_found")
                root = channel.messages[parent.get("thread_ts", parent["ts"])]
                stored["thread_ts"] = root["ts"]
                stored["parent_user_id"] = root.get("user", "")
                if reply_broadcast:
                    stored["subtype"] = "thread_broadcast"
                author = stored.get("user")
                root["thread_ts"] = root["ts"]
                root["reply_count"] = root.get("reply_count", 0) + 1
                users = root.setdefault("reply_users", [])
                if author and author not in users:
                    users.append(author)
                root["reply_users_count"] = len(users)
                root["latest_reply"] = stored["ts"]
                root.setdefault("is_locked", False)
                root.setdefault("subscribed", False)
            channel.messages[stored["ts"]] = stored
            return copy.deepcopy(stored)

    def update_message(
        self, channel: Channel, ts: object, changes: dict[str, Any], *, is_replace: bool = False
    ) -> dict[str, Any]:
        """chat.update merges (what is not passed stays); a response_url with
        replace_original replaces the content whole (`is_replace`)."""
        with self.lock:
            found = self._find(channel.id, ts)
            if found is None:
                raise SlackError("message_not_found")
            if found.get("bot_id") != self.identity.bot_id:
                raise SlackError("cant_update_message")
            if is_replace:
                for key in ("text", "blocks", "attachments"):
                    found.pop(key, None)
            found.update(changes)
            found["edited"] = {"user": self.identity.bot_user_id, "ts": self.seq.next_ts()}
            return copy.deepcopy(found)

    def add_reaction(self, channel: Channel, ts: object, name: str, user: str) -> None:
        with self.lock:
            found = self._find(channel.id, ts)
            if found is None:
                raise SlackError("message_not_found")
            reactions: list[dict[str, Any]] = found.setdefault("reactions", [])
            for reaction in reactions:
                if reaction["name"] == name:
                    if user in reaction["users"]:
                        raise SlackError("already_reacted")
                    reaction["users"].append(user)
                    reaction["count"] += 1
                    return
            reactions.append({"name": name, "users": [user], "count": 1})

    def delete_message(self, channel: Channel, ts: str) -> None:
        with self.lock:
            if channel.messages.pop(ts, None) is None:
                raise SlackError("message_not_found")

    def store_ephemeral(self, message: dict[str, Any]) -> str:
        with self.lock:
            stored = {**message, "ts": self.seq.next_ts()}
            self._ephemeral.append(stored)
            return str(stored["ts"])

    def thread(self, channel_id: str, ts: str) -> list[dict[str, Any]]:
        """Parent first, then replies in order (conversations.replies)."""
        with self.lock:
            channel = self._channels.get(channel_id)
            if channel is None:
                raise SlackError("channel_not_found")
            parent = channel.messages.get(ts)
            if parent is None:
                raise SlackError("thread_not_found")
            root_ts = parent.get("thread_ts", ts)
            root = channel.messages[root_ts]
            replies = [m for m in channel.messages.values() if m.get("thread_ts") == root_ts]
            return copy.deepcopy([root, *[m for m in replies if m["ts"] != root_ts]])

    def history(self, channel_id: str) -> list[dict[str, Any]]:
        """Top-level messages and thread broadcasts, newest first (conversations.history)."""
        with self.lock:
            channel = self._channels.get(channel_id)
            if channel is None:
                raise SlackError("channel_not_found")
            shown = [
                m
                for m in channel.messages.values()
                if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast"
            ]
            return copy.deepcopy(shown[::-1])

    # -- triggers and views -----------------------------------------------------------------

    def issue_trigger(self) -> str:
        """A trigger_id, as Slack puts into every interaction payload; valid for trigger_ttl."""
        trigger_id = self.seq.trigger_id()
        with self.lock:
            self._triggers[trigger_id] = _Trigger(issued_at=time.monotonic())
        return trigger_id

    def exchange_trigger(self, trigger_id: object) -> None:
        with self.lock:
            trigger = self._triggers.get(trigger_id) if isinstance(trigger_id, str) else None
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if time.monotonic() - trigger.issued_at > self.trigger_ttl:
                raise SlackError("expired_trigger_id")
            if trigger.is_exchanged:
                raise SlackError("exchanged_trigger_id")
            trigger.is_exchanged = True

    def issue_response_key(self, channel_id: str, message_ts: str | None) -> str:
        """The secret part of a response_url for an interaction in this channel/message."""
        key = self.seq.trigger_id().split(".")[-1]
        with self.lock:
            self._response_targets[key] = ResponseTarget(channel_id, message_ts, time.monotonic())
        return key

    def use_response_key(self, key: str) -> ResponseTarget | None:
        """The target of a response_url, counting the use; None if unknown or used up."""
        with self.lock:
            target = self._response_targets.get(key)
            if target is None or target.uses >= RESPONSE_URL_USES:
                return None
            if time.monotonic() - target.issued_at > RESPONSE_URL_TTL_SECONDS:
                return None
            target.uses += 1
            return target

    def save_view(self, view: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._views[view["id"]] = view
            return copy.deepcopy(view)

    def find_view(self, *, view_id: object = None, external_id: object = None) -> dict[str, Any]:
        with self.lock:
            for view in self._views.values():
                if view["id"] == view_id or (external_id and view["external_id"] == external_id):
                    return copy.deepcopy(view)
        raise SlackError("not_found")

    # -- inspection, for tests --------------------------------------------------------------

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Every stored message of a channel, replies included, oldest first."""
        with self.lock:
            return copy.deepcopy(list(self._channels[channel_id].messages.values()))

    def views(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._views.values()))

    def ephemeral_messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._ephemeral)
