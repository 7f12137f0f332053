"""Regenerate with a model configured: the click is acked at once, the draft message says
"regenerating…", and the new version is drafted in the draft pool and posted when the model
answers, through the real Bolt app, the Slack stand-in and the Gemini stand-in."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.bootstrap import bootstrap, start_slack
from bot.settings import load_settings
from core.model import DraftStatus, PostKind
from tests.integration.channels.slack.conftest import (
    AGENT,
    AGENT2,
    Bot,
    isolated_env,
    make_standin,
    wait_until,
    write_config,
)
from tests.servers.llm import GOOD_ANSWER, GeminiStandIn, Reply

MODEL_SECONDS = 5.0  # longer than Slack's 3-second deadline


@pytest.fixture(scope="module")
def gemini() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        yield server


@pytest.fixture(scope="module")
def llm_bot(
    tmp_path_factory: pytest.TempPathFactory, _no_proxy: None, gemini: GeminiStandIn
) -> Iterator[Bot]:
    slack = make_standin()
    directory = tmp_path_factory.mktemp("slackllm")
    llm = f"""
[llm]
provider = "gemini"
api_key = "test-key"
base_url = "{gemini.url}"
timeout_seconds = 20.0
concurrency = 2
"""
    try:
        with pytest.MonkeyPatch.context() as patch:
            isolated_env(patch, write_config(directory, slack, extra=llm))
            services = bootstrap(load_settings())
            assert services.draft_pool is not None
            try:
                runtime = start_slack(services)
                try:
                    slack.socket_mode.wait_connections_opened(1)
                    yield Bot(services, runtime, slack)
                finally:
                    runtime.stop()
            finally:
                services.close()
    finally:
        slack.stop()


def _buttons(message: dict[str, object]) -> list[str]:
    blocks = message.get("blocks") or []
    assert isinstance(blocks, list)
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_regenerate_is_acked_at_once_and_v2_arrives_when_the_model_answers(
    llm_bot: Bot, gemini: GeminiStandIn
) -> None:
    bot = llm_bot
    ticket_id = bot.mail("Can I ship to Canada?")
    v1_post = bot.post(ticket_id, PostKind.DRAFT)
    [v1] = bot.drafts(ticket_id)
    assert v1.provider == "gemini" and v1.fallback_reason is None
    seen = len(gemini.requests)
    slow = {**GOOD_ANSWER, "reply": "Hello Ann,\n\nYes, we ship to Canada.\n\nBest regards"}
    gemini.script(Reply.json(slow, delay=MODEL_SECONDS))
    first = bot.slack.payloads.block_actions(
        user=AGENT, action_id="draft.regenerate", message_ts=v1_post.ts, channel=v1_post.channel
    )
    second = bot.slack.payloads.block_actions(  # another agent, on the message as it was
        user=AGENT2, action_id="draft.regenerate", message_ts=v1_post.ts, channel=v1_post.channel
    )

    clicked = time.monotonic()
    bot.send("interactive", first)  # fails unless acked within 3 s
    acked = time.monotonic() - clicked

    wait_until(
        lambda: "Regenerating" in str(bot.message(v1_post)["blocks"]),
        what="regenerating… on the draft message",
        timeout=MODEL_SECONDS - 1.0,
    )
    shown = time.monotonic() - clicked
    assert acked < 3.0 and shown < MODEL_SECONDS
    assert _buttons(bot.message(v1_post)) == []
    assert f"asked by <@{AGENT}>" in str(bot.message(v1_post)["blocks"])
    assert len(bot.drafts(ticket_id)) == 1  # the model has not answered yet

    bot.send("interactive", second)  # while v2 is being written: acked, and refused politely
    wait_until(
        lambda: any(
            m["user"] == AGENT2 and "already being regenerated" in m["text"]
            for m in bot.slack.workspace.ephemeral_messages()
        ),
        what="the second click's notice",
        timeout=2.0,
    )

    wait_until(lambda: len(bot.drafts(ticket_id)) == 2, what="draft v2", timeout=15.0)
    assert time.monotonic() - clicked >= MODEL_SECONDS - 0.5  # it did wait for the model
    v1, v2 = bot.drafts(ticket_id)
    assert (v1.status, v2.status, v2.version) == (DraftStatus.SUPERSEDED, DraftStatus.PENDING, 2)
    assert "ship to Canada" in v2.text and v2.provider == "gemini"
    v2_post = bot.post(ticket_id, PostKind.DRAFT, draft_id=v2.id)
    assert "draft.approve" in _buttons(bot.message(v2_post))
    wait_until(lambda: "Superseded" in str(bot.message(v1_post)["blocks"]), what="v1 updated")
    assert len(gemini.requests) == seen + 1  # the double click made one new version
    with bot.services.new_uow() as uow:
        asked = [
            e.actor for e in uow.audit.list_for_ticket(ticket_id) if e.action == "draft.regenerate"
        ]
    assert asked == [f"slack:{AGENT}", f"slack:{AGENT2}"]
