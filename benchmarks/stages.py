"""CPU per message of each stage of `poll`'s per-message path, in one process, no profiler.

The bound on `benchmarks/ingest.py`'s ratio comes from these figures: what the baseline does
per message (the stdlib parse and body text) against each stage `poll` adds. Same mails as
that benchmark (benchmarks/mailgen.py, same seed), no IMAP:

  stdlib   `email.message_from_bytes(policy=default)` and the body text: the baseline's work
  parse    `parse_email` (channels/email/parse.py), as `poll` parses
  triage   `run_triage` on each parsed message, as intake calls it (also inside intake)
  intake   `Services.receive_many` in groups of 50 into a fresh SQLite store: dedupe,
           threading, triage, storage, SLA rows, the offline draft, one commit per group

The first triage (language model, VADER's lexicon) is done before timing, as `poll`'s
warm-up thread does at start.

    .venv/bin/python benchmarks/stages.py [--count 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import sys
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.ingest import body_text  # noqa: E402
from benchmarks.mailgen import MailGenerator  # noqa: E402

T = TypeVar("T")
GROUP = 50  # messages per intake transaction, as MailboxConfig.batch_size defaults to


def time_per_message(work: Callable[[], T], count: int) -> tuple[float, T]:
    """CPU milliseconds per message of `work`, and what it returned."""
    started = time.process_time()
    result = work()
    return (time.process_time() - started) * 1000 / count, result


def measure(raws: list[bytes], store: Path) -> str:
    """One pass over `raws` into a fresh store in `store`; a line of figures."""
    os.environ["SUPPORTBOT_DATABASE__URL"] = f"sqlite:///{store / 'stages.db'}"
    os.environ["SUPPORTBOT_BRAND__SECRET_FILE"] = str(store / "secret")
    from bot.bootstrap import bootstrap
    from bot.settings import load_settings
    from core.pipeline import TriageInput, run_triage, warm_up_triage

    services = bootstrap(load_settings(None))
    try:
        warm_up_triage(services.intake.policy, models=services.intake.models)
        count = len(raws)

        def stdlib() -> None:
            for raw in raws:
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(msg, EmailMessage)
                body_text(msg)

        stdlib_ms, _ = time_per_message(stdlib, count)
        parse_ms, messages = time_per_message(
            lambda: [services.parse_email(raw) for raw in raws], count
        )
        triage_ms, _ = time_per_message(
            lambda: [
                run_triage(
                    TriageInput(
                        subject=m.subject, text=m.text or m.full_text, created_at=m.received_at
                    ),
                    policy=services.intake.policy,
                    models=services.intake.models,
                )
                for m in messages
            ],
            count,
        )
        intake_ms, _ = time_per_message(
            lambda: [
                result
                for start in range(0, count, GROUP)
                for result in services.receive_many(messages[start : start + GROUP])
            ],
            count,
        )
    finally:
        services.close()
    return (
        f"CPU ms a message: stdlib parse {stdlib_ms:.2f} | parse_email {parse_ms:.2f} | "
        f"triage {triage_ms:.2f} (also inside intake) | intake {intake_ms:.2f} | "
        f"parse + intake {parse_ms + intake_ms:.2f}; load average {os.getloadavg()[0]:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240304)
    parser.add_argument("--repeat", type=int, default=2, help="passes, each into a new store")
    args = parser.parse_args()
    raws = list(MailGenerator(args.count, seed=args.seed))
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-stages-") as store:
            print(measure(raws, Path(store)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
