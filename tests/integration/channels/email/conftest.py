"""Fixtures for the IMAP tests: a real Dovecot per test and supportbot on a real SQLite file.

A fresh Dovecot per test (about 0.3 s to start, killed at teardown) keeps every test's
mailbox, UIDs and UIDVALIDITY its own; that is simpler than sharing one server and cheap
enough. Where Dovecot is missing the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bootstrap import Services, bootstrap
from bot.settings import load_settings
from channels.email.imap import MailboxConfig, Receive, make_receiver
from tests.servers.dovecot import Dovecot
from tests.support import isolate_settings, require


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    require(
        shutil.which("dovecot") is not None,
        "dovecot is not installed (apt-get install dovecot-imapd)",
    )
    require(os.geteuid() == 0, "the Dovecot test server runs as root (libraries.md §8a)")
    server = Dovecot()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Only our settings in the environment: a SQLite file and a secret file in tmp_path."""
    return isolate_settings(monkeypatch, tmp_path)


@pytest.fixture
def services(env: dict[str, str]) -> Iterator[Services]:
    services = bootstrap(load_settings())
    try:
        yield services
    finally:
        services.engine.dispose()


@pytest.fixture
def receive(services: Services) -> Receive:
    return make_receiver(parse=services.parse_email, intake=services.receive)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> MailboxConfig:
    return MailboxConfig(
        name="support",
        host=dovecot.host,
        port=dovecot.port,
        security="plain",  # the test server listens on 127.0.0.1 without TLS
        user=dovecot.user,
        password=dovecot.password,
        timeout_seconds=5,
    )
