"""Local stand-ins for model APIs: Gemini's `generateContent` and OpenAI's chat completions.

    with GeminiStandIn() as gemini:
        gemini.script(Reply.json(answer), Reply.status(429), ...)   # then `default`
        ... genai.Client(api_key="test", http_options=HttpOptions(base_url=gemini.url)) ...
        gemini.requests[0].path, gemini.requests[0].prompt, gemini.peak_concurrency

A stdlib `ThreadingHTTPServer` on 127.0.0.1, port 0. Each request takes the next scripted
`Reply` (then `default`) and is recorded with its path, headers, JSON body, the prompt text
and its arrival time (time.monotonic), so tests check what the real client sent and
benchmarks measure concurrency and request rates as the server saw them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"

GOOD_ANSWER: dict[str, Any] = {
    "reply": "Hello Ada,\n\nYour invoice has been corrected; the new PDF is under Settings → "
    "Billing → Invoices.\n\nBest regards,\nThe Support Team",
    "category": "billing",
    "priority": "P3",
    "sentiment": 3,
    "used_sources": ["Invoices and VAT numbers"],
    "needs_clarification": False,
}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    text: str = ""  # the model's text (Gemini part text / OpenAI message content)
    finish: str = "STOP"
    delay: float = 0.0
    retry_after: str | None = None

    @classmethod
    def json(cls, answer: dict[str, Any] | None = None, *, delay: float = 0.0) -> Reply:
        return cls(text=json.dumps(answer or GOOD_ANSWER), delay=delay)

    @classmethod
    def error(cls, status: int, *, retry_after: str | None = None) -> Reply:
        return cls(status=status, retry_after=retry_after)

    @classmethod
    def truncated(cls) -> Reply:
        return cls(text=json.dumps(GOOD_ANSWER)[:60], finish="MAX_TOKENS")


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def prompt(self) -> str:
        if "contents" in self.body:  # Gemini
            return "".join(
                part.get("text", "")
                for content in self.body["contents"]
                for part in content.get("parts", [])
            )
        return "\n".join(m["content"] for m in self.body.get("messages", []))


@dataclass
class _State:
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=Reply.json)
    requests: list[Seen] = field(default_factory=list)
    active: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _StandIn:
    flavour = ""

    def __init__(self, *, default: Reply | None = None) -> None:
        self._state = _State()
        if default is not None:
            self._state.default = default
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[Seen]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def peak_concurrency(self) -> int:
        return self._state.peak

    def script(self, *replies: Reply) -> None:
        with self._state.lock:
            self._state.replies.extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _body(self, reply: Reply, model: str) -> dict[str, Any]:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self
        state = self._state

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once, as from a real server

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with state.lock:
                    state.requests.append(
                        Seen(self.path, dict(self.headers.items()), body, time.monotonic())
                    )
                    reply = state.replies.popleft() if state.replies else state.default
                    state.active += 1
                    state.peak = max(state.peak, state.active)
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                    if reply.status != 200:
                        payload = {
                            "error": {
                                "code": reply.status,
                                "message": "scripted",
                                "status": "UNAVAILABLE",
                            }
                        }
                    else:
                        payload = stand_in._body(reply, str(body.get("model", "")))
                    data = json.dumps(payload).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if reply.retry_after is not None:
                        self.send_header("Retry-After", reply.retry_after)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out
                    pass
                finally:
                    with state.lock:
                        state.active -= 1

        return Handler


class GeminiStandIn(_StandIn):
    """Answers `POST /{version}/models/{model}:generateContent` as the Gemini API does."""

    def _body(self, reply: Reply, model: str) -> dict[str, Any]:
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": reply.text}]},
                    "finishReason": reply.finish,
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 321,
                "candidatesTokenCount": 45,
                "totalTokenCount": 366,
            },
            "modelVersion": "gemini-stand-in",
        }


class OpenAIStandIn(_StandIn):
    """Answers `POST {base}/chat/completions` as an OpenAI-compatible server does."""

    def _body(self, reply: Reply, model: str) -> dict[str, Any]:
        finish = {"STOP": "stop", "MAX_TOKENS": "length"}.get(reply.finish, reply.finish)
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model or "stand-in",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": finish,
                }
            ],
            "usage": {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340},
        }
