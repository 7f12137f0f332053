"""An OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, Ollama, LiteLLM…).

Standard library only (`urllib.request`): one POST to `{base_url}/chat/completions` with
`response_format={"type": "json_object"}` and a Bearer key. 429 and 503 are retried with
exponential backoff, honouring `Retry-After` when the server sends seconds; anything else,
a timeout, truncation (`finish_reason: "length"`) or an answer that does not validate raises
`DraftingFailed`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.drafting.llm import DraftAnswer, ModelReply
from core.errors import DraftingFailed

RETRY_STATUSES = frozenset({429, 503})
_SCHEMA_HINT = json.dumps(DraftAnswer.model_json_schema())


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    api_key: str = ""
    timeout_seconds: float = 30.0
    max_retries: int = 2
    max_output_tokens: int = 2048
    backoff_seconds: float = 1.0


class OpenAICompatibleClient:
    name = "openai"

    def __init__(
        self,
        config: OpenAIConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        gate: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._gate = gate  # called right before each request, retries included: the rate limit

    def warm_up(self) -> None:
        """Nothing to load: plain urllib."""

    def complete(self, prompt: str) -> ModelReply:
        c = self.config
        body = {
            "model": c.model,
            "messages": [
                {
                    "role": "system",
                    "content": "Answer with one JSON object matching this JSON Schema: "
                    + _SCHEMA_HINT,
                },
                {"role": "user", "content": prompt},
            ],
            "response_format": {"type": "json_object"},
            "temperature": 0.2,
            "max_tokens": c.max_output_tokens,
        }
        data = self._post(json.dumps(body).encode())
        try:
            choice = data["choices"][0]
            finish = choice.get("finish_reason")
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise DraftingFailed("invalid answer: no choices[0].message.content") from exc
        if finish == "length":
            raise DraftingFailed("truncated answer (finish reason length)")
        try:
            answer = DraftAnswer.model_validate_json(text)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error.get("loc", ())) or "answer"
            raise DraftingFailed(f"invalid answer: {where}: {error.get('msg')}") from exc
        usage = data.get("usage") or {}
        return ModelReply(
            answer=answer,
            model=str(data.get("model") or c.model),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
        )

    def _post(self, payload: bytes) -> dict[str, Any]:
        c = self.config
        headers = {"Content-Type": "application/json"}
        if c.api_key:
            headers["Authorization"] = f"Bearer {c.api_key}"
        url = c.base_url.rstrip("/") + "/chat/completions"
        for attempt in range(c.max_retries + 1):
            request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
            if self._gate is not None:
                self._gate()
            try:
                with urllib.request.urlopen(request, timeout=c.timeout_seconds) as response:
                    result: dict[str, Any] = json.loads(response.read())
                    return result
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code in RETRY_STATUSES and attempt < c.max_retries:
                    self._sleep(_retry_after(exc.headers.get("Retry-After"), c, attempt))
                    continue
                raise DraftingFailed(
                    f"OpenAI-compatible API error {exc.code}", status=exc.code
                ) from exc
            except TimeoutError as exc:
                raise DraftingFailed(f"timed out after {c.timeout_seconds:g} s") from exc
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError):
                    raise DraftingFailed(f"timed out after {c.timeout_seconds:g} s") from exc
                raise DraftingFailed(f"request failed: {type(exc.reason).__name__}") from exc
            except json.JSONDecodeError as exc:
                raise DraftingFailed("invalid answer: response is not JSON") from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(header: str | None, config: OpenAIConfig, attempt: int) -> float:
    backoff: float = config.backoff_seconds * 2.0**attempt
    try:
        return min(max(float(header), 0.0), 60.0) if header else backoff
    except ValueError:  # an HTTP date: not worth parsing for a short wait
        return backoff
