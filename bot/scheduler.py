"""APScheduler as a ticker only: in UTC, in memory, one sweep job that never piles up.

Nothing durable lives in APScheduler (DESIGN §6: shared job stores run jobs twice and the
default misfire grace silently drops overdue jobs); the durable rows are `core.actions`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from apscheduler.schedulers.background import BackgroundScheduler

from bot.bootstrap import Services
from core.actions import Handler, sweep
from core.outbox import deliver_due


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def tick(services: Services, *, handlers: Mapping[str, Handler], owner: str) -> None:
    """One beat: run due scheduled actions, then send approved replies that are due."""
    settings = services.settings.scheduler
    sweep(
        services.new_uow(),
        handlers=handlers,
        owner=owner,
        clock=services.clock,
        lease_seconds=settings.lease_seconds,
    )
    if services.transports:
        deliver_due(
            services.new_uow,
            transports=services.transports,
            clock=services.clock,
            owner=owner,
            lease_seconds=settings.lease_seconds,
        )


def start_ticker(services: Services, *, handlers: Mapping[str, Handler]) -> BackgroundScheduler:
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
    scheduler.start()
    return scheduler
