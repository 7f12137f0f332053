"""Every mail of the shared corpora goes through intake into SQLite exactly once.

Each one ends as a ticket, a follow-up, ignored automatic mail (kept) or a quarantined item
with a reason; none raises, and a second pass finds every one a duplicate.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.bootstrap import bootstrap
from bot.settings import load_settings
from channels.email.files import list_mail_sources
from core.model import Disposition, QuarantineStatus
from tests.support import isolate_settings, shared_data

pytestmark = pytest.mark.corpus


def test_every_corpus_mail_is_stored_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    emails = shared_data("emails")
    isolate_settings(monkeypatch, tmp_path)
    services = bootstrap(load_settings())
    sources = list_mail_sources([emails]).sources
    assert len(sources) > 1000

    first: Counter[Disposition] = Counter()
    for source in sources:
        first[services.receive(services.parse_email(source.read())).disposition] += 1
    assert sum(first.values()) == len(sources)
    assert first[Disposition.NEW_TICKET] > 100
    # sisimai's ~790 bounces and auto-replies must not become tickets.
    assert first[Disposition.IGNORED_AUTOMATIC] > 500
    with services.new_uow() as uow:
        kept = uow.quarantine.list()
    assert all(q.reason and q.raw for q in kept)
    held = [q for q in kept if q.status is QuarantineStatus.HELD]
    assert len(held) == first[Disposition.QUARANTINED]

    second = Counter(services.receive(services.parse_email(s.read())).disposition for s in sources)
    assert second == Counter({Disposition.DUPLICATE: len(sources)})
    services.engine.dispose()
