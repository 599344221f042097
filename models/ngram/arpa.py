"""ARPA back-off files: write lmgen's tables, read any toolkit's (KenLM, SRILM, IRSTLM).

Format: a ``\\data\\`` header with ``ngram k=COUNT`` lines, then one ``\\k-grams:`` section per
order with ``log10_prob<TAB>w1 … wk[<TAB>log10_backoff]`` lines, then ``\\end\\``.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

import numpy as np

from lmgen.errors import LmgenError
from lmgen.models.ngram.backoff import LOG10_ZERO, BackoffTables
from lmgen.models.ngram.counts import BOS, EOS, UNK, Vocabulary
from lmgen.models.ngram.smoothing import LoadedTables

if TYPE_CHECKING:
    from lmgen.models.ngram.model import NgramModel

_HEADER = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)\s*$")
_SECTION = re.compile(r"^\\(\d+)-grams:\s*$")


class ArpaError(LmgenError):
    """An ARPA file that cannot be read."""


def _open(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8"))
    return path.open(mode, encoding="utf-8")


def looks_like_arpa(path: Path) -> bool:
    if path.name.endswith((".arpa", ".arpa.gz")):
        return True
    try:
        with _open(path, "r") as fh:
            return fh.read(64).lstrip().startswith("\\data\\")
    except (OSError, UnicodeDecodeError, gzip.BadGzipFile):
        return False


def ngram_words(tables: BackoffTables) -> list[np.ndarray]:
    """Word ids of every stored n-gram, per order: an (N_k, k) array rebuilt from the keys."""
    v = tables.vocab_size
    words = [np.arange(v, dtype=np.int64)[:, None]]
    for k in range(2, tables.order + 1):
        keys = tables.keys[k - 1]
        words.append(np.hstack([words[k - 2][keys // v], (keys % v)[:, None]]))
    return words


def write_arpa(path: str | Path, vocab: list[str], tables: BackoffTables) -> Path:
    """Write tables as ARPA. Unigrams list the whole vocabulary (``<s>`` with log10 prob -99)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grams = ngram_words(tables)
    names = np.array(vocab, dtype=object)
    with _open(path, "w") as fh:
        fh.write("\\data\\\n")
        for k, g in enumerate(grams, 1):
            fh.write(f"ngram {k}={len(g)}\n")
        for k, g in enumerate(grams, 1):
            fh.write(f"\n\\{k}-grams:\n")
            text = [" ".join(row) for row in names[g]]
            prob = tables.prob[k - 1]
            bow = tables.bow[k - 1]
            has_bow = k < tables.order
            lines = (
                f"{prob[i]:.7f}\t{text[i]}\t{bow[i]:.7f}\n" if has_bow else f"{prob[i]:.7f}\t{text[i]}\n"
                for i in range(len(text))
            )
            fh.writelines(lines)
        fh.write("\n\\end\\\n")
    return path


def read_arpa(path: str | Path, tokenizer: str = "whitespace") -> NgramModel:
    """Load an ARPA file into an :class:`NgramModel` (scoring, generation and ARPA export work).

    Raises:
        ArpaError: not ARPA, truncated, or an n-gram whose context is missing.
    """
    from lmgen.models.ngram.model import NgramModel

    path = Path(path)
    try:
        with _open(path, "r") as fh:
            declared, sections = _parse(fh, path)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise ArpaError(f"{path} is not a readable ARPA file ({exc})") from exc
    order = len(declared)
    if order < 1:
        raise ArpaError(f"{path}: no n-gram sections")
    for k, expected in declared.items():
        if len(sections.get(k, [])) != expected:
            raise ArpaError(f"{path}: header says {expected} {k}-grams, found {len(sections.get(k, []))}")
    # Vocabulary: the unigrams, with <unk>, <s>, </s> first (added at probability zero if absent).
    unigrams = sections[1]
    words = [w for w, _, _ in unigrams]
    specials = [UNK, BOS, EOS]
    vocab = Vocabulary(specials + [w[0] for w in words if w[0] not in specials])
    v = len(vocab)
    prob1 = np.full(v, LOG10_ZERO)
    bow1 = np.zeros(v)
    for w, p, b in unigrams:
        i = vocab.index[w[0]]
        prob1[i], bow1[i] = p, b
    keys = [np.arange(v, dtype=np.int64)]
    prob = [prob1]
    bow = [bow1]
    tables = BackoffTables(keys=keys, prob=prob, bow=bow, vocab_size=v)
    for k in range(2, order + 1):
        rows = sections[k]
        get = vocab.index.get
        ids = np.array([[get(w, -1) for w in gram] for gram, _, _ in rows], dtype=np.int64).reshape(-1, k)
        if len(rows) and (ids < 0).any():
            bad = rows[int(np.argwhere(ids < 0)[0][0])][0]
            raise ArpaError(f"{path}: {k}-gram {' '.join(bad)!r} uses a word missing from the unigrams")
        prefixes = tables.lookup_many(ids[:, :-1]) if len(rows) else np.empty(0, np.int64)
        if len(rows) and (prefixes < 0).any():
            bad = rows[int(np.argwhere(prefixes < 0)[0][0])][0]
            raise ArpaError(f"{path}: {k}-gram {' '.join(bad)!r} has no ({k - 1})-gram context in the file")
        key = prefixes * v + (ids[:, -1] if len(rows) else np.empty(0, np.int64))
        order_idx = np.argsort(key, kind="stable")
        keys.append(key[order_idx])
        prob.append(np.array([p for _, p, _ in rows], dtype=np.float64)[order_idx])
        bow.append(np.array([b for _, _, b in rows], dtype=np.float64)[order_idx])
    model = NgramModel(order=order, smoothing=LoadedTables(), tokenizer=tokenizer)
    model.vocab = vocab
    model.tables = tables
    model.info = {
        "order": order,
        "smoothing": "arpa",
        "vocab": v,
        "ngrams": [len(s) for s in sections.values()],
        "source": str(path),
    }
    return model


def _parse(
    fh: IO[str], path: Path
) -> tuple[dict[int, int], dict[int, list[tuple[tuple[str, ...], float, float]]]]:
    declared: dict[int, int] = {}
    sections: dict[int, list[tuple[tuple[str, ...], float, float]]] = {}
    line = fh.readline()
    while line and line.strip() != "\\data\\":
        line = fh.readline()
    if not line:
        raise ArpaError(f"{path}: no \\data\\ header (not an ARPA file)")
    current = 0
    for lineno, raw in enumerate(fh, 2):
        text = raw.strip()
        if not text:
            continue
        if text == "\\end\\":
            return declared, sections
        m = _HEADER.match(text)
        if m and current == 0:
            declared[int(m.group(1))] = int(m.group(2))
            continue
        m = _SECTION.match(text)
        if m:
            current = int(m.group(1))
            sections[current] = []
            continue
        if current == 0:
            raise ArpaError(f"{path}:{lineno}: unexpected line in header: {text[:60]!r}")
        parts = text.split()
        try:
            p = float(parts[0])
            gram = tuple(parts[1 : 1 + current])
            b = float(parts[1 + current]) if len(parts) > 1 + current else 0.0
        except (ValueError, IndexError) as exc:
            raise ArpaError(f"{path}:{lineno}: malformed {current}-gram line {text[:60]!r}") from exc
        if len(gram) != current:
            raise ArpaError(f"{path}:{lineno}: malformed {current}-gram line {text[:60]!r}")
        sections[current].append((gram, p, b))
    raise ArpaError(f"{path}: truncated (no \\end\\)")
