"""Training rows from the desk's own history: tickets whose label a person set or corrected.

Only labels a person chose teach anything; a label the rules or a model set would teach the
model to copy itself. The text is the ticket's first customer message, as triage saw it.
"""

from __future__ import annotations

from core.errors import InvalidInput
from core.learning.datasets import Labelled
from core.learning.targets import Target
from core.model import Direction
from core.ports import UnitOfWork
from core.ticket_actions import PRIORITY_SET, RECLASSIFIED

_ACTIONS = {Target.CATEGORY: RECLASSIFIED, Target.PRIORITY: PRIORITY_SET}


def labelled_from_history(uow: UnitOfWork, target: Target) -> Labelled:
    """Each ticket's current value of `target`, for tickets with a person's change to it."""
    action = _ACTIONS.get(target)
    if action is None:
        raise InvalidInput(
            f"agents do not set {target.value} on tickets; train it from a CSV instead"
        )
    texts: list[str] = []
    labels: list[str] = []
    skipped = 0
    with uow:
        for ticket_id in uow.audit.ticket_ids_with([action]):
            ticket = uow.tickets.get(ticket_id)
            first = next(
                (
                    m
                    for m in uow.messages.list_for_ticket(ticket_id, with_content=False)
                    if m.direction is Direction.INBOUND
                ),
                None,
            )
            if ticket is None or first is None:
                skipped += 1
                continue
            texts.append(f"{ticket.subject}\n{first.text}".strip())
            labels.append(ticket.category if target is Target.CATEGORY else ticket.priority.value)
    return Labelled(tuple(texts), tuple(labels), skipped)
