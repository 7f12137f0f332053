"""Posts `alert` scheduled actions (core.health) to the agents' channel: a quarantined
message with a Retry button, a mailbox whose login is refused, a mailbox that lags."""

from __future__ import annotations

import json
import logging

from channels.slack import views
from channels.slack.blocks import Rendered
from channels.slack.posting import OncePoster
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


ALERT_EVENT = "supportbot_alert"  # message metadata of an alert: its idempotency key


class Alerter:
    def __init__(self, poster: OncePoster, *, agents_channel: str) -> None:
        self._poster = poster
        self._channel = agents_channel

    def handle_alert(self, action: ScheduledAction) -> None:
        """Post the alert once, also when a run died after posting it (`OncePoster`)."""
        rendered = render_alert(json.loads(action.payload))
        if rendered is None:
            log.warning("unknown alert %s", action.idem_key)
            return
        posted = self._poster.post(
            f"alert:{action.idem_key}",
            channel=self._channel,
            thread_ts=None,
            text=rendered.text,
            blocks=rendered.blocks,
            event_type=ALERT_EVENT,
            payload={"idem_key": action.idem_key},
        )
        if not posted.is_found:
            log.info("alert posted", extra={"idem_key": action.idem_key})
