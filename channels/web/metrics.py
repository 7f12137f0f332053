"""Prometheus text exposition format 0.0.4, written by hand: a few gauges need no library.

https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.model import DraftStatus, OutboxStatus, Priority, QuarantineStatus, TicketStatus
from core.ports import UnitOfWork

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _gauge(name: str, doc: str, samples: Iterable[tuple[Mapping[str, str], int]]) -> list[str]:
    lines = [f"# HELP {name} {doc}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {value}" if text else f"{name} {value}")
    return lines


def render_metrics(uow: UnitOfWork) -> str:
    """Every known label combination is present (0 when empty), so series do not vanish."""
    with uow:
        tickets = uow.reports.ticket_counts()
        outbox = uow.reports.outbox_counts()
        drafts = uow.reports.draft_counts()
        held = len(uow.quarantine.list(status=QuarantineStatus.HELD))
    lines = _gauge(
        "supportbot_tickets",
        "Tickets by status and priority.",
        (
            ({"status": s.value, "priority": p.value}, tickets.get((s.value, p.value), 0))
            for s in TicketStatus
            for p in Priority
        ),
    )
    lines += _gauge("supportbot_quarantine_held", "Messages held in quarantine.", [({}, held)])
    lines += _gauge(
        "supportbot_outbox_items",
        "Outbox items by status (pending: waiting to be sent; failed: given up).",
        (({"status": s.value}, outbox.get(s.value, 0)) for s in OutboxStatus),
    )
    lines += _gauge(
        "supportbot_drafts",
        "Drafts by status.",
        (({"status": s.value}, drafts.get(s.value, 0)) for s in DraftStatus),
    )
    return "\n".join(lines) + "\n"
