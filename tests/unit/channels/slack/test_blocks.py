"""Block Kit builders: customer text escaped, Slack's limits kept, buttons carry draft:version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.slack import blocks
from channels.slack.config import SlackConfig
from channels.slack.pacing import Pacer
from core.model import Channel, Customer, Direction, Draft, DraftStatus, Message, Priority, Ticket
from tests.slack_standin.block_kit import message_block_errors, view_errors

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _draft(text: str = "Hello", **changes: object) -> Draft:
    values: dict[str, object] = {"ticket_id": 1, "version": 2, "text": text, "created_at": NOW}
    values.update(changes)
    return Draft(id=7, **values)  # type: ignore[arg-type]


def test_escape_neutralises_mentions_and_links() -> None:
    assert blocks.escape("<!channel> & <http://evil|bank>") == (
        "&lt;!channel&gt; &amp; &lt;http://evil|bank&gt;"
    )


def test_long_text_is_truncated_with_a_note_and_stays_valid() -> None:
    rendered = blocks.draft_message(_draft("x" * 10_000), ref="T1")
    assert message_block_errors(rendered.blocks) == []
    assert "truncated" in str(rendered.blocks)


def test_the_draft_buttons_carry_id_and_version() -> None:
    rendered = blocks.draft_message(_draft(fallback_reason="timeout"), ref="T1")
    buttons = rendered.blocks[-1]["elements"]
    assert [b["value"] for b in buttons] == ["7:2"] * 4
    assert blocks.parse_draft_value("7:2") == (7, 2)
    assert "fallback: timeout" in str(rendered.blocks)


def test_a_decided_draft_has_no_buttons_and_says_who() -> None:
    draft = _draft(status=DraftStatus.REJECTED, decided_by="slack:U1", decided_at=NOW)
    rendered = blocks.decided_message(draft, ref="T1", reason="<b>wrong</b>")
    assert all(b["type"] != "actions" for b in rendered.blocks)
    text = str(rendered.blocks)
    assert "Rejected by <@U1>" in text and "&lt;b&gt;wrong" in text


def test_the_card_shows_what_agents_need_and_escapes_the_customer() -> None:
    ticket = Ticket(
        subject="<!here> help",
        customer_id=1,
        channel=Channel.EMAIL,
        created_at=NOW,
        updated_at=NOW,
        priority=Priority.P1,
        first_response_due=NOW,
        ref="T9",
    )
    rendered = blocks.ticket_card(ticket, Customer(email="a@b.example", name="A <x>"))
    text = str(rendered.blocks)
    assert message_block_errors(rendered.blocks) == []
    assert "&lt;!here&gt;" in text and "P1 (high)" in text and "<!date^" in text
    message = Message(
        ticket_id=1,
        direction=Direction.INBOUND,
        channel=Channel.EMAIL,
        external_id="x",
        author="a",
        text="<!channel>",
        created_at=NOW,
    )
    assert "<!channel>" not in str(blocks.customer_message(message, sender="a").blocks)


def test_modals_are_valid_and_prefilled() -> None:
    draft = _draft("Dear customer")
    edit = blocks.edit_modal(draft, ref="T1234567890")
    assert view_errors(edit) == [] and view_errors(blocks.reject_modal(draft, ref="T1")) == []
    assert edit["blocks"][0]["element"]["initial_value"] == "Dear customer"
    assert edit["private_metadata"] == "7:2"


def test_the_pacer_lets_a_burst_through_then_spaces_posts() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = Pacer(interval=1.0, burst=3, monotonic=lambda: now[0], sleep=sleep)
    delays = [pacer.wait("C1") for _ in range(5)]
    assert delays == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert pacer.wait("C2") == 0.0  # channels are paced separately


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"app_token": ""}, "app_token"),
        ({"mode": "http"}, "signing_secret"),
        ({"agents_channel": ""}, "agents_channel"),
    ],
)
def test_config_checks_what_the_mode_needs(changes: dict[str, str], message: str) -> None:
    values = {"bot_token": "xoxb-1", "app_token": "xapp-1", "agents_channel": "C1"}
    with pytest.raises(ValueError, match=message):
        SlackConfig(**{**values, **changes})  # type: ignore[arg-type]
    assert "xoxb" not in repr(SlackConfig(**values))  # type: ignore[arg-type]
