"""Fixtures: a started Slack stand-in, a WebClient on it, and no proxy in the way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from tests.slack_standin import SlackStandIn

AGENTS = "C0AGENTS001"
AGENT = "U0AGENT0001"


@pytest.fixture(scope="session", autouse=True)
def _no_proxy() -> Iterator[None]:
    """slack_sdk and urllib read HTTP(S)_PROXY; an empty value means "none" to both."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            patch.setenv(name, "")
        yield


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_channel(AGENTS, "agents")
        standin.add_user(AGENT, "ada.lovelace", is_admin=True)
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.base_url)
