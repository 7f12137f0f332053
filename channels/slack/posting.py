"""Slack posts made at most once per key, across crashes, reruns and instances.

Slack has no idempotency key, and a run that dies between Slack's answer and our commit (a
SIGKILL, a lost connection) leaves a post that nothing records; its scheduled action is run
again when the lease runs out. So the intent to post is recorded first (a seen-events row),
and the post carries its identity as message metadata: a run that finds the intent already
recorded looks in Slack for that metadata before posting (libraries.md §2: make external
side effects effectively-once). The usual case, a first try, costs no lookup.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from core.ports import Clock, UnitOfWork

if TYPE_CHECKING:  # the composition root imports the Slack SDK only when Slack is configured
    from slack_sdk import WebClient

    from channels.slack.pacing import Pacer

POST_INTENT = "slack-post"  # seen-events source: a post about to be made
HISTORY_PAGES = 10  # of 200 messages: how far back a post outside a thread is sought


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str
    is_found: bool  # an earlier run's post, found in Slack, not made now


class OncePoster:
    """`chat.postMessage` behind an intent record and a metadata lookup; thread-safe."""

    def __init__(
        self,
        client: WebClient,
        *,
        new_uow: Callable[[], UnitOfWork],
        clock: Clock,
        pacer: Pacer,
    ) -> None:
        self._client = client
        self._new_uow = new_uow
        self._clock = clock
        self._pacer = pacer

    def post(
        self,
        key: str,
        *,
        channel: str,
        thread_ts: str | None,
        text: str,
        event_type: str,
        payload: dict[str, Any],
        blocks: list[dict[str, Any]] | None = None,
    ) -> Posted:
        """Post unless an earlier run with this `key` did; `payload` identifies the post in
        its metadata (`event_type`), so it must be the same on every run of one key."""
        if not self._note_intent(key):
            found = self._find(channel, thread_ts, event_type=event_type, payload=payload)
            if found is not None:
                return Posted(channel, found, is_found=True)
        self._pacer.wait(channel)
        response = self._client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": event_type, "event_payload": payload},
        )
        return Posted(str(response["channel"]), str(response["ts"]), is_found=False)

    def _note_intent(self, key: str) -> bool:
        """Record that `key` is about to be posted; False when a run recorded it before."""
        with self._new_uow() as uow:
            is_first = uow.events.first_time(POST_INTENT, key, at=self._clock.now())
            uow.commit()
        return is_first

    def _find(
        self, channel: str, thread_ts: str | None, *, event_type: str, payload: dict[str, Any]
    ) -> str | None:
        """The ts of the message with this metadata: among the channel's newest messages
        (`HISTORY_PAGES` pages: a rerun comes about one lease after the post it looks for),
        or anywhere in the thread. None: never posted."""
        if thread_ts is None:
            pages: Iterable[int] = range(HISTORY_PAGES)
            list_messages = partial(self._client.conversations_history, channel=channel)
        else:
            pages = itertools.count()
            list_messages = partial(
                self._client.conversations_replies, channel=channel, ts=thread_ts
            )
        cursor: str | None = None
        for _ in pages:
            page = list_messages(include_all_metadata=True, limit=200, cursor=cursor)
            messages: list[dict[str, Any]] = page.get("messages") or []
            for message in messages:
                metadata = message.get("metadata") or {}
                is_ours = metadata.get("event_type") == event_type
                if is_ours and metadata.get("event_payload") == payload:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                break
        return None
