"""The `ReplyTransport` for Slack-born tickets: an approved reply goes back into the customer's
own thread. The outbox item's recipient is the ticket's thread key, "channel:root ts"."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from channels.slack.blocks import escape
from channels.slack.pacing import Pacer
from core.errors import DeliveryFailed
from core.model import Channel, OutboxItem

# Errors that will not go away by retrying (https://docs.slack.dev/reference/methods/chat.postMessage).
_PERMANENT = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "thread_not_found", "msg_too_long"}
)


class SlackTransport:
    def __init__(self, client: WebClient, *, pacer: Pacer) -> None:
        self._client = client
        self._pacer = pacer

    @property
    def channel(self) -> Channel:
        return Channel.SLACK

    def deliver(self, item: OutboxItem) -> None:
        channel, _, thread_ts = item.recipient.partition(":")
        if not channel or not thread_ts:
            raise DeliveryFailed(f"not a Slack thread: {item.recipient!r}", permanent=True)
        self._pacer.wait(channel)
        try:
            self._client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=escape(item.body),
                # Our Message-ID rides along, so a resend after a crash can be recognised.
                metadata={
                    "event_type": "supportbot_reply",
                    "event_payload": {"message_id": item.message_id},
                },
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            raise DeliveryFailed(f"slack: {error}", permanent=error in _PERMANENT) from None
