"""Guards: PII redaction, commitment flags, length and language checks (pure functions)."""

from __future__ import annotations

from core.drafting.guards import check_language, check_length, find_commitments, redact_pii


def test_redaction_replaces_emails_phones_cards_and_ibans() -> None:
    text = (
        "Mail ada@example.com or call +49 (30) 123-4567. Card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00. Order 12345 on 2026-11-27."
    )
    redacted = redact_pii(text)
    assert "[EMAIL]" in redacted and "ada@" not in redacted
    assert "[PHONE]" in redacted and "4567" not in redacted
    assert "[CARD]" in redacted and "1111" not in redacted
    assert "[IBAN]" in redacted and "DE89" not in redacted
    assert "Order 12345" in redacted  # short numbers stay


def test_a_long_number_failing_luhn_is_not_a_card() -> None:
    assert "[CARD]" not in redact_pii("tracking 4111 1111 1111 1112")


def test_commitments_are_flagged() -> None:
    assert find_commitments("We will refund you and add a credit by Friday.") == [
        "promises a refund",
        "offers a credit or discount",
        "commits to a date or deadline",
    ]
    assert find_commitments("We guarantee compliance with GDPR.") == ["makes a legal statement"]
    assert find_commitments("Thanks, we are looking into it.") == []


def test_length_and_language_checks() -> None:
    assert check_length("ok") == "too short (2 characters)"
    assert check_length("x" * 50, max_chars=40) == "too long (50 characters, limit 40)"
    assert check_length("A perfectly normal reply.") is None
    assert check_language("Hallo", "de", detect=lambda _: "de") is None
    assert check_language("Hello", "de", detect=lambda _: "en") == (
        "written in 'en', the customer wrote 'de'"
    )
