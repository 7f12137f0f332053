"""Sends managers' digests (core.digest): the `digest` scheduled-action handler and the
`supportbot digest --now` command share `send_digest`.

Slack: a DM (a user id as the channel) and/or a post in the agents' channel, one Block Kit
section per part of the mrkdwn text; the 14-day figures go as text (no file upload). Email:
text, HTML and the PNG chart inline, through the `[smtp]` relay (channels.email.digest_mail).

Exactly once per means, across a lost lease: each delivery is recorded as a `digest.sent`
audit event with the idempotency key and the means, right after it succeeded and before the
action is marked done; a means already recorded for the key is skipped. (A crash between the
post and its record, a window of one database write, would still send that means twice.)
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from channels.email.digest_mail import compose_digest, send_digest_email
from core.digest import Manager, RenderedDigest, prepare_digest
from core.model import AuditEvent, ScheduledAction

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)
SENT = "digest.sent"
_SECTION_MAX = 3000  # Slack's limit for a section's text


def digest_blocks(rendered: RenderedDigest) -> list[dict[str, Any]]:
    """One section per paragraph of the mrkdwn text (each under Slack's 3000 characters)."""
    blocks: list[dict[str, Any]] = []
    for paragraph in rendered.text.split("\n\n"):
        text = paragraph.strip()
        if text:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": text[:_SECTION_MAX]}}
            )
    return blocks


def find_manager(services: Services, user: str | None) -> list[Manager]:
    managers = list(services.settings.managers)
    return [m for m in managers if user is None or m.slack_user_id == user]


def already_sent(services: Services, idem_key: str) -> set[str]:
    """The means this digest was already delivered by (by an earlier, interrupted attempt)."""
    with services.new_uow() as uow:
        events = uow.audit.list_for_key(SENT, idem_key)
    return {str(json.loads(e.detail).get("means")) for e in events}


def send_digest(
    services: Services, manager: Manager, rendered: RenderedDigest, *, idem_key: str
) -> list[str]:
    """Deliver by each configured means not yet recorded for `idem_key`; returns the means
    it delivered by now. A failing means raises (the action is retried); those delivered
    before it are recorded and not repeated."""
    done = already_sent(services, idem_key)
    sent: list[str] = []
    for means in manager.delivery:
        if means in done:
            log.info("digest %s: already sent by %s", idem_key, means)
            continue
        if not _deliver(services, manager, rendered, means=means, idem_key=idem_key):
            continue
        with services.new_uow() as uow:
            uow.audit.add(
                AuditEvent(
                    actor="supportbot",
                    action=SENT,
                    at=services.clock.now(),
                    detail=json.dumps({"idem_key": idem_key, "means": means}),
                )
            )
            uow.commit()
        sent.append(means)
    return sent


def _deliver(
    services: Services, manager: Manager, rendered: RenderedDigest, *, means: str, idem_key: str
) -> bool:
    if means == "email":
        smtp = services.settings.smtp
        if smtp is None:
            log.warning("digest %s: no [smtp] section, cannot deliver by email", idem_key)
            return False
        brand = services.settings.brand
        message = compose_digest(
            rendered,
            to=manager.email,
            from_address=smtp.from_address or brand.support_address,
            from_name=brand.name,
            idem_key=idem_key,
            domain=services.identity.domain,
            date=services.clock.now(),
        )
        send_digest_email(smtp, message)
        return True
    slack = services.slack
    if slack is None:
        log.warning("digest %s: no [slack] section, cannot deliver by %s", idem_key, means)
        return False
    channel = manager.slack_user_id if means == "dm" else slack.config.agents_channel
    slack.pacer.wait(channel)
    slack.client.chat_postMessage(
        channel=channel, text=rendered.title, blocks=digest_blocks(rendered)
    )
    return True


def handle_digest(services: Services, action: ScheduledAction) -> None:
    """A `digest` row came due (perhaps late: then the digest says so)."""
    payload = json.loads(action.payload)
    managers = find_manager(services, str(payload["user"]))
    if not managers:
        log.warning("digest %s: manager no longer configured", action.idem_key)
        return
    manager = managers[0]
    if set(manager.delivery) <= already_sent(services, action.idem_key):
        log.info("digest %s: already delivered", action.idem_key)
        return
    rendered = prepare_digest(
        services.new_uow(),
        manager,
        renderer=services.renderer,
        clock=services.clock,
        days=int(payload.get("days", 1)),
        scheduled=action.due_at,
    )
    send_digest(services, manager, rendered, idem_key=action.idem_key)
