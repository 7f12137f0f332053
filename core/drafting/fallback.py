"""`FallbackDrafter`: a model's draft when it gives a usable one, else the offline draft.

Agents always get something to decide on (DESIGN §5). The fallback is visible: the draft
records which provider failed and why (`Draft.fallback_reason`, shown on the Slack card).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.drafting.request import DraftProvider, DraftRequest, DraftText
from core.errors import DraftingFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FallbackDrafter:
    primary: DraftProvider
    fallback: DraftProvider
    on_failure: Callable[[DraftingFailed], None] | None = None  # e.g. back off on 429/503

    @property
    def name(self) -> str:
        return self.primary.name

    def draft(self, request: DraftRequest) -> DraftText:
        started = time.monotonic()
        try:
            return self.primary.draft(request)
        except DraftingFailed as exc:
            reason = exc.reason
            if self.on_failure is not None:
                self.on_failure(exc)
        except Exception as exc:  # a bug in a provider must not cost the agent a draft
            reason = f"unexpected {type(exc).__name__}"
            log.exception("drafting provider crashed", extra={"ticket_id": request.ticket.id})
        waited = round((time.monotonic() - started) * 1000)
        log.warning(
            "drafting fell back to %s: %s",
            self.fallback.name,
            reason,
            extra={"ticket_id": request.ticket.id},
        )
        result = self.fallback.draft(request)
        return dataclasses.replace(
            result,
            fallback_reason=f"{self.primary.name}: {reason}",
            latency_ms=waited + (result.latency_ms or 0),
        )
