"""The scheduled-action kinds the Slack side runs, and the requests for them.

Kept free of the Slack SDK, so the composition root can request a refresh (and name the
handlers' kinds) without importing slack_sdk and slack_bolt, about 0.15 s of start-up that a
command such as `poll --once` on a deployment without Slack never needs.
"""

from __future__ import annotations

import json
from datetime import datetime

from core.model import Draft, ScheduledAction

PRESENT = "slack.present"  # a new draft (and whatever else is not shown yet)
REFRESH = "slack.refresh"  # a draft was decided or sent: update its message and the card
REFRESH_CARD = "slack.refresh-card"  # the ticket changed (menu, snooze ended): update the card


def refresh_action(draft: Draft, *, now: datetime) -> ScheduledAction:
    """Update a draft's Slack message (and the card) to its current state. The key includes
    the status, so each state change is shown once, however many clicks led to it."""
    return ScheduledAction(
        kind=REFRESH,
        idem_key=f"slack-refresh:draft:{draft.id}:{draft.status.value}",
        due_at=now,
        ticket_id=draft.ticket_id,
        payload=json.dumps({"draft_id": draft.id}),
    )


def refresh_card_action(ticket_id: int, *, change: str, now: datetime) -> ScheduledAction:
    """Update the card after a change; `change` (an audit event id) makes the key unique."""
    return ScheduledAction(
        kind=REFRESH_CARD,
        idem_key=f"slack-refresh:card:{ticket_id}:{change}",
        due_at=now,
        ticket_id=ticket_id,
    )
