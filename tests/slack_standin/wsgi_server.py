"""Serve a WSGI app (Bolt's `slack_bolt.adapter.wsgi.SlackRequestHandler`) on 127.0.0.1 in a
background thread, so a test can deliver signed HTTP requests to the real Bolt app.

Why not `app.start(port=…)`: it blocks forever and cannot be stopped cleanly from a test.
"""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

log = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("wsgi: " + format, *args)


class WsgiServer:
    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> WsgiServer:
        self._server = make_server(
            "127.0.0.1", 0, self.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="wsgi-server",
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

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`; append the app's path (Bolt's default `/slack/events`)."""
        if self._server is None:
            raise RuntimeError("the WSGI server is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> WsgiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
