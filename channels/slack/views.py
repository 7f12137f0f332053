"""Block Kit for what is not a ticket thread: `/support` answers, the App Home tab and the
alerts in the agents' channel. Pure functions, like blocks.py (customer text escaped)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels.slack.blocks import (
    RETRY,
    Block,
    Rendered,
    escape,
    mention,
    slack_date,
    truncate,
)
from core.model import Priority, Ticket
from core.queue import QueueStats, next_due

HOME_PER_PRIORITY = 15  # tickets listed per priority on the Home tab
LIST_MAX = 20  # tickets listed by `/support mine`

HELP = (
    "*/support* commands:\n"
    "• `/support T42`: a ticket's summary and a link to its thread\n"
    "• `/support mine`: your open tickets\n"
    "• `/support stats`: the queue (open by priority, breaching soon, quarantined)\n"
    "• `/support help`: this help"
)


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text)}]}


def _due(ticket: Ticket) -> str:
    due = next_due(ticket)
    if due is None:
        return "paused" if ticket.status.value == "pending" else "no SLA"
    return f"due {slack_date(due)}"


def ticket_line(ticket: Ticket, *, link: str | None = None) -> str:
    ref = f"<{link}|{escape(ticket.ref)}>" if link else f"*{escape(ticket.ref)}*"
    subject = escape(ticket.subject or "(no subject)")
    if len(subject) > 80:
        subject = subject[:79] + "…"
    return f"{ref} {ticket.priority.value} · {subject} · {ticket.status.value} · {_due(ticket)}"


def ticket_summary(ticket: Ticket, *, customer: str, link: str | None) -> Rendered:
    who = mention(ticket.assignee) if ticket.assignee else "nobody"
    lines = [
        f"*{escape(ticket.ref)}* · {escape(ticket.subject or '(no subject)')}",
        f"Customer: {escape(customer)} · Category: {escape(ticket.category)} · "
        f"Priority: {ticket.priority.value} ({ticket.priority.label})",
        f"Status: {ticket.status.value} · Assignee: {who} · {_due(ticket)}",
    ]
    blocks = [section("\n".join(lines))]
    blocks.append(context(f"<{link}|Open the thread>" if link else "No card in Slack yet."))
    return Rendered(f"{ticket.ref} {ticket.subject}"[:3000], blocks)


def ticket_list(title: str, tickets: list[Ticket], *, empty: str) -> Rendered:
    if not tickets:
        return Rendered(empty, [section(empty)])
    shown = [ticket_line(t) for t in tickets[:LIST_MAX]]
    more = len(tickets) - len(shown)
    text = f"*{title}* ({len(tickets)})\n" + "\n".join(shown)
    if more:
        text += f"\n… and {more} more"
    return Rendered(f"{title}: {len(tickets)}", [section(text)])


def stats_text(stats: QueueStats) -> str:
    by_priority = " · ".join(f"{p.value}: {stats.open_by_priority.get(p, 0)}" for p in Priority)
    return (
        f"*Open:* {stats.open_total} ({by_priority})\n"
        f"*Waiting on the customer or snoozed:* {stats.pending}\n"
        f"*Breaching within the hour:* {stats.breaching_soon} · *Breached:* {stats.breached}\n"
        f"*Quarantined messages:* {stats.quarantined}"
    )


def stats_message(stats: QueueStats) -> Rendered:
    return Rendered(f"Open tickets: {stats.open_total}", [section(stats_text(stats))])


def help_message(problem: str = "") -> Rendered:
    text = (f"{escape(problem)}\n\n" if problem else "") + HELP
    return Rendered("supportbot /support help", [section(text)])


def home_view(
    *, user: str, tickets: list[Ticket], mine: list[Ticket], stats: QueueStats, now: datetime
) -> dict[str, Any]:
    """The App Home tab: the queue by priority with SLA due times, your tickets, quarantine."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Support queue"}},
        section(stats_text(stats)),
        context(f"Updated {slack_date(now)} · reopen the tab to refresh"),
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Assigned to you"}},
        section(
            "\n".join(ticket_line(t) for t in mine[:LIST_MAX])
            if mine
            else f"Nothing is assigned to {mention('slack:' + user)}."
        ),
        {"type": "divider"},
    ]
    open_tickets = [t for t in tickets if t.status.value != "pending"]
    for priority in Priority:
        group = [t for t in open_tickets if t.priority is priority]
        title = f"{priority.value} ({priority.label}): {len(group)} open"
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": title}})
        if group:
            lines = [ticket_line(t) for t in group[:HOME_PER_PRIORITY]]
            if len(group) > HOME_PER_PRIORITY:
                lines.append(f"… and {len(group) - HOME_PER_PRIORITY} more")
            blocks.append(section("\n".join(lines)))
    return {"type": "home", "blocks": blocks}


# -- alerts ----------------------------------------------------------------------------------


def quarantine_alert(
    item_id: int, *, reason: str, outcome: str = "", can_retry: bool = True
) -> Rendered:
    """A newly quarantined message, with Retry (kept until a retry gets it through)."""
    text = (
        f":warning: A message was put in quarantine (#{item_id}): {escape(reason)}\n"
        f"Fix the cause, then retry it (or `supportbot quarantine retry {item_id}`)."
    )
    blocks: list[Block] = [section(text)]
    if outcome:
        blocks.append(context(outcome))
    if can_retry:
        blocks.append(
            {
                "type": "actions",
                "block_id": "quarantine_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": RETRY,
                        "text": {"type": "plain_text", "text": "Retry"},
                        "value": str(item_id),
                    }
                ],
            }
        )
    return Rendered(f"Message #{item_id} quarantined", blocks)


def mailbox_auth_alert(mailbox: str, *, failures: int, error: str) -> Rendered:
    text = (
        f":rotating_light: Mailbox *{escape(mailbox)}*: the server refused the login "
        f"({failures} time(s) in a row): {escape(error) or 'no detail'}\n"
        "No mail is read from it until the credentials are fixed; `supportbot status` shows it."
    )
    return Rendered(f"Mailbox {mailbox}: login refused", [section(text)])


def mailbox_lag_alert(mailbox: str, *, lag_seconds: int, threshold: int) -> Rendered:
    text = (
        f":hourglass: Mailbox *{escape(mailbox)}* is behind: the oldest unread message is "
        f"{lag_seconds // 60} min old (alert threshold {threshold // 60} min)."
    )
    return Rendered(f"Mailbox {mailbox} is lagging", [section(text)])
