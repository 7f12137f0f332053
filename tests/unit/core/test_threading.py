"""Our Message-IDs, subject tokens and localized reply prefixes."""

from __future__ import annotations

import pytest

from core.threading import (
    find_subject_ref,
    make_message_id,
    ref_from_message_id,
    reply_subject,
    strip_reply_prefixes,
)


def test_message_id_is_deterministic_and_verifiable() -> None:
    a = make_message_id(ref="T42", draft_id=7, version=2, secret=b"s", domain="ex.test")
    b = make_message_id(ref="T42", draft_id=7, version=2, secret=b"s", domain="ex.test")
    assert a == b and a.endswith("@ex.test")
    assert ref_from_message_id(f"<{a}>", secret=b"s") == "T42"
    assert ref_from_message_id(a, secret=b"other") is None


def test_tampered_ref_fails_verification() -> None:
    mid = make_message_id(ref="T42", draft_id=7, version=2, secret=b"s", domain="ex.test")
    assert ref_from_message_id(mid.replace("T42", "T43"), secret=b"s") is None
    assert ref_from_message_id("random@host", secret=b"s") is None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Invoice", "Invoice"),
        ("AW: WG: Rechnung", "Rechnung"),
        ("SV: Re[2]: Faktura", "Faktura"),
        ("TR: Fwd: facture", "facture"),
        ("VS: RE: lasku", "lasku"),
        ("Reset password", "Reset password"),
        ("Remote access", "Remote access"),
    ],
)
def test_reply_prefixes_are_stripped_in_several_languages(subject: str, expected: str) -> None:
    assert strip_reply_prefixes(subject) == expected


def test_reply_subject_has_one_prefix_and_one_token() -> None:
    assert reply_subject("AW: Re: Login [#T9]", "T9") == "Re: Login [#T9]"
    assert reply_subject("", "T9") == "Re: Your request [#T9]"
    assert find_subject_ref("Re: Login [#T9]") == "T9"
    assert find_subject_ref("Login #T9") is None
