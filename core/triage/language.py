"""Detect the language a customer wrote in, so drafts answer in it; unsure means the default.

py3langid's bundled model knows ~100 languages; restricting it to the ones a support desk meets
makes short texts far less likely to come out as, say, Serbian. Text too short to judge ("OK",
a signature) or judged with low confidence returns the caller's default rather than a guess.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

__all__ = ["COMMON_LANGUAGES", "detect_language"]

COMMON_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "no",
    "fi", "pl", "cs", "ru", "uk", "ja", "zh", "ko", "tr", "ar",
)  # fmt: skip

# Scripts without spaces between words: each character carries about as much as a short word.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_WORD = re.compile(r"[^\W\d_]+")


def detect_language(
    text: str,
    *,
    default: str = "en",
    candidates: tuple[str, ...] = COMMON_LANGUAGES,
    min_letters: int = 12,
    min_words: int = 3,
    min_confidence: float = 0.5,
) -> str:
    """Return the ISO 639-1 code of `text`, or `default` when there is too little to be sure."""
    letters = sum(char.isalpha() for char in text)
    words = len(_WORD.findall(text)) + len(_UNSPACED.findall(text))
    if letters < min_letters or words < min_words:
        return default
    language, confidence = _identifier(tuple(sorted(set(candidates)))).classify(text)
    return str(language) if confidence >= min_confidence else default


@functools.cache
def _identifier(candidates: tuple[str, ...]) -> LanguageIdentifier:
    """An identifier restricted to `candidates`; copies share the model loaded once."""
    identifier = copy.copy(_model())
    identifier.set_languages(candidates)  # rebinds its arrays, so the shared model is untouched
    return identifier


@functools.cache
def _model() -> LanguageIdentifier:
    """Load py3langid's bundled model (about a second) on first use, not at import."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
