"""The language model read in slices equals py3langid's own loading, restricted the same way."""

from __future__ import annotations

import lzma
import zipfile
from pathlib import Path

import numpy as np
import pytest
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from core.triage import language

CANDIDATES = ("de", "en", "fr", "ja", "ru")


def test_the_lean_load_equals_the_librarys_load_and_restriction() -> None:
    path = MODEL_DIR / MODEL_FILE
    lean = language._load_lean(path, CANDIDATES)
    whole = LanguageIdentifier.from_model_file(path, norm_probs=True)
    whole.set_languages(CANDIDATES)
    assert lean.nb_classes == whole.nb_classes
    assert lean.nb_ptc.dtype == whole.nb_ptc.dtype
    assert np.array_equal(lean.nb_ptc, whole.nb_ptc)
    assert np.array_equal(lean.nb_pc, whole.nb_pc)
    assert lean.tk_nextmove == whole.tk_nextmove
    assert lean.tk_row == whole.tk_row
    assert lean.tk_output == whole.tk_output
    text = "Bonjour, je n'ai toujours pas reçu ma commande, pouvez-vous vérifier ?"
    assert lean.classify(text) == whole.classify(text)


def test_a_model_file_of_another_layout_is_refused_not_misread(tmp_path: Path) -> None:
    broken = tmp_path / "model.npz.xz"
    broken.write_bytes(lzma.compress(b"not a zip archive"))
    with pytest.raises(zipfile.BadZipFile):
        language._load_lean(broken, CANDIDATES)
