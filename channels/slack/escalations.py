"""Shows SLA warnings and breach escalations (core.sla_actions) in Slack: a reply in the
ticket card's thread mentioning the escalation user or group, and for breaches an optional
DM to a manager. Without a card (not presented yet) the reply goes to the agents' channel.

Times use Slack's `<!date^…>` token so every reader sees their own zone
(https://docs.slack.dev/messaging/formatting-message-text#date-formatting).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient

from channels.slack.posting import OncePoster
from core.model import ChannelPost, PostKind
from core.ports import Clock, UnitOfWork
from core.sla_actions import FIRST_RESPONSE, WARN, SlaNotice

log = logging.getLogger(__name__)

SLA_NOTICE = "sla_notice"  # message metadata of a warning or escalation: its idempotency key


def escalation_text(notice: SlaNotice, *, mention: str) -> str:
    """One line: what is due or overdue, when, and who is asked to look."""
    clock = "first response" if notice.clock == FIRST_RESPONSE else "resolution"
    epoch = int(notice.due.timestamp())
    when = f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{notice.due:%Y-%m-%d %H:%M} UTC>"
    ref = notice.ticket.ref
    if notice.kind == WARN:
        line = f":warning: {ref}: {clock} is due {when}."
    elif notice.level == 1:
        line = f":rotating_light: {ref}: {clock} SLA breached (was due {when})."
    else:
        line = f":rotating_light: {ref}: {clock} still overdue (due {when}), level {notice.level}."
    return f"{line} {mention}".rstrip()


class Escalator:
    """The `notify` callback of `run_sla_action` for Slack."""

    def __init__(
        self,
        client: WebClient,
        poster: OncePoster,
        *,
        new_uow: Callable[[], UnitOfWork],
        clock: Clock,
        agents_channel: str,
        mention: str = "",
        manager_dm: str = "",
    ) -> None:
        self._client = client
        self._new_uow = new_uow
        self._clock = clock
        self._channel = agents_channel
        self._poster = poster
        self._mention = mention
        self._manager_dm = manager_dm

    def notify(self, notice: SlaNotice) -> None:
        ticket_id = notice.ticket.id
        assert ticket_id is not None
        with self._new_uow() as uow:
            posts = uow.posts.list_for_ticket(ticket_id)
        card = next((p for p in posts if p.kind is PostKind.CARD), None)
        text = escalation_text(notice, mention=self._mention)
        posted = self._poster.post(
            f"sla:{notice.idem_key}",
            channel=card.channel if card is not None else self._channel,
            thread_ts=card.ts if card is not None else None,
            text=text,
            event_type=SLA_NOTICE,
            payload={"idem_key": notice.idem_key},
        )
        with self._new_uow() as uow:
            if uow.posts.find(posted.channel, posted.ts) is None:
                uow.posts.add(
                    ChannelPost(
                        ticket_id=ticket_id,
                        kind=PostKind.NOTICE,
                        channel=posted.channel,
                        ts=posted.ts,
                        created_at=self._clock.now(),
                    )
                )
            uow.commit()
        if self._manager_dm and notice.kind != WARN and not posted.is_found:
            # A user id as the channel posts in the bot's DM with that user. At least once:
            # a rerun that found the thread reply takes the DM as sent, and one that died
            # between the two sends none (the thread reply is the record that counts).
            self._client.chat_postMessage(channel=self._manager_dm, text=text)
        log.info("SLA notice posted", extra={"ticket_id": ticket_id, "idem_key": notice.idem_key})
