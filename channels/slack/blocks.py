"""Block Kit builders: tickets, customer messages and drafts as Slack message blocks, and the
Edit and Reject modals. Pure functions from our records to JSON-ready dicts.

Customer text is data (DESIGN invariant 6): it goes into mrkdwn only through `escape`, so a
mail containing `<!channel>` or `<http://evil|bank>` shows as text and never pings or links.
Slack's limits (section text 3000, button text 75, private_metadata 3000) are respected here,
because Slack refuses the whole message otherwise
(https://docs.slack.dev/reference/block-kit/blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.model import Customer, Draft, DraftStatus, Message, Ticket

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


def ticket_card(ticket: Ticket, customer: Customer, *, sent: bool = False) -> Rendered:
    """The card in the agents' channel: what an agent needs to pick the ticket up."""
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
    ]
    blocks: list[Block] = [
        _section(f"*{escape(ticket.ref)}* · {truncate(subject, 2500)}"),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": truncate(f, 2000)} for f in fields],
        },
        _context(f"Status: {ticket.status.value}" + (" · reply sent ✓" if sent else "")),
    ]
    return Rendered(f"{ticket.ref} {ticket.subject}"[:FALLBACK_TEXT_MAX], blocks)


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
