"""Alerts for the people running support: a message put in quarantine, a mailbox whose login
is refused, a mailbox falling behind. Each alert is a durable scheduled action (kind `alert`)
with an idempotency key, so it is posted once however many instances notice the condition:

    alert:quarantine:<id>                 one per quarantined message
    alert:mailbox-auth:<name>:<date>      at most one a day per mailbox while logins fail
    alert:mailbox-lag:<name>:<date>       at most one a day per mailbox while it lags

The payload says what happened; a channel (Slack) registers the handler that shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from core.model import MailboxState, ScheduledAction
from core.ports import Clock, UnitOfWork

ALERT = "alert"
QUARANTINE = "quarantine"
MAILBOX_AUTH = "mailbox-auth"
MAILBOX_LAG = "mailbox-lag"
_REASON_MAX = 500


def quarantine_alert(item_id: int, *, reason: str, now: datetime) -> ScheduledAction:
    return ScheduledAction(
        kind=ALERT,
        idem_key=f"alert:{QUARANTINE}:{item_id}",
        due_at=now,
        payload=json.dumps({"type": QUARANTINE, "id": item_id, "reason": reason[:_REASON_MAX]}),
    )


def mailbox_alerts(
    states: Iterable[MailboxState], *, now: datetime, lag_threshold: float
) -> list[ScheduledAction]:
    """The alerts today's mailbox states call for (each at most once a day per mailbox)."""
    day = now.date().isoformat()
    alerts = []
    for state in states:
        if state.auth_failures > 0:
            payload = {
                "type": MAILBOX_AUTH,
                "mailbox": state.name,
                "failures": state.auth_failures,
                "error": (state.last_error or "")[:_REASON_MAX],
            }
            alerts.append(_alert(f"{MAILBOX_AUTH}:{state.name}:{day}", payload, now))
        if state.lag_seconds is not None and state.lag_seconds > lag_threshold:
            payload = {
                "type": MAILBOX_LAG,
                "mailbox": state.name,
                "lag_seconds": round(state.lag_seconds),
                "threshold": round(lag_threshold),
            }
            alerts.append(_alert(f"{MAILBOX_LAG}:{state.name}:{day}", payload, now))
    return alerts


def check_mailboxes(uow: UnitOfWork, *, clock: Clock, lag_threshold: float) -> int:
    """Enqueue the alerts the mailboxes' health calls for; returns how many were new."""
    with uow:
        alerts = mailbox_alerts(uow.mailboxes.list(), now=clock.now(), lag_threshold=lag_threshold)
        added = sum(1 for alert in alerts if uow.actions.add_if_absent(alert))
        uow.commit()
    return added


def _alert(key: str, payload: dict[str, object], now: datetime) -> ScheduledAction:
    return ScheduledAction(
        kind=ALERT, idem_key=f"alert:{key}", due_at=now, payload=json.dumps(payload)
    )
