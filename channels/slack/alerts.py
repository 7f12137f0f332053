"""Posts `alert` scheduled actions (core.health) to the agents' channel: a quarantined
message with a Retry button, a mailbox whose login is refused, a mailbox that lags."""

from __future__ import annotations

import json
import logging

from slack_sdk import WebClient

from channels.slack import views
from channels.slack.blocks import Rendered
from channels.slack.pacing import Pacer
from core import health
from core.model import ScheduledAction

log = logging.getLogger(__name__)


def render_alert(payload: dict[str, object]) -> Rendered | None:
    kind = payload.get("type")
    if kind == health.QUARANTINE:
        return views.quarantine_alert(int(str(payload["id"])), reason=str(payload.get("reason")))
    if kind == health.MAILBOX_AUTH:
        return views.mailbox_auth_alert(
            str(payload.get("mailbox")),
            failures=int(str(payload.get("failures", 1))),
            error=str(payload.get("error") or ""),
        )
    if kind == health.MAILBOX_LAG:
        return views.mailbox_lag_alert(
            str(payload.get("mailbox")),
            lag_seconds=int(str(payload.get("lag_seconds", 0))),
            threshold=int(str(payload.get("threshold", 0))),
        )
    return None


class Alerter:
    def __init__(self, client: WebClient, *, agents_channel: str, pacer: Pacer) -> None:
        self._client = client
        self._channel = agents_channel
        self._pacer = pacer

    def handle_alert(self, action: ScheduledAction) -> None:
        rendered = render_alert(json.loads(action.payload))
        if rendered is None:
            log.warning("unknown alert %s", action.idem_key)
            return
        self._pacer.wait(self._channel)
        self._client.chat_postMessage(
            channel=self._channel, text=rendered.text, blocks=rendered.blocks
        )
        log.info("alert posted", extra={"idem_key": action.idem_key})
