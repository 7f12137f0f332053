"""A local Socket Mode server: the websocket end Slack runs for apps that take events without a
public URL (https://docs.slack.dev/apis/events-api/using-socket-mode).

What Slack does and this does too:
- the app calls `apps.connections.open` (Web API stand-in) and gets a one-time URL
  `ws://127.0.0.1:<port>/link/?ticket=…&app_id=…`; an unknown or reused ticket is refused;
- on connect the server sends `hello`; then envelopes `{"envelope_id", "type", "payload",
  "accepts_response_payload", …}` of type `events_api`, `interactive` or `slash_commands`;
- the app acks with `{"envelope_id": …, "payload"?: …}`, and must do so within 3 seconds;
- `disconnect` (reasons `refresh_requested`, `warning`, `link_disabled`) asks the app to open a
  new connection; the old one is closed a little later, so nothing in flight is lost;
- an Events API envelope that is not acked is delivered again with `retry_attempt` + 1 and a
  `retry_reason` (only when `redeliver_unacked=True`; up to 3 retries, as Slack's Events API).
  Each attempt has its own envelope_id; the `event_id` inside stays, which is what apps dedupe on.
  Interactive payloads and slash commands are never redelivered (the user just sees an error).

It runs an asyncio loop in a background thread; every public method is called from test threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

ENVELOPE_TYPES = ("events_api", "interactive", "slash_commands")
MAX_RETRIES = 3
# Interactions whose ack may carry a response (errors, a new view, options, a command reply).
_RESPONDING_INTERACTIONS = {"view_submission", "block_suggestion", "dialog_suggestion"}


@dataclass(frozen=True)
class Delivery:
    """One envelope sent: the first attempt or a redelivery of `original_id`."""

    envelope_id: str
    type: str
    original_id: str
    retry_attempt: int
    retry_reason: str
    sent_at: float  # time.monotonic()
    envelope: dict[str, Any]


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    message: dict[str, Any]  # the JSON the app sent back
    acked_at: float  # time.monotonic()
    latency: float  # seconds between sending the envelope and receiving the ack


@dataclass
class _Connection:
    socket: ServerConnection
    number: int
    is_draining: bool = False


class SocketModeStandIn:
    def __init__(
        self,
        *,
        app_id: str,
        redeliver_unacked: bool = False,
        redeliver_after: float = 3.0,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.app_id = app_id
        self.redeliver_unacked = redeliver_unacked
        self.redeliver_after = redeliver_after
        self.max_retries = max_retries
        self._state = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[_Connection] = []
        self._opened = 0
        self._deliveries: dict[str, Delivery] = {}
        self._acks: dict[str, Ack] = {}
        self.unexpected_messages: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._startup_error: BaseException | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> SocketModeStandIn:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="slack-standin-socket-mode", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=10) or self._startup_error is not None:
            raise RuntimeError("the Socket Mode stand-in did not start") from self._startup_error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> SocketModeStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as error:  # reported to start() instead of dying silently
            self._startup_error = error
            ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        server: Server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            close_timeout=2,
            logger=log,
        )
        self._port = int(server.sockets[0].getsockname()[1])
        ready.set()
        try:
            await self._stop.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            server.close()
            await server.wait_closed()

    # -- what apps.connections.open hands out -----------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the Socket Mode stand-in is not started")
        return self._port

    def issue_url(self) -> str:
        """A one-time connection URL, as apps.connections.open returns (ours is ws://, which
        slack_sdk's built-in client accepts on a port other than 443)."""
        ticket = str(uuid.uuid4())
        with self._state:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        ticket = parse_qs(urlsplit(request.path).query).get("ticket", [""])[0]
        with self._state:
            if ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")

    # -- connections ------------------------------------------------------------------------

    async def _handle(self, socket: ServerConnection) -> None:
        with self._state:
            self._opened += 1
            number = self._opened
            live = sum(1 for c in self._connections if not c.is_draining)
        hello = {
            "type": "hello",
            "num_connections": live + 1,
            "debug_info": {
                "host": f"applink-standin-{number}",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        connection = _Connection(socket, number)
        try:
            await socket.send(json.dumps(hello))
            with self._state:
                self._connections.append(connection)
                self._state.notify_all()
            async for raw in socket:
                self._receive(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._state:
                if connection in self._connections:
                    self._connections.remove(connection)
                self._state.notify_all()

    def _receive(self, raw: str | bytes) -> None:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        now = time.monotonic()
        with self._state:
            envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
            delivery = self._deliveries.get(envelope_id) if isinstance(envelope_id, str) else None
            if delivery is None or envelope_id in self._acks:
                self.unexpected_messages.append(text)
                return
            assert isinstance(message, dict) and isinstance(envelope_id, str)
            self._acks[envelope_id] = Ack(envelope_id, message, now, now - delivery.sent_at)
            self._state.notify_all()

    @property
    def connections_opened(self) -> int:
        """How many websocket connections were ever accepted (a reconnect adds one)."""
        with self._state:
            return self._opened

    @property
    def open_connections(self) -> int:
        with self._state:
            return len(self._connections)

    def wait_connections_opened(self, count: int, timeout: float = 5.0) -> None:
        """Block until `count` connections were ever accepted and one is live."""
        with self._state:
            is_met = self._state.wait_for(
                lambda: self._opened >= count and self._live() is not None, timeout
            )
        if not is_met:
            raise TimeoutError(f"{self._opened} connection(s) opened, waited for {count}")

    def _live(self) -> _Connection | None:
        """The newest connection not asked to go away (Slack spreads envelopes over an app's
        connections; a single newest one keeps tests deterministic)."""
        live = [c for c in self._connections if not c.is_draining]
        return live[-1] if live else None

    # -- envelopes --------------------------------------------------------------------------

    def send_envelope(
        self,
        type_: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 5.0,
    ) -> str:
        """Deliver an envelope to the app; returns its envelope_id. Waits up to `timeout`
        for a live connection (e.g. while the app reconnects). `accepts_response_payload`
        defaults to what Slack sets for that payload."""
        if type_ not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {ENVELOPE_TYPES}: {type_}")
        if accepts_response_payload is None:
            accepts_response_payload = type_ == "slash_commands" or (
                type_ == "interactive" and payload.get("type") in _RESPONDING_INTERACTIONS
            )
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": type_,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type_ == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        with self._state:
            if not self._state.wait_for(lambda: self._live() is not None, timeout):
                raise TimeoutError(f"no app connected to the Socket Mode stand-in in {timeout} s")
            connection = self._live()
        assert connection is not None
        future = asyncio.run_coroutine_threadsafe(
            self._deliver(connection, envelope, original_id=envelope_id), self._running_loop()
        )
        future.result(timeout)
        return envelope_id

    async def _deliver(
        self, connection: _Connection, envelope: dict[str, Any], *, original_id: str
    ) -> None:
        delivery = Delivery(
            envelope_id=envelope["envelope_id"],
            type=envelope["type"],
            original_id=original_id,
            retry_attempt=envelope.get("retry_attempt", 0),
            retry_reason=envelope.get("retry_reason", ""),
            sent_at=time.monotonic(),
            envelope=envelope,
        )
        with self._state:
            self._deliveries[delivery.envelope_id] = delivery
        await connection.socket.send(json.dumps(envelope))
        if (
            self.redeliver_unacked
            and delivery.type == "events_api"
            and delivery.retry_attempt < self.max_retries
        ):
            self._spawn(self._redeliver_later(delivery))

    async def _redeliver_later(self, delivery: Delivery) -> None:
        await asyncio.sleep(self.redeliver_after)
        with self._state:
            if delivery.envelope_id in self._acks:
                return
            connection = self._live()
        if connection is None:
            log.warning("no connection to redeliver %s to", delivery.envelope_id)
            return
        envelope = {
            **delivery.envelope,
            "envelope_id": str(uuid.uuid4()),
            "retry_attempt": delivery.retry_attempt + 1,
            "retry_reason": "timeout",
        }
        try:
            await self._deliver(connection, envelope, original_id=delivery.original_id)
        except ConnectionClosed:
            log.warning("connection closed while redelivering %s", delivery.envelope_id)

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The ack JSON the app sent for this envelope: `{"envelope_id", "payload"?}`."""
        return self.wait_ack_record(envelope_id, timeout).message

    def wait_ack_record(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        with self._state:
            if not self._state.wait_for(lambda: envelope_id in self._acks, timeout):
                raise TimeoutError(f"envelope {envelope_id} was not acked in {timeout} s")
            return self._acks[envelope_id]

    def ack_latency(self, envelope_id: str) -> float:
        """Seconds from sending the envelope to its ack (Slack wants < 3)."""
        with self._state:
            return self._acks[envelope_id].latency

    def deliveries(self, original_id: str | None = None) -> list[Delivery]:
        """Every envelope sent, in order; with `original_id` only that one and its retries."""
        with self._state:
            return [
                d
                for d in self._deliveries.values()
                if original_id is None or d.original_id == original_id
            ]

    # -- disconnects ------------------------------------------------------------------------

    def disconnect(self, reason: str = "refresh_requested", *, close_after: float = 1.0) -> None:
        """Send `{"type": "disconnect", "reason": …}` on every live connection and close them
        `close_after` seconds later; the app is expected to reconnect via
        apps.connections.open. New envelopes go to the new connection only."""
        with self._state:
            targets = [c for c in self._connections if not c.is_draining]
            for connection in targets:
                connection.is_draining = True
        for connection in targets:
            future = asyncio.run_coroutine_threadsafe(
                self._disconnect(connection, reason, close_after), self._running_loop()
            )
            future.result(5)

    async def _disconnect(self, connection: _Connection, reason: str, close_after: float) -> None:
        message = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": f"applink-standin-{connection.number}"},
        }
        try:
            await connection.socket.send(json.dumps(message))
        except ConnectionClosed:
            return

        async def close_later() -> None:
            await asyncio.sleep(close_after)
            await connection.socket.close()

        self._spawn(close_later())

    # -- plumbing ---------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or not self._loop.is_running():
            raise RuntimeError("the Socket Mode stand-in is not running")
        return self._loop

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
