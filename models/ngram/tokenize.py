"""Tokenizers and a sentence splitter for n-gram models, English and Korean.

Every tokenizer maps a sentence to a list of tokens that never contain whitespace (so a
tokenized sentence joined by spaces is what KenLM and ARPA tools expect; a space inside one
morpheme becomes ``▁``).

* ``regex`` — words, numbers and single punctuation marks (English and other Latin text);
* ``whitespace`` — split on spaces, nothing else;
* ``eojeol`` — Korean 어절 (space-separated units) with surrounding punctuation split off;
* ``syllable`` — one token per Hangul syllable (other scripts keep whole words);
* ``morpheme`` — Korean morphemes from Kiwi (``kiwipiepy``), as ``form/TAG``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from lmgen.errors import InputError

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[^\w\s]", re.UNICODE)
_EDGE_PUNCT = re.compile(r"^([^\w]*)(.*?)([^\w]*)$", re.UNICODE | re.S)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_SPACES = re.compile(r"\s+")
WORD_JOINER = "\u2581"  # stands for a space inside one token (SentencePiece's convention)
# A sentence ends at . ! ? … (and their full-width forms) followed by space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n+")

TOKENIZERS = ("regex", "whitespace", "syllable", "eojeol", "morpheme")


def normalize(text: str) -> str:
    """NFC-normalize (Korean input may arrive as decomposed jamo) and collapse whitespace."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences (punctuation followed by space, or line breaks)."""
    parts = _SENTENCE_END.split(unicodedata.normalize("NFC", text))
    return [s for s in (normalize(p) for p in parts) if s]


def regex_tokens(text: str, lowercase: bool = False) -> list[str]:
    text = normalize(text)
    return _WORD.findall(text.lower() if lowercase else text)


def whitespace_tokens(text: str, lowercase: bool = False) -> list[str]:
    text = normalize(text)
    return (text.lower() if lowercase else text).split()


def eojeol_tokens(text: str, lowercase: bool = False) -> list[str]:
    out: list[str] = []
    for chunk in whitespace_tokens(text, lowercase):
        m = _EDGE_PUNCT.match(chunk)
        assert m is not None
        lead, core, trail = m.groups()
        out.extend(lead)
        if core:
            out.append(core)
        out.extend(trail)
    return out


def syllable_tokens(text: str, lowercase: bool = False) -> list[str]:
    out: list[str] = []
    for word in regex_tokens(text, lowercase):
        if _HANGUL.search(word):
            out.extend(ch for ch in word if not ch.isspace())
        else:
            out.append(word)
    return out


class MorphemeTokenizer:
    """Kiwi morphemes as ``form/TAG`` (the tag keeps homographs apart: 이/VCP vs 이/JKS)."""

    def __init__(self, with_tags: bool = True) -> None:
        try:
            from kiwipiepy import Kiwi
        except ImportError as exc:  # pragma: no cover - kiwipiepy is a dependency
            raise InputError("the morpheme tokenizer needs kiwipiepy", hint="pip install kiwipiepy") from exc
        self.kiwi = Kiwi()
        self.with_tags = with_tags

    def __call__(self, text: str, lowercase: bool = False) -> list[str]:
        text = normalize(text)
        if not text:
            return []
        tokens: list[Any] = self.kiwi.tokenize(text.lower() if lowercase else text)
        # Kiwi keeps some multi-word names as one morpheme ("토이 스토리/NNP"): join their words with
        # ▁ so that no token holds whitespace (ARPA files and KenLM split on it).
        forms = (_SPACES.sub(WORD_JOINER, t.form.strip()) for t in tokens)
        return [f"{f}/{t.tag}" if self.with_tags else f for f, t in zip(forms, tokens, strict=True) if f]

    def join(self, tokens: list[str]) -> str:
        """Morphemes back to running Korean text (Kiwi re-attaches endings and particles)."""
        pairs = [
            tuple(t.replace(WORD_JOINER, " ").rsplit("/", 1)) if "/" in t[1:] else (t, "NNG") for t in tokens
        ]
        return str(self.kiwi.join(pairs))


_MORPHEME: MorphemeTokenizer | None = None  # Kiwi takes ~1 s to load: one per process


def get_tokenizer(name: str, lowercase: bool = False) -> Callable[[str], list[str]]:
    """A function ``sentence -> tokens`` for one of :data:`TOKENIZERS`.

    Raises:
        InputError: unknown tokenizer name.
    """
    global _MORPHEME
    simple = {
        "regex": regex_tokens,
        "whitespace": whitespace_tokens,
        "eojeol": eojeol_tokens,
        "syllable": syllable_tokens,
    }
    if name in simple:
        fn = simple[name]
        return lambda text: fn(text, lowercase)
    if name == "morpheme":
        if _MORPHEME is None:
            _MORPHEME = MorphemeTokenizer()
        tok = _MORPHEME
        return lambda text: tok(text, lowercase)
    raise InputError(f"unknown tokenizer {name!r}; choose one of: {', '.join(TOKENIZERS)}")


def detokenize(tokens: list[str], tokenizer: str) -> str:
    """Tokens back to readable text: Kiwi's join for morphemes, spaces otherwise (punctuation attached)."""
    if tokenizer == "morpheme" and tokens:
        get_tokenizer("morpheme")
        assert _MORPHEME is not None
        return _MORPHEME.join(tokens)
    return re.sub(r" ([.,;:!?)\]’”])", r"\1", " ".join(tokens))


def has_hangul(text: str) -> bool:
    return bool(_HANGUL.search(text))
