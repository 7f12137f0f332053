"""Language detection: common languages recognised, too little text gives the default."""

import pytest

from core.triage.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I have a problem with my invoice, can you help me?", "en"),
        ("Ich habe ein Problem mit meiner Rechnung, können Sie mir helfen?", "de"),
        ("Bonjour, je ne peux pas me connecter à mon compte depuis hier.", "fr"),
        ("Hola, no puedo acceder a mi cuenta desde ayer.", "es"),
        ("注文した商品がまだ届いていません。", "ja"),
    ],
)
def test_detects_common_languages(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["", "OK", "12345 67890 !!!", "Danke schön"])
def test_too_little_text_returns_the_default(text: str) -> None:
    assert detect_language(text, default="xx") == "xx"


def test_candidates_restrict_the_answer() -> None:
    german = "Ich habe ein Problem mit meiner Rechnung, können Sie mir helfen?"
    assert detect_language(german, candidates=("en", "fr")) in {"en", "fr"}


def test_low_confidence_returns_the_default() -> None:
    text = "Hello there team"
    assert detect_language(text, default="xx") == "en"
    assert detect_language(text, default="xx", min_confidence=0.999) == "xx"
