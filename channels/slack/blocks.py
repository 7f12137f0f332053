"""Block Kit builders: tickets, customer messages and drafts as Slack message blocks, and the
Edit and Reject modals. Pure functions from our records to JSON-ready dicts.

Customer text is data (DESIGN invariant 6): it goes into mrkdwn only through `escape`, so a
mail containing `<!channel>` or `<http://evil|bank>` shows as text and never pings or links.
Slack's limits (section text 3000, button text 75, private_metadata 3000) are respected here,
because Slack refuses the whole message otherwise
(https://docs.slack.dev/reference/block-kit/blocks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.model import AuditEvent, Customer, Draft, DraftStatus, Message, Priority, Ticket

Block = dict[str, Any]

SECTION_TEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
INPUT_VALUE_MAX = 3000  # plain_text_input initial_value and max_length
FALLBACK_TEXT_MAX = 3000

APPROVE = "draft.approve"
EDIT = "draft.edit"
REGENERATE = "draft.regenerate"
REJECT = "draft.reject"
DRAFT_ACTIONS = (APPROVE, EDIT, REGENERATE, REJECT)
EDIT_VIEW = "draft.edit"
REJECT_VIEW = "draft.reject"
EDIT_BLOCK, EDIT_INPUT = "reply", "text"
TICKET_MENU = "ticket.menu"  # the card's overflow menu
TICKET_VIEW = "ticket.triage"  # the modal: category, priority, assignee, snooze
CATEGORY_BLOCK, CATEGORY_INPUT = "category", "category"
PRIORITY_BLOCK, PRIORITY_INPUT = "priority", "priority"
ASSIGNEE_BLOCK, ASSIGNEE_INPUT = "assignee", "assignee"
SNOOZE_BLOCK, SNOOZE_INPUT = "snooze", "snooze"
SNOOZE_MORNING, SNOOZE_4H = "morning", "4h"  # the snooze choices (core SnoozeChoice values)
RETRY = "quarantine.retry"
# Overflow options: "<op>:<ticket id>" (Slack allows five options per overflow menu; assigning
# someone else and snoozing are in the modal, so the menu keeps the one-click actions).
MENU_TRIAGE = "triage"
MENU_ASSIGN = "assign"
MENU_UNASSIGN = "unassign"
MENU_RESOLVE = "resolve"
_MENU = (
    (MENU_TRIAGE, "Reclassify, assign, snooze…"),
    (MENU_ASSIGN, "Assign to me"),
    (MENU_UNASSIGN, "Unassign"),
    (MENU_RESOLVE, "Resolve"),
)
REASON_BLOCK, REASON_INPUT = "reason", "text"

_TRUNCATED = "\n… (truncated; the full text is in `supportbot tickets show`)"
_DECIDED_VERBS = {
    DraftStatus.APPROVED: "Approved",
    DraftStatus.EDITED: "Edited and approved",
    DraftStatus.REJECTED: "Rejected",
    DraftStatus.SENT: "Sent",
    DraftStatus.SUPERSEDED: "Superseded by a newer draft",
}


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only `&`, `<` and `>` are control characters
    (https://docs.slack.dev/messaging/formatting-message-text#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    """Fit `text` into `limit` characters, saying so when something was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_TRUNCATED)] + _TRUNCATED


def slack_date(at: datetime, fallback: str | None = None) -> str:
    """A date every reader sees in their own time zone
    (https://docs.slack.dev/messaging/formatting-message-text#date-formatting)."""
    shown = fallback or at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{shown}>"


def draft_value(draft: Draft) -> str:
    """What a button carries: the draft and the version the agent saw, so a click on a stale
    version is refused by the conditional update rather than approving newer text."""
    return f"{draft.id}:{draft.version}"


def parse_draft_value(value: str) -> tuple[int, int]:
    draft_id, _, version = value.partition(":")
    return int(draft_id), int(version)


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text)}]}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label[:BUTTON_TEXT_MAX]},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


@dataclass(frozen=True)
class Rendered:
    """A message's fallback `text` (notifications, screen readers) and its blocks."""

    text: str
    blocks: list[Block]


def menu_value(op: str, ticket_id: int) -> str:
    return f"{op}:{ticket_id}"


def parse_menu_value(value: str) -> tuple[str, int]:
    op, _, ticket_id = value.rpartition(":")
    return op, int(ticket_id)


def _option(label: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": label[:BUTTON_TEXT_MAX]}, "value": value}


def ticket_menu(ticket: Ticket) -> Block:
    assert ticket.id is not None
    return {
        "type": "overflow",
        "action_id": TICKET_MENU,
        "options": [_option(label, menu_value(op, ticket.id)) for op, label in _MENU],
    }


_CHANGE_VERBS = {
    "ticket.reclassified": "category",
    "ticket.priority": "priority",
    "ticket.assigned": "assigned",
    "ticket.snoozed": "snoozed",
    "ticket.resolved": "resolved",
    "ticket.woken": "snooze ended",
}


def change_line(event: AuditEvent) -> str:
    """The last change made to a ticket, with who and when, for the card."""
    detail = json.loads(event.detail or "{}")
    what = _CHANGE_VERBS.get(event.action, event.action)
    if event.action in ("ticket.reclassified", "ticket.priority"):
        what += f" {escape(str(detail.get('from')))} → {escape(str(detail.get('to')))}"
    elif event.action == "ticket.assigned":
        to = detail.get("to")
        what += f" to {mention(str(to))}" if to else ": nobody"
    elif event.action == "ticket.snoozed" and detail.get("until"):
        until = datetime.fromisoformat(str(detail["until"]))
        what += f" until {slack_date(until)}"
    return f"Last change: {what} by {mention(event.actor)} at {slack_date(event.at)}"


def ticket_card(
    ticket: Ticket,
    customer: Customer,
    *,
    sent: bool = False,
    last_change: AuditEvent | None = None,
) -> Rendered:
    """The card in the agents' channel: what an agent needs to pick the ticket up, and the
    overflow menu to reclassify, reprioritise, assign, snooze or resolve it."""
    who = escape(f"{customer.name} <{customer.email}>" if customer.name else customer.email)
    subject = escape(ticket.subject or "(no subject)")
    due = slack_date(ticket.first_response_due) if ticket.first_response_due is not None else "none"
    fields = [
        f"*Customer*\n{who}",
        f"*Category*\n{escape(ticket.category)}",
        f"*Priority*\n{ticket.priority.value} ({ticket.priority.label})",
        f"*Sentiment*\n{ticket.sentiment}/5",
        f"*First response due*\n{due}",
        f"*Channel*\n{ticket.channel.value}",
        f"*Assignee*\n{mention(ticket.assignee) if ticket.assignee else 'nobody'}",
    ]
    title = _section(f"*{escape(ticket.ref)}* · {truncate(subject, 2500)}")
    if ticket.id is not None:
        title["accessory"] = ticket_menu(ticket)
    status = f"Status: {ticket.status.value}" + (" · reply sent ✓" if sent else "")
    blocks: list[Block] = [
        title,
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": truncate(f, 2000)} for f in fields],
        },
        _context(status),
    ]
    if last_change is not None:
        blocks.append(_context(change_line(last_change)))
    return Rendered(f"{ticket.ref} {ticket.subject}"[:FALLBACK_TEXT_MAX], blocks)


def triage_modal(ticket: Ticket, *, categories: tuple[str, ...]) -> Block:
    """Reclassify, reprioritise, assign to someone and snooze in one small modal, prefilled
    with the current values (assignee and snooze are optional: empty changes nothing)."""
    assert ticket.id is not None
    category_options = [_option(c, c) for c in categories] or [_option("general", "general")]
    current = next((o for o in category_options if o["value"] == ticket.category), None)
    category: Block = {
        "type": "static_select",
        "action_id": CATEGORY_INPUT,
        "options": category_options,
    }
    if current is not None:
        category["initial_option"] = current
    priority_options = [_option(f"{p.value} ({p.label})", p.value) for p in Priority]
    assignee: Block = {"type": "users_select", "action_id": ASSIGNEE_INPUT}
    if ticket.assignee and ticket.assignee.startswith("slack:"):
        assignee["initial_user"] = ticket.assignee.removeprefix("slack:")
    snooze_options = [
        _option("Until tomorrow 09:00", SNOOZE_MORNING),
        _option("For 4 hours", SNOOZE_4H),
    ]
    return {
        "type": "modal",
        "callback_id": TICKET_VIEW,
        "private_metadata": str(ticket.id),
        "title": {"type": "plain_text", "text": f"Triage {ticket.ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": CATEGORY_BLOCK,
                "label": {"type": "plain_text", "text": "Category"},
                "element": category,
            },
            {
                "type": "input",
                "block_id": PRIORITY_BLOCK,
                "label": {"type": "plain_text", "text": "Priority"},
                "element": {
                    "type": "static_select",
                    "action_id": PRIORITY_INPUT,
                    "options": priority_options,
                    "initial_option": next(
                        o for o in priority_options if o["value"] == ticket.priority.value
                    ),
                },
            },
            {
                "type": "input",
                "block_id": ASSIGNEE_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Assignee"},
                "element": assignee,
            },
            {
                "type": "input",
                "block_id": SNOOZE_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Snooze"},
                "element": {
                    "type": "static_select",
                    "action_id": SNOOZE_INPUT,
                    "placeholder": {"type": "plain_text", "text": "Not snoozed"},
                    "options": snooze_options,
                },
            },
        ],
    }


def customer_message(message: Message, *, sender: str) -> Rendered:
    """A customer's message in the card's thread, escaped."""
    body = escape(message.text or "(empty message)")
    blocks = [
        _context(f"From {escape(sender)} · {slack_date(message.created_at)}"),
        _section(body),
    ]
    return Rendered(f"Message from {sender}"[:FALLBACK_TEXT_MAX], blocks)


def draft_message(draft: Draft, *, ref: str) -> Rendered:
    """A pending draft with its decision buttons."""
    value = draft_value(draft)
    about = f"Draft v{draft.version} for {escape(ref)} · {escape(draft.provider)}"
    if draft.fallback_reason:
        about += f" (fallback: {escape(draft.fallback_reason)})"
    about += "".join(f" · ⚠ {escape(flag)}" for flag in draft.flags)
    about += "".join(f" · source: {escape(source)}" for source in draft.sources)
    blocks = [
        _context(about),
        _section(escape(draft.text)),
        {
            "type": "actions",
            "block_id": "draft_actions",
            "elements": [
                _button("Approve & send", APPROVE, value, "primary"),
                _button("Edit", EDIT, value),
                _button("Regenerate", REGENERATE, value),
                _button("Reject", REJECT, value, "danger"),
            ],
        },
    ]
    return Rendered(f"Draft v{draft.version} for {ref}", blocks)


def regenerating_message(draft: Draft, *, ref: str, by: str, at: datetime) -> Rendered:
    """A pending draft while its next version is being written: no buttons (the next
    version replaces this message's role), who asked and when."""
    blocks = [
        _context(f"Draft v{draft.version} for {escape(ref)} · {escape(draft.provider)}"),
        _section(escape(draft.text)),
        _context(
            f":hourglass_flowing_sand: Regenerating… asked by {mention(by)} at {slack_date(at)}"
        ),
    ]
    return Rendered(f"Draft v{draft.version} for {ref}: regenerating…", blocks)


def decided_message(draft: Draft, *, ref: str, reason: str = "", is_sent: bool = False) -> Rendered:
    """A draft once decided: the buttons are gone, who and when is shown instead."""
    status = DraftStatus.SENT if is_sent else draft.status
    verb = _DECIDED_VERBS.get(status, status.value)
    line = verb
    if draft.decided_by:
        line += f" by {mention(draft.decided_by)}"
    if draft.decided_at is not None:
        line += f" at {slack_date(draft.decided_at)}"
    if reason:
        line += f": {escape(reason)}"
    if is_sent:
        line += " · Sent ✓"
    blocks = [
        _context(f"Draft v{draft.version} for {escape(ref)} · {escape(draft.provider)}"),
        _section(escape(draft.text)),
        _context(line),
    ]
    return Rendered(f"Draft v{draft.version} for {ref}: {verb}", blocks)


def mention(actor: str) -> str:
    """`slack:U123` → `<@U123>`; other actors (cli:alice) are shown escaped as they are."""
    if actor.startswith("slack:"):
        return f"<@{actor.removeprefix('slack:')}>"
    return escape(actor)


def note_text(text: str) -> str:
    return truncate(escape(text))


def edit_modal(draft: Draft, *, ref: str) -> Block:
    """The Edit modal, prefilled with the draft; submitting approves the edited text."""
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": draft_value(draft),
        "title": {"type": "plain_text", "text": f"Edit reply {ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Approve & send"[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": EDIT_BLOCK,
                "label": {"type": "plain_text", "text": "Reply to the customer"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": EDIT_INPUT,
                    "multiline": True,
                    "initial_value": draft.text[:INPUT_VALUE_MAX],
                    "max_length": INPUT_VALUE_MAX,
                },
            }
        ],
    }


def reject_modal(draft: Draft, *, ref: str) -> Block:
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": draft_value(draft),
        "title": {"type": "plain_text", "text": f"Reject draft {ref}"[:24]},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Why is this draft wrong?"},
                "element": {"type": "plain_text_input", "action_id": REASON_INPUT},
            }
        ],
    }
