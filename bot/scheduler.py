"""APScheduler as a ticker only: in UTC, in memory, one sweep job that never piles up.

Nothing durable lives in APScheduler (DESIGN §6: shared job stores run jobs twice and the
default misfire grace silently drops overdue jobs); the durable rows are `core.actions`.
APScheduler itself is imported by `start_ticker` only: the composition root imports this
module for `Kicker`, and one-shot commands never start a ticker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from core.actions import Handler, sweep
from core.digest import enqueue_digests
from core.outbox import deliver_due
from core.ports import Clock, UnitOfWork

if TYPE_CHECKING:  # bootstrap builds a Kicker, so import Services for annotations only
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.bootstrap import Services

log = logging.getLogger(__name__)


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def tick(services: Services, *, handlers: Mapping[str, Handler], owner: str) -> None:
    """One beat: check mailbox health (alerts), run due scheduled actions, then send
    approved replies that are due."""
    settings = services.settings.scheduler
    try:
        services.check_health()
    except Exception:  # health alerts must never stop the sweep
        log.exception("mailbox health check failed")
    if services.settings.managers:
        try:  # idempotent: today's and tomorrow's digest rows, once per key
            enqueue_digests(
                services.new_uow(), services.settings.managers, now=services.clock.now()
            )
        except Exception:
            log.exception("enqueueing digests failed")
    sweep(
        services.new_uow(),
        handlers=handlers,
        owner=owner,
        clock=services.clock,
        lease_seconds=settings.lease_seconds,
    )
    try:
        services.draft_overdue()
    except Exception:  # owed drafts wait for the next beat; sending must still run
        log.exception("handing overdue drafts to the pool failed")
    if services.transports:
        deliver_due(
            services.new_uow,
            transports=services.transports,
            clock=services.clock,
            owner=owner,
            lease_seconds=settings.lease_seconds,
            on_sent=services.on_sent,
        )


class Kicker:
    """Runs a sweep now, on its own thread, when asked: a card should appear within a second
    of the mail, not at the next 5-s tick; the ticker stays the fallback. One thread per
    process, started on the first kick; kicks while it sweeps coalesce into one more sweep."""

    def __init__(
        self,
        *,
        new_uow: Callable[[], UnitOfWork],
        handlers: Mapping[str, Handler],
        clock: Clock,
        lease_seconds: float,
    ) -> None:
        self._new_uow = new_uow
        self._handlers = handlers
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self) -> None:
        with self._lock:
            if self._stopping:
                return
            if self._thread is None:
                # A daemon: a one-shot CLI command must not hang on it; leases make an
                # interrupted sweep safe, and the ticker of `supportbot run` finishes it.
                self._thread = threading.Thread(target=self._run, name="action-kicker", daemon=True)
                self._thread.start()
        self._wanted.set()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            thread, self._thread = self._thread, None
        self._wanted.set()
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        owner = instance_name()
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                sweep(
                    self._new_uow(),
                    handlers=self._handlers,
                    owner=owner,
                    clock=self._clock,
                    lease_seconds=self._lease_seconds,
                )
            except Exception:  # the ticker retries; this thread must live on
                log.exception("kicked sweep failed")


SEEN_EVENTS_KEPT = timedelta(days=7)
"""How long a Slack event id or post intent is remembered: Slack retries an event within the
hour and a post is rerun about one lease after it was first tried, so a week is ample."""


def tidy(services: Services) -> None:
    """Hourly housekeeping: forget dedupe records no redelivery can need any more."""
    try:
        with services.new_uow() as uow:
            forgotten = uow.events.forget_before(services.clock.now() - SEEN_EVENTS_KEPT)
            uow.commit()
    except Exception:
        log.exception("forgetting old event ids failed")
        return
    if forgotten:
        log.info("forgot %d event ids older than %s", forgotten, SEEN_EVENTS_KEPT)


class _QuietOverlaps(logging.Filter):
    """A tick still running when the next one is due is skipped by design (`max_instances=1`,
    `coalesce`): APScheduler warns about each skip, a line a second on a busy machine."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_QUIET_OVERLAPS = _QuietOverlaps()  # one instance, so starting twice adds it once


def start_ticker(services: Services, *, handlers: Mapping[str, Handler]) -> BackgroundScheduler:
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.getLogger("apscheduler.scheduler").addFilter(_QUIET_OVERLAPS)
    owner = instance_name()
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        tick,
        "interval",
        kwargs={"services": services, "handlers": handlers, "owner": owner},
        seconds=services.settings.scheduler.tick_seconds,
        id="tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        tidy,
        "interval",
        kwargs={"services": services},
        hours=1,
        id="tidy",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
