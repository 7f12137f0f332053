"""Gemini through `google-genai`, imported lazily (it costs ~1.8 s, and is an optional extra).

Verified behaviour we rely on (DESIGN §6, notes/libraries.md §1): `HttpOptions.timeout` is in
milliseconds; without `retry_options` the SDK does not retry at all, with them it retries
408/429/5xx and connection errors with exponential backoff; `response.parsed` is None, with no
exception, when the JSON is truncated or does not fit the schema. So the text is re-validated
here and `finish_reason` checked, and every way of failing becomes `DraftingFailed`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.drafting.llm import DraftAnswer, ModelReply
from core.errors import DraftingFailed


@dataclass(frozen=True)
class GeminiConfig:
    api_key: str
    model: str = "gemini-2.5-flash"
    base_url: str = ""  # empty: Google's endpoint
    timeout_seconds: float = 30.0
    max_retries: int = 2  # retries after the first attempt, on 408/429/5xx and network errors
    max_output_tokens: int = 2048


class GeminiClient:
    name = "gemini"

    def __init__(self, config: GeminiConfig, *, gate: Callable[[], None] | None = None) -> None:
        self.config = config
        self._gate = gate  # called right before each request: the rate limit
        self._client: Any = None
        self._request_config: Any = None
        self._lock = threading.Lock()

    def _sdk(self) -> Any:
        with self._lock:
            if self._client is None:
                from google import genai  # lazy: slow to import, optional extra
                from google.genai import types

                c = self.config
                options = types.HttpOptions(
                    timeout=round(c.timeout_seconds * 1000),  # milliseconds
                    retry_options=types.HttpRetryOptions(
                        attempts=c.max_retries + 1, initial_delay=1.0, max_delay=30.0
                    ),
                    base_url=c.base_url or None,
                )
                self._client = genai.Client(api_key=c.api_key, http_options=options)
                # Built once: the SDK would otherwise derive the JSON schema from the pydantic
                # class on every request (a few ms of CPU each, under the GIL). As a dict it
                # is sent as the same `responseSchema`.
                self._request_config = types.GenerateContentConfig(
                    response_mime_type="application/json",
                    response_schema=DraftAnswer.model_json_schema(),
                    temperature=0.2,
                    max_output_tokens=c.max_output_tokens,
                )
            return self._client

    def warm_up(self) -> None:
        self._sdk()

    def complete(self, prompt: str) -> ModelReply:
        from google.genai import errors

        sdk = self._sdk()  # built (and imported) before the gate, so it cannot bunch requests
        config = self._request_config
        if self._gate is not None:
            self._gate()
        try:
            response = sdk.models.generate_content(
                model=self.config.model, contents=prompt, config=config
            )
        except errors.APIError as exc:
            raise DraftingFailed(
                f"Gemini API error {exc.code} {exc.status or ''}".strip(), status=exc.code
            ) from exc
        except Exception as exc:  # timeouts and connection errors arrive as httpx2 errors
            raise DraftingFailed(f"Gemini request failed: {type(exc).__name__}") from exc
        candidates = response.candidates or []
        finish = (
            str(candidates[0].finish_reason.value)
            if candidates and candidates[0].finish_reason
            else ""
        )
        if finish == "MAX_TOKENS":
            raise DraftingFailed("truncated answer (finish reason MAX_TOKENS)")
        if finish and finish != "STOP":
            raise DraftingFailed(f"no answer (finish reason {finish})")
        text = response.text or ""
        try:
            answer = DraftAnswer.model_validate_json(text)
        except ValidationError as exc:
            raise DraftingFailed(f"invalid answer: {_first_problem(exc)}") from exc
        usage = response.usage_metadata
        return ModelReply(
            answer=answer,
            model=response.model_version or self.config.model,
            input_tokens=usage.prompt_token_count if usage else None,
            output_tokens=usage.candidates_token_count if usage else None,
        )


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ())) or "answer"
    return f"{where}: {error.get('msg', 'invalid')}"
