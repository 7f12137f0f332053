"""A local Slack Web API: `POST /api/<method>` on 127.0.0.1, for `WebClient(base_url=…)`.

It translates HTTP the way Slack does (https://docs.slack.dev/apis/web-api/):
- arguments as `application/x-www-form-urlencoded` (JSON-valued ones like `blocks` as JSON
  strings), as a JSON body, or in the query string; GET works too;
- the token in `Authorization: Bearer …`, or as a `token` form/query field, but never inside a
  JSON body ("we will not accept tokens in the JSON body", …/web-api/#posting_json);
- errors are HTTP 200 with `{"ok": false, "error": …}`, except rate limits (HTTP 429);
and hands the parsed call to `methods.METHODS`. Every call is recorded (see `call_log`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from tests.slack_standin.call_log import CallLog, CallPredicate, RecordedCall
from tests.slack_standin.methods import METHODS, Context
from tests.slack_standin.rate_limits import RateLimiter
from tests.slack_standin.response_urls import respond
from tests.slack_standin.workspace import SlackError, Workspace, invalid_arguments

log = logging.getLogger(__name__)

# Arguments Slack accepts as JSON text inside a form body.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "view": "invalid_arguments",
    "metadata": "invalid_metadata_format",
}


class WebApiStandIn:
    """The Web API server. Start it (or use it as a context manager), point a `WebClient` at
    `base_url`, then assert on `calls()` / `wait_for()` and on the workspace's state."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        issue_socket_url: Callable[[], str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.limiter = RateLimiter()
        self.log = CallLog()
        # Exceptions inside the stand-in itself (its bugs, not the bot's): a test fixture
        # should fail on them instead of seeing a vague internal_error.
        self.internal_errors: list[BaseException] = []
        self._context = Context(workspace, issue_socket_url)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> WebApiStandIn:
        # Port 0: the kernel picks a free port atomically, no race with other tests.
        server = _Server(("127.0.0.1", 0), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-standin-web-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebApiStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Web API stand-in is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Ends in `/api/`, as `WebClient(base_url=…)` expects."""
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def response_url_base(self) -> str:
        """Where interactions' response_urls point (served here, see response_urls.py)."""
        return f"http://127.0.0.1:{self.port}/hooks/"

    # -- test controls ----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        return self.log.calls(method)

    def wait_for(
        self, method: str, predicate: CallPredicate | None = None, timeout: float = 5.0
    ) -> RecordedCall:
        return self.log.wait_for(method, predicate, timeout)

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` answer 429 with `Retry-After: retry_after`."""
        self.limiter.force(method, times=times, retry_after=retry_after)

    def limit_posts_per_channel(self, *, per_second: float = 1.0, burst: int = 3) -> None:
        """Turn on chat.postMessage's ~1 message/s per channel limit (token bucket)."""
        self.limiter.limit_posts_per_channel(per_second=per_second, burst=burst)

    # -- one call ---------------------------------------------------------------------------

    def handle(
        self, method: str, params: dict[str, Any], token: str | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one call: (HTTP status, JSON body, extra headers); records it."""
        status, extra_headers = 200, {}
        try:
            body = self._answer(method, params, token)
        except _RateLimited as limited:
            status, body = 429, {"ok": False, "error": "ratelimited"}
            extra_headers = {"Retry-After": str(limited.retry_after)}
        except SlackError as error:
            status, body = (404 if error.error == "unknown_method" else 200), error.body()
        except Exception as error:  # the stand-in's own bug: keep it for the fixture
            log.exception("slack stand-in failed on %s", method)
            self.internal_errors.append(error)
            body = {"ok": False, "error": "internal_error"}
        self.log.append(RecordedCall(method, params, headers, time.time(), status, body))
        return status, body, extra_headers

    def handle_response_url(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """A POST to a response_url (`/hooks/<kind>/<team>/<key>`); recorded as `response_url`."""
        try:
            status, answer = respond(self.workspace, path.rstrip("/").rsplit("/", 1)[-1], body)
        except Exception as error:  # the stand-in's own bug
            log.exception("slack stand-in failed on a response_url")
            self.internal_errors.append(error)
            status, answer = 500, {"ok": False, "error": "internal_error"}
        params = {**body, "path": path}
        self.log.append(RecordedCall("response_url", params, headers, time.time(), status, answer))
        return status, answer

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        spec = METHODS.get(method)
        if spec is None:
            raise SlackError("unknown_method", req_method=method)
        me = self.workspace.identity
        if not token:
            raise SlackError("not_authed")
        expected = me.app_token if spec.token == "app" else me.bot_token
        if token != expected:
            known = token in (me.bot_token, me.app_token)
            raise SlackError("not_allowed_token_type" if known else "invalid_auth")
        retry_after = self.limiter.retry_after(method, params.get("channel"))
        if retry_after is not None:
            raise _RateLimited(retry_after)
        for name, error in _JSON_FIELDS.items():
            if isinstance(params.get(name), str):
                try:
                    params[name] = json.loads(params[name])
                except json.JSONDecodeError:
                    if error == "invalid_arguments":
                        raise invalid_arguments(f"{name} is not valid JSON") from None
                    raise SlackError(error) from None
        return spec.handler(self._context, params)


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: WebApiStandIn


class _Handler(BaseHTTPRequestHandler):
    """HTTP in, `WebApiStandIn.handle` out; nothing else."""

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("slack stand-in: " + format, *args)

    def _serve(self) -> None:
        standin = cast(_Server, self.server).standin
        url = urlsplit(self.path)
        if url.path.startswith("/hooks/"):
            self._serve_response_url(standin, url.path)
            return
        if not url.path.startswith("/api/"):
            self._reply(404, {"ok": False, "error": "unknown_method"}, {})
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        token = params.pop("token", None)
        content_type = self.headers.get_content_type()
        if raw and content_type == "application/json":
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                self._reply(200, {"ok": False, "error": "invalid_json"}, {})
                return
            body.pop("token", None)  # ignored by Slack in JSON bodies
            params.update(body)
        elif raw:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            token = form.pop("token", None) or token
            params.update(form)
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip()
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        method = url.path.removeprefix("/api/")
        status, body, extra = standin.handle(method, params, token, headers)
        self._reply(status, body, extra)

    def _serve_response_url(self, standin: WebApiStandIn, path: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            self._reply(400, {"ok": False, "error": "invalid_payload"}, {})
            return
        status, answer = standin.handle_response_url(path, body, dict(self.headers.items()))
        self._reply(status, answer, {})

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
