"""The app served by uvicorn in a thread (as `supportbot run` does), over a real socket."""

from __future__ import annotations

import httpx

from bot.bootstrap import bootstrap
from bot.settings import load_settings
from channels.web.app import create_app
from channels.web.server import WebServer
from tests.support import free_port


def test_server_thread_serves_and_stops(env: dict[str, str]) -> None:
    services = bootstrap(load_settings())
    server = WebServer(create_app(services), host="127.0.0.1", port=free_port())
    server.start()
    try:
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        assert httpx.get(f"{server.url}/api/tickets", timeout=5).status_code == 401
    finally:
        server.stop()
        services.close()
