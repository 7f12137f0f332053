"""Sentence vectors from the 256-dimensional token embeddings shipped inside the wordllama wheel.

They add what n-grams lack: "card not here yet" and "still waiting for my card" share no
words but sit close together. Only the wheel's two files are read (tokenizer and weights),
straight from the installed package, so nothing is ever downloaded; wordllama's own loader
would look for the tokenizer in a folder the wheel does not have and go to the network.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import SupportbotError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
DIMENSIONS = 256


class EmbeddingsMissing(SupportbotError):
    """The wordllama wheel (the `ml` extra) is not installed or lacks its files."""


@functools.cache
def _load() -> tuple[Any, npt.NDArray[np.float32]]:
    try:
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbeddingsMissing(
            f"{exc.name} is missing: install the ml extra (pip install 'supportbot[ml]')"
        ) from exc
    root = Path(wordllama.__file__).parent
    tokenizer_path, weights_path = root.joinpath(*_TOKENIZER), root.joinpath(*_WEIGHTS)
    for path in (tokenizer_path, weights_path):
        if not path.is_file():
            raise EmbeddingsMissing(f"the wordllama wheel has no {path}")
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    with safe_open(str(weights_path), framework="np") as weights:
        matrix = weights.get_tensor("embedding.weight").astype("float32")
    return tokenizer, matrix


def embed(texts: Sequence[str], *, max_tokens: int = 256) -> npt.NDArray[np.float32]:
    """Mean of each text's token vectors, L2-normalised; the first `max_tokens` tokens only,
    because a customer states the problem first and logs pasted below add noise."""
    import numpy as np

    tokenizer, matrix = _load()
    out = np.zeros((len(texts), matrix.shape[1]), dtype=np.float32)
    for row, encoding in enumerate(tokenizer.encode_batch(list(texts))):
        ids = encoding.ids[:max_tokens]
        if ids:
            vector = matrix[ids].mean(axis=0)
            norm = float(np.linalg.norm(vector))
            out[row] = vector / norm if norm else vector
    return out
