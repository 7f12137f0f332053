"""Signed HTTP delivery: what Slack does when an app takes events and interactions over HTTP.

Slack signs each request (https://docs.slack.dev/authentication/verifying-requests-from-slack):
`X-Slack-Request-Timestamp: <unix seconds>` and
`X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>`;
apps must refuse a bad signature or a timestamp more than five minutes off (replay).
Bodies: events as JSON; interactions as the form field `payload=<JSON>`; slash commands as form
fields. Retried events carry `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`
(https://docs.slack.dev/apis/events-api/#retries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode

STALE_AFTER_SECONDS = 5 * 60


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """The v0 signature of a request body."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DeliveryResult:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class SignedDelivery:
    """POSTs signed requests to an app's HTTP endpoint (e.g. `http://127.0.0.1:P/slack/events`).

    Options on every call: `forge=True` signs with a wrong secret; `stale=True` uses a
    timestamp older than five minutes (correctly signed, so only the age is wrong);
    `retry_num`/`retry_reason` add the retry headers.
    """

    def __init__(self, signing_secret: str, url: str, *, timeout: float = 10.0) -> None:
        self.signing_secret = signing_secret
        self.url = url
        self.timeout = timeout
        # No proxies: a developer's HTTP(S)_PROXY must not swallow requests to 127.0.0.1.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def event(self, body: dict[str, Any], **options: Any) -> DeliveryResult:
        """An Events API request (event_callback, url_verification, …) as JSON."""
        return self.post(json.dumps(body).encode(), "application/json", **options)

    def interaction(self, payload: dict[str, Any], **options: Any) -> DeliveryResult:
        """block_actions, view_submission, …: `payload=<urlencoded JSON>`."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **options)

    def slash_command(self, fields: dict[str, str], **options: Any) -> DeliveryResult:
        return self.post(urlencode(fields).encode(), "application/x-www-form-urlencoded", **options)

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        forge: bool = False,
        stale: bool = False,
        timestamp: int | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> DeliveryResult:
        if timestamp is None:
            timestamp = int(time.time()) - (STALE_AFTER_SECONDS + 60 if stale else 0)
        secret = self.signing_secret + "-forged" if forge else self.signing_secret
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(secret, str(timestamp), body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return DeliveryResult(
                    response.status, response.read().decode("utf-8"), dict(response.headers)
                )
        except HTTPError as error:
            with error:  # an HTTPError holds the socket open until closed
                return DeliveryResult(
                    error.code, error.read().decode("utf-8"), dict(error.headers or {})
                )
