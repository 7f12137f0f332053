"""Detect the language a customer wrote in, so drafts answer in it; unsure means the default.

py3langid's bundled model knows ~100 languages; restricting it to the ones a support desk meets
makes short texts far less likely to come out as, say, Serbian. Text too short to judge ("OK",
a signature) or judged with low confidence returns the caller's default rather than a guess.
"""

from __future__ import annotations

import logging
import lzma
import re
import shutil
import tempfile
import threading
import zipfile
from array import array
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

log = logging.getLogger(__name__)

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


_identifiers: dict[tuple[str, ...], LanguageIdentifier] = {}
_loading = threading.Lock()


def _identifier(candidates: tuple[str, ...]) -> LanguageIdentifier:
    """The identifier for `candidates`, loaded once: threads that ask together (a mailbox
    watcher and a Slack listener at start) wait for one load rather than make two."""
    found = _identifiers.get(candidates)
    if found is None:
        with _loading:
            found = _identifiers.get(candidates)
            if found is None:
                found = _identifiers[candidates] = _load_identifier(candidates)
    return found


def _load_identifier(candidates: tuple[str, ...]) -> LanguageIdentifier:
    """An identifier that knows only `candidates`, from py3langid's bundled model (loading
    it takes about a second, on first use, not at import).

    The library's own loader holds the whole model twice over while it loads (about 105 MiB
    at its peak, which set a poller's peak memory) and `set_languages` keeps the table of
    all 142 languages (27 MiB) for a reset we never make. `_load_lean` reads the same file
    in slices, keeping only the candidates' columns; should the file's layout ever differ
    from what it expects, the library's loader is used instead.
    """
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    path = Path(MODEL_FILE)
    path = path if path.is_absolute() else MODEL_DIR / path
    try:
        return _load_lean(path, candidates)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        log.warning("language model: reading it in slices failed (%s); loading it whole", exc)
    whole = LanguageIdentifier.from_model_file(path, norm_probs=True)
    whole.set_languages(candidates)
    return whole


def _load_lean(path: Path, candidates: tuple[str, ...]) -> LanguageIdentifier:
    """py3langid's model file (an LZMA-compressed .npz, `py3langid.modelio`), read with at
    most a megabyte in flight beyond the arrays kept; equal to loading it and restricting
    it to `candidates` (a unit test compares the two)."""
    from py3langid.langid import LanguageIdentifier

    with tempfile.TemporaryFile(suffix=".npz") as unpacked:
        with lzma.open(path) as packed:
            shutil.copyfileobj(packed, unpacked, length=_CHUNK)
        unpacked.seek(0)
        with zipfile.ZipFile(unpacked) as archive:
            classes: list[str] = _read_whole(archive, "classes").tolist()
            unknown = set(candidates).difference(classes)
            if unknown:
                raise ValueError(f"unknown language code(s): {sorted(unknown)}")
            keep = [i for i, code in enumerate(classes) if code in candidates]
            return LanguageIdentifier(
                _read_columns(archive, "ptc", keep),
                _read_whole(archive, "pc")[keep],
                [classes[i] for i in keep],
                _read_into_array(archive, "nextmove"),
                _read_whole(archive, "out_feat").tolist(),
                norm_probs=True,
                tk_row=_read_into_array(archive, "nextmove_row"),
            )


_CHUNK = 1 << 20
_TYPECODES = {2: "H", 4: "I", 8: "L"}  # as py3langid.modelio stores unsigned arrays


def _read_whole(archive: zipfile.ZipFile, name: str) -> Any:
    import numpy as np

    with archive.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _open_array(archive: zipfile.ZipFile, name: str) -> tuple[IO[bytes], tuple[int, ...], Any]:
    """A member positioned at its data, with the shape and dtype its .npy header gives."""
    import numpy as np

    member = archive.open(f"{name}.npy")
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, is_fortran, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, is_fortran, dtype = np.lib.format.read_array_header_2_0(member)
    if is_fortran or not dtype.isnative:
        member.close()
        raise ValueError(f"{name}: unexpected array layout")
    return member, shape, dtype


def _read_exact(member: IO[bytes], size: int) -> bytes:
    data = member.read(size)
    if len(data) != size:
        raise ValueError("model file is truncated")
    return data


def _read_columns(archive: zipfile.ZipFile, name: str, keep: list[int]) -> Any:
    """Only the `keep` columns of a 2-D array, read a megabyte of rows at a time."""
    import numpy as np

    member, shape, dtype = _open_array(archive, name)
    with member:
        if len(shape) != 2:
            raise ValueError(f"{name}: expected a table, got shape {shape}")
        rows, columns = shape
        kept = np.empty((rows, len(keep)), dtype=dtype)
        step = max(1, _CHUNK // max(1, columns * dtype.itemsize))
        for start in range(0, rows, step):
            count = min(step, rows - start)
            block = _read_exact(member, count * columns * dtype.itemsize)
            kept[start : start + count] = np.frombuffer(block, dtype=dtype).reshape(count, columns)[
                :, keep
            ]
        return kept


def _read_into_array(archive: zipfile.ZipFile, name: str) -> array[int]:
    """A 1-D unsigned array straight into the stdlib `array` py3langid walks, without the
    full-size intermediate copy its own loader makes."""
    member, shape, dtype = _open_array(archive, name)
    with member:
        if len(shape) != 1 or dtype.kind != "u" or dtype.itemsize not in _TYPECODES:
            raise ValueError(f"{name}: expected unsigned integers, got {dtype} {shape}")
        values = array(_TYPECODES[dtype.itemsize], [0]) * shape[0]
        if values.itemsize != dtype.itemsize:
            raise ValueError(f"{name}: no native {dtype.itemsize}-byte array type")
        view = memoryview(values).cast("B")
        for start in range(0, len(view), _CHUNK):
            chunk = _read_exact(member, min(_CHUNK, len(view) - start))
            view[start : start + len(chunk)] = chunk
        return values
