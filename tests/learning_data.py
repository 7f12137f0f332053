"""A small hand-written labelled set for the learning tests: three topics, several wordings."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

OPENERS = ("Hi,", "Hello team,", "", "Good morning,")
TOPICS = {
    "shipping": (
        "my parcel has not arrived",
        "where is my package, the tracking has not moved",
        "the delivery is late",
        "the courier never delivered my order",
        "can you send the shipment to a new address",
    ),
    "billing": (
        "I was charged twice on my card",
        "please send me last month's invoice",
        "the payment failed but money left my account",
        "I need a refund for the subscription fee",
        "why is my bill higher this month",
    ),
    "login": (
        "I cannot log in to my account",
        "the password reset email never comes",
        "two-factor code is rejected when I sign in",
        "my account is locked after three attempts",
        "the login page says my password is wrong",
    ),
}
HELD_OUT = {
    "shipping": "Hey, the package still hasn't been delivered and tracking is stuck.",
    "billing": "Hello, there are two charges for one order on my card statement.",
    "login": "I can't sign in, it keeps saying the password is wrong.",
}


def rows() -> tuple[list[str], list[str]]:
    """60 texts: every topic phrase under every opener."""
    texts, labels = [], []
    for (label, phrases), opener in itertools.product(TOPICS.items(), OPENERS):
        for phrase in phrases:
            texts.append(f"{opener} {phrase}.".strip())
            labels.append(label)
    return texts, labels


def write_csv(path: Path, *, text_col: str = "text", label_col: str = "label") -> Path:
    texts, labels = rows()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([text_col, label_col])
        writer.writerows(zip(texts, labels, strict=True))
    return path
