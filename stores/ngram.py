"""The default n-gram models: built from the packaged corpora by the same code as
``lmgen ngram train``, kept under ``$LMGEN_HOME/ngram``, loaded once per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lmgen.errors import InputError
from lmgen.models.ngram import NgramModel
from lmgen.models.ngram.tokenize import has_hangul
from lmgen.stores.corpora import PREPARERS, corpora_dir, read_sentences
from lmgen.stores.models import lmgen_home

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DefaultLM:
    """Recipe of a default model (the same arguments ``lmgen ngram train`` takes)."""

    language: str
    corpus: str
    order: int
    smoothing: str
    tokenizer: str
    lowercase: bool


DEFAULTS = {
    "english": DefaultLM("english", "shakespeare", 3, "kneser-ney", "regex", True),
    "korean": DefaultLM("korean", "korean", 3, "kneser-ney", "morpheme", False),
}


def default_path(language: str, order: int | None = None) -> Path:
    spec = _spec(language)
    return lmgen_home() / "ngram" / f"{spec.language}-{spec.corpus}-o{order or spec.order}.npz"


def _spec(language: str) -> DefaultLM:
    if language not in DEFAULTS:
        raise InputError(f"no default n-gram model for {language!r}; languages: {', '.join(DEFAULTS)}")
    return DEFAULTS[language]


def corpus_split(name: str) -> tuple[Path, Path]:
    """train/test files of a packaged corpus, prepared on first use."""
    folder = corpora_dir() / name
    train, test = folder / "train.txt", folder / "test.txt"
    if not (train.is_file() and test.is_file()):
        log.info("preparing the %s corpus", name)
        PREPARERS[name](folder)
    return train, test


def train_model(
    files: list[Path],
    order: int,
    smoothing: str,
    tokenizer: str,
    lowercase: bool = False,
    min_count: int = 1,
    progress: bool = False,
    **params: Any,
) -> NgramModel:
    """What ``lmgen ngram train`` does: read one-sentence-per-line files and fit."""
    sentences: list[str] = []
    for f in files:
        sentences.extend(read_sentences(Path(f)))
    model = NgramModel(
        order=order,
        smoothing=smoothing,
        tokenizer=tokenizer,
        lowercase=lowercase,
        min_count=min_count,
        **params,
    )
    return model.fit(sentences, progress=progress)


def build_default(
    language: str, order: int | None = None, force: bool = False, progress: bool = False
) -> dict[str, Any]:
    """Build (or find) one default model; returns its path and training summary."""
    spec = _spec(language)
    path = default_path(language, order)
    if path.is_file() and not force:
        return {"language": language, "path": str(path), "action": "present", **NgramModel.saved_info(path)}
    train, _ = corpus_split(spec.corpus)
    model = train_model(
        [train], order or spec.order, spec.smoothing, spec.tokenizer, spec.lowercase, progress=progress
    )
    model.save(path)
    return {"language": language, "path": str(path), "action": "built", **model.info}


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> NgramModel:
    return NgramModel.load(path)


def load_model(path: str | Path | None = None, text: str = "", order: int | None = None) -> NgramModel:
    """A model by path, or the default for the text's language (Hangul → Korean), built if missing."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"n-gram model not found: {p}")
        return _load(str(p), p.stat().st_mtime_ns)
    language = "korean" if has_hangul(text) else "english"
    target = default_path(language, order)
    if not target.is_file():
        build_default(language, order)
    return _load(str(target), target.stat().st_mtime_ns)


def sample_sentences(
    lm: NgramModel, n: int, seed: int | None = None, temperature: float = 1.0, prefix: str = ""
) -> list[str]:
    """``n`` sentences sampled from ``lm`` (sentence ``i`` uses ``seed + i``), starting from ``prefix``."""
    from lmgen.models.ngram.tokenize import detokenize

    start = lm.tokenize(prefix) if prefix.strip() else []
    return [
        detokenize(
            lm.generate(temperature=temperature, seed=None if seed is None else seed + i, prefix=start),
            lm.tokenizer_name,
        )
        for i in range(n)
    ]
