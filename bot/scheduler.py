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


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def start_ticker(services: Services, *, handlers: Mapping[str, Handler]) -> BackgroundScheduler:
    owner = instance_name()
    settings = services.settings.scheduler
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        lambda: sweep(
            services.new_uow(),
            handlers=handlers,
            owner=owner,
            clock=services.clock,
            lease_seconds=settings.lease_seconds,
        ),
        "interval",
        seconds=settings.tick_seconds,
        id="sweep",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
