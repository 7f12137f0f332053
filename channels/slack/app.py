"""The Bolt app and how it is reached: Socket Mode (default) or the HTTP Events API.

`build_app` uses our WebClient (base URL from config, 429 retries), so Bolt's own calls go
where ours go. `SlackConnection` owns the transport: Socket Mode's `connect()` returns at once
and runs on its own threads; HTTP mode serves Bolt's WSGI adapter from a thread, which
verifies Slack's signature and timestamp (401 otherwise) before any listener runs.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from channels.slack.config import SlackConfig
from channels.slack.handlers import Desk, register

log = logging.getLogger(__name__)


def build_app(desk: Desk, *, client: WebClient, executor: ThreadPoolExecutor) -> App:
    config = desk.config
    app = App(
        client=client,
        # Socket Mode needs no signing secret (the socket is authenticated by the app token).
        signing_secret=config.signing_secret or "unused-in-socket-mode",
        request_verification_enabled=config.mode == "http",
        token_verification_enabled=False,  # auth.test happens on the first dispatch instead
        listener_executor=executor,
        process_before_response=False,
    )
    register(app, desk)
    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("slack http: " + format, *args)


class SlackConnection:
    """Starts and stops whichever mode is configured; `describe()` is the status line."""

    def __init__(self, app: App, config: SlackConfig) -> None:
        self._app = app
        self._config = config
        self._socket: SocketModeHandler | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SlackConnection:
        if self._config.mode == "socket":
            self._socket = SocketModeHandler(self._app, self._config.app_token)
            self._socket.connect()  # type: ignore[no-untyped-call]
            return self
        handler = SlackRequestHandler(self._app, path=self._config.http_path)
        self._server = make_server(
            self._config.http_host,
            self._config.http_port,
            handler,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="slack-http",
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The HTTP port actually bound (http_port 0 picks a free one)."""
        return self._server.server_port if self._server is not None else self._config.http_port

    def describe(self) -> str:
        if self._config.mode == "socket":
            return f"slack: socket mode, cards in {self._config.agents_channel}"
        return (
            f"slack: http mode on {self._config.http_host}:{self.port}{self._config.http_path}, "
            f"cards in {self._config.agents_channel}"
        )

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
