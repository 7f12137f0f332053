"""The record of every Web API call the stand-in received, for tests to assert on.

A test usually acts, then waits for the bot's side effect: `wait_for("chat.update", …)` blocks
until a matching call arrives (the bot works on other threads), and fails with the list of
calls seen so far, which says what the bot did instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedCall:
    """One HTTP call to /api/<method>: what was asked and what the stand-in answered."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.time() when received
    status: int
    response: dict[str, Any]

    @property
    def is_ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True


CallPredicate = Callable[[RecordedCall], bool]


class CallLog:
    def __init__(self) -> None:
        self._calls: list[RecordedCall] = []
        self._changed = threading.Condition()

    def append(self, call: RecordedCall) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        with self._changed:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(
        self, method: str, predicate: CallPredicate | None = None, timeout: float = 5.0
    ) -> RecordedCall:
        """The first call of `method` matching `predicate` (already received or arriving
        within `timeout` seconds); raises TimeoutError listing what did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for call in self._calls:
                    if call.method == method and (predicate is None or predicate(call)):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(
                        f"{c.method}→{c.response.get('error', 'ok')}" for c in self._calls
                    )
                    raise TimeoutError(f"no matching {method} call in {timeout} s; saw: [{seen}]")
                self._changed.wait(remaining)
