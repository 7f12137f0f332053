"""File ingestion speed: every mail under ../shared/data/emails through intake into SQLite.

Parses, stores raw bytes, triages and drafts each message, exactly as `supportbot ingest`,
into a fresh database in a temporary folder. Prints counts, messages/s and peak RSS.

    .venv/bin/python benchmarks/ingest_files.py [PATH…]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.bootstrap import bootstrap
from bot.settings import load_settings
from channels.email.files import list_mail_sources

EMAILS = Path(__file__).resolve().parents[2] / "shared/data/emails"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, default=[EMAILS])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SUPPORTBOT_DATABASE__URL"] = f"sqlite:///{tmp}/bench.db"
        os.environ["SUPPORTBOT_BRAND__SECRET_FILE"] = f"{tmp}/secret"
        services = bootstrap(load_settings())
        listing = list_mail_sources(args.paths)
        counts: Counter[str] = Counter()
        start = time.perf_counter()
        for source in listing.sources:
            counts[services.receive(services.parse_email(source.read())).disposition] += 1
        elapsed = time.perf_counter() - start
        services.engine.dispose()
    n = len(listing.sources)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"ingest: {n} messages in {elapsed:.1f} s → {n / elapsed:.0f} messages/s, "
        f"peak RSS {peak_mib:.0f} MiB"
    )
    print("  " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
