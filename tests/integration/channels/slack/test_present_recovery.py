"""A card and its thread are posted once even when the run that posted them died before
recording them: a later run finds them in Slack by their metadata.

The crash (SIGKILL between Slack's answer and our commit, seen in tests/e2e/test_instances.py)
is simulated by deleting the recorded posts and keeping the intents recorded before posting;
any later presentation of the ticket (a rerun of the action, or another action such as a
follow-up's draft) must then adopt what Slack has.
"""

from __future__ import annotations

from sqlalchemy import text

from channels.slack.actions import PRESENT
from channels.slack.posting import POST_INTENT
from core.model import PostKind, ScheduledAction
from tests.integration.channels.slack.conftest import Bot


def _forget_posts(bot: Bot, ticket_id: int, *, with_intents: bool = False) -> None:
    with bot.services.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM channel_posts WHERE ticket_id = :ticket"), {"ticket": ticket_id}
        )
        if with_intents:
            connection.execute(
                text("DELETE FROM seen_events WHERE source = :source AND event_id LIKE :ticket"),
                {"source": POST_INTENT, "ticket": f"{ticket_id}:%"},
            )


def _present_again(bot: Bot, ticket_id: int) -> None:
    slack = bot.services.slack
    assert slack is not None
    action = ScheduledAction(
        kind=PRESENT,
        idem_key=f"test-recovery:{ticket_id}",
        due_at=bot.services.clock.now(),
        ticket_id=ticket_id,
    )
    slack.presenter.handle_present(action)


def _lookups(bot: Bot) -> int:
    return len(bot.slack.calls("conversations.history")) + len(
        bot.slack.calls("conversations.replies")
    )


def test_posts_made_but_not_recorded_are_adopted_instead_of_posted_again(bot: Bot) -> None:
    ticket_id = bot.mail("My order has not arrived.")
    shown = {kind: bot.post(ticket_id, kind).ts for kind in PostKind if kind is not PostKind.NOTICE}
    posted = len(bot.slack.calls("chat.postMessage"))
    _forget_posts(bot, ticket_id)

    _present_again(bot, ticket_id)

    assert len(bot.slack.calls("chat.postMessage")) == posted
    assert {p.kind: p.ts for p in bot.posts(ticket_id)} == shown


def test_posts_no_run_set_out_to_make_are_posted_without_looking_in_slack(bot: Bot) -> None:
    """The usual case costs no rate-limited lookups: only a recorded intent without its post
    sends a run looking."""
    ticket_id = bot.mail("Invoice 12 was charged twice.")
    bot.post(ticket_id, PostKind.DRAFT)
    posted = len(bot.slack.calls("chat.postMessage"))
    looked = _lookups(bot)
    _forget_posts(bot, ticket_id, with_intents=True)

    _present_again(bot, ticket_id)

    assert len(bot.slack.calls("chat.postMessage")) == posted + 3
    assert _lookups(bot) == looked
    assert {p.kind for p in bot.posts(ticket_id)} == {
        PostKind.CARD,
        PostKind.CUSTOMER,
        PostKind.DRAFT,
    }
