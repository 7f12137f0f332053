"""The Web API client the bot uses everywhere, built once from `[slack]`.

slack_sdk's WebClient retries only connection errors by default; a 429 would surface as an
error. `RateLimitErrorRetryHandler` sleeps for Slack's `Retry-After` and tries again
(https://docs.slack.dev/tools/python-slack-sdk/web#retryhandler).
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from channels.slack.config import SlackConfig

MAX_RATE_LIMIT_RETRIES = 3


def make_client(config: SlackConfig, *, timeout: int = 30) -> WebClient:
    base_url = (
        config.api_base_url if config.api_base_url.endswith("/") else config.api_base_url + "/"
    )
    return WebClient(
        token=config.bot_token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=MAX_RATE_LIMIT_RETRIES),
        ],
    )
