"""Triage quality on ../shared/data/tickets, through the same commands a team would run.

For each dataset it runs `supportbot eval` (cross-validation, or `train` on one file and
`eval` on the other), prints accuracy and macro-F1 with the exact command, then times
`supportbot train` on banking77 (10,003 rows) and a trained model's prediction per message.

    .venv/bin/python benchmarks/triage_quality.py [--only banking77,bitext,endava,speed]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tickets"
BITEXT = DATA / "bitext-customer-service" / "Data" / "archive"
BITEXT_BIG = next(BITEXT.glob("20000-*/*/TrainingdatasetBitextsample.csv"), BITEXT / "missing")
BITEXT_SMALL = next(BITEXT.glob("Bitext_Sample_*/Training/*.csv"), BITEXT / "missing")
BANKING = DATA / "banking77" / "train.csv"
ENDAVA = DATA / "endava-it-topic-group" / "all_tickets_processed_improved_v3.csv"


def supportbot(*args: str) -> tuple[dict[str, object], float]:
    """Run one command, echo it, return its JSON and wall time."""
    command = [sys.executable, "-m", "bot", *args, "--json"]
    shown = "supportbot " + " ".join(shlex.quote(a) for a in [*args, "--json"])
    print(f"$ {shown}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout), seconds


def report(name: str, data: dict[str, object], seconds: float) -> None:
    print(
        f"  {name}: n {data['n']}, accuracy {data['accuracy']:.4f}, "
        f"macro-F1 {data['macro_f1']:.4f} ({seconds:.0f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="banking77,bitext,endava,speed")
    wanted = set(parser.parse_args().only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "banking77" in wanted:
            args = ("eval", "--csv", str(BANKING), "--label-col", "category", "--folds", "5")
            report("banking77 5-fold", *supportbot(*args))
        if "bitext" in wanted:
            # The two files spell four labels differently; --rename aligns the test file's.
            renames = {
                "category": ("INVOICE=INVOICES", "REFUND=REFUNDS", "SHIPPING_ADDRESS=SHIPPING"),
                "intent": ("check_invoice=check_invoices",),
            }
            for label, pairs in renames.items():
                model = str(folder / f"bitext-{label}.model")
                common = ("--text-col", "utterance", "--label-col", label)
                supportbot("train", "--csv", str(BITEXT_BIG), *common, "--model", model)
                aligned = tuple(a for pair in pairs for a in ("--rename", pair))
                args = ("eval", "--csv", str(BITEXT_SMALL), *common, *aligned, "--model", model)
                report(f"bitext {label}, trained on 21,534, tested on 8,175", *supportbot(*args))
        if "endava" in wanted:
            args = ("eval", "--csv", str(ENDAVA), "--text-col", "Document")
            args += ("--label-col", "Topic_group", "--folds", "5")
            report("endava topic group 5-fold", *supportbot(*args))
        if "speed" in wanted:
            model = folder / "banking77.model"
            args = ("train", "--csv", str(BANKING), "--label-col", "category")
            trained, seconds = supportbot(*args, "--model", str(model))
            print(f"  train: {trained['rows']} rows in {trained['seconds']} s ({seconds:.0f} s)")
            measure_prediction(model)


def measure_prediction(path: Path) -> None:
    """Per-message latency of the trained model as triage calls it: one text at a time."""
    import csv

    from core.learning import textmodel

    model = textmodel.load(path)
    with BANKING.open(newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][:2000]
    model.predict(texts[:1])
    timings = []
    for text in texts:
        started = time.perf_counter()
        model.predict([text])
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p50, p95 = statistics.median(timings), timings[int(len(timings) * 0.95)]
    print(f"  predict: p50 {p50:.2f} ms, p95 {p95:.2f} ms over {len(texts)} messages")


if __name__ == "__main__":
    main()
