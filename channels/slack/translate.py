"""Slack message events → our records: an `InboundMessage` for intake, a note `Message` for an
agent's reply in a card's thread. Translation only; nothing here talks to Slack or the database."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.model import Channel, Direction, InboundMessage, Message

SUBJECT_MAX = 80
# Message subtypes that are a person writing; everything else (edits, joins, bot posts) is not.
_PERSON_SUBTYPES = frozenset({None, "", "thread_broadcast", "file_share"})


def external_id(channel: str, ts: str) -> str:
    return f"slack:{channel}:{ts}"


def is_from_person(event: dict[str, Any], *, bot_user_id: str | None) -> bool:
    """False for the bot's own posts (they come back as events), other bots, and edits."""
    if event.get("bot_id") or event.get("bot_profile"):
        return False
    if event.get("subtype") not in _PERSON_SUBTYPES:
        return False
    user = event.get("user")
    return bool(user) and user != bot_user_id


def subject_of(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= SUBJECT_MAX else first[: SUBJECT_MAX - 1] + "…"


def inbound_message(
    event: dict[str, Any],
    *,
    raw: bytes,
    received_at: datetime,
    sender_email: str,
    sender_name: str,
) -> InboundMessage:
    """A customer's Slack message as intake's input. The thread key is the customer's thread
    (channel:root ts), where approved replies are posted back."""
    channel = str(event["channel"])
    ts = str(event["ts"])
    thread_ts = event.get("thread_ts")
    is_reply = bool(thread_ts) and thread_ts != ts
    text = str(event.get("text") or "")
    return InboundMessage(
        channel=Channel.SLACK,
        raw=raw,
        received_at=received_at,
        external_id=external_id(channel, ts),
        sender_email=sender_email,
        sender_name=sender_name,
        subject=subject_of(text),
        text=text,
        full_text=text,
        in_reply_to=(external_id(channel, str(thread_ts)),) if is_reply else (),
        thread_key=f"{channel}:{thread_ts if is_reply else ts}",
    )


def placeholder_email(user: str, team: str) -> str:
    """A stable address for a Slack user whose email we may not read (.invalid: RFC 2606)."""
    return f"{user}@{team or 'slack'}.slack.invalid".lower()


def note(event: dict[str, Any], *, ticket_id: int, at: datetime) -> Message:
    """An agent's reply in a card's thread: internal, never sent to the customer."""
    return Message(
        ticket_id=ticket_id,
        direction=Direction.NOTE,
        channel=Channel.SLACK,
        external_id=external_id(str(event["channel"]), str(event["ts"])),
        author=f"slack:{event.get('user', '')}",
        text=str(event.get("text") or ""),
        created_at=at,
        raw=json.dumps(event).encode(),
    )
