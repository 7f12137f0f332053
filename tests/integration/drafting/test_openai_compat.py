"""The OpenAI-compatible provider against its stand-in: answer, backoff on 429/503, and
fallback with the reason for errors, timeouts, truncation and invalid answers."""

from __future__ import annotations

import json

import pytest

from core.model import DraftStatus
from tests.integration.drafting.conftest import MakeServices, drafts_and_outbox, receive
from tests.servers.llm import GOOD_ANSWER, OpenAIStandIn, Reply

BODY = "Please add our VAT number to the invoice."


@pytest.fixture
def server() -> OpenAIStandIn:
    with OpenAIStandIn() as stand_in:
        yield stand_in  # type: ignore[misc]


def test_answer_with_bearer_key_json_mode_and_tokens(
    server: OpenAIStandIn, make_services: MakeServices
) -> None:
    server.script(Reply.error(429, retry_after="0"), Reply.error(503, retry_after="0"))
    services = make_services(provider="openai", base_url=server.url + "/v1", model="llama-3")
    [draft], outbox = drafts_and_outbox(services, receive(services, subject="VAT", body=BODY))
    assert outbox == [] and draft.status is DraftStatus.PENDING
    assert (draft.provider, draft.model, draft.fallback_reason) == ("openai", "llama-3", None)
    assert (draft.input_tokens, draft.output_tokens) == (300, 40)
    seen = server.requests[-1]
    assert len(server.requests) == 3  # 429 and 503 were retried
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == "Bearer test-key"
    assert seen.body["response_format"] == {"type": "json_object"}
    assert "<customer_message>" in seen.prompt


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ((Reply.error(500),), "openai: OpenAI-compatible API error 500"),
        ((Reply.json(delay=3.0),), "openai: timed out after 2 s"),
        ((Reply.truncated(),), "openai: truncated answer (finish reason length)"),
        ((Reply(text=json.dumps({**GOOD_ANSWER, "category": "x"})),), "openai: invalid answer"),
        ((Reply(text="not json"),), "openai: invalid answer"),
    ],
    ids=["500", "timeout", "truncated", "invalid-enum", "not-json"],
)
def test_failures_fall_back_with_the_reason(
    server: OpenAIStandIn, make_services: MakeServices, replies: tuple[Reply, ...], reason: str
) -> None:
    server.script(*replies)
    services = make_services(provider="openai", base_url=server.url, max_retries=0)
    [draft], _ = drafts_and_outbox(services, receive(services, subject="VAT", body=BODY))
    assert draft.provider == "offline" and draft.text.strip()
    assert draft.fallback_reason is not None and draft.fallback_reason.startswith(reason)
