"""Sends managers' digests (core.digest): the `digest` scheduled-action handler and the
`supportbot digest --now` command share `send_digest`.

Slack: a DM (a user id as the channel) and/or a post in the agents' channel, Block Kit
sections from the mrkdwn template. Email delivery is not wired yet: it is logged and skipped.
The side effect is recorded as a `digest.sent` audit event carrying the idempotency key.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from core.digest import Manager, RenderedDigest, prepare_digest
from core.model import AuditEvent, ScheduledAction

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)
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


def send_digest(
    services: Services, manager: Manager, rendered: RenderedDigest, *, idem_key: str
) -> list[str]:
    """Deliver by each configured means; returns where it went."""
    sent: list[str] = []
    slack = services.slack
    for means in manager.delivery:
        if means in ("dm", "channel") and slack is None:
            log.warning("digest %s: no [slack] section, cannot deliver by %s", idem_key, means)
            continue
        if means == "email":
            log.warning("digest %s: email delivery is not implemented yet", idem_key)
            continue
        assert slack is not None
        channel = manager.slack_user_id if means == "dm" else slack.config.agents_channel
        slack.pacer.wait(channel)
        slack.client.chat_postMessage(
            channel=channel, text=rendered.title, blocks=digest_blocks(rendered)
        )
        sent.append(means)
    with services.new_uow() as uow:
        uow.audit.add(
            AuditEvent(
                actor="supportbot",
                action="digest.sent",
                at=services.clock.now(),
                detail=json.dumps({"idem_key": idem_key, "delivered": sent}),
            )
        )
        uow.commit()
    return sent


def handle_digest(services: Services, action: ScheduledAction) -> None:
    """A `digest` row came due (perhaps late: then the digest says so)."""
    payload = json.loads(action.payload)
    managers = find_manager(services, str(payload["user"]))
    if not managers:
        log.warning("digest %s: manager no longer configured", action.idem_key)
        return
    rendered = prepare_digest(
        services.new_uow(),
        managers[0],
        renderer=services.renderer,
        clock=services.clock,
        days=int(payload.get("days", 1)),
        scheduled=action.due_at,
    )
    send_digest(services, managers[0], rendered, idem_key=action.idem_key)
