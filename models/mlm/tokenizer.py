"""A WordPiece vocabulary for Hangul and English, trained with Hugging Face ``tokenizers``.

BERT's usual normalizer strips accents by decomposing characters (NFD) — that would break
every Hangul syllable into jamo. By default this one lowercases and NFC-normalizes only, so
syllables stay whole and ``##`` continuation pieces cover Korean endings (조사/어미) as well as
English suffixes.

The cost of whole syllables: WordPiece turns a word into ``[UNK]`` when one of its characters is
not in the vocabulary, and a narrow corpus uses few of the 11,172 syllables (lmgen's Korean text,
law and software help, has 891: "밥", "갔", "팠" and "랗" never occur, so "밥을", "갔다",
"고팠다" and "파랗다" are each one ``[UNK]``). ``jamo=True`` decomposes syllables into their
letters (NFD: 갔 → ᄀ ᅡ ᆻ) before WordPiece, so every Korean word is spelled from 67 letters
the corpus does contain, frequent syllables and endings still become single pieces, and a
verb's past tense shares its letters with the present (갔다 = ᄀ ᅡ + ᆻ다, as in 있었다).
Saved in ``tokenizer.json``, the normalizer travels with the checkpoint; :func:`display`
recomposes pieces for people.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tokenizer(vocab: dict[str, int] | None = None, jamo: bool = False) -> Any:
    """A WordPiece ``tokenizers.Tokenizer``: untrained, or from ``vocab`` (then with BERT's
    [CLS]/[SEP]); with ``jamo``, Hangul is spelled in letters (NFD) rather than syllables (NFC)."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece(vocab or {}, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFD() if jamo else normalizers.NFC(),
            normalizers.BertNormalizer(lowercase=True, strip_accents=False, clean_text=True),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    if vocab:
        _add_post_processor(tok)
    return tok


def _add_post_processor(tok: Any) -> None:
    from tokenizers import processors

    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )


def train_wordpiece(
    sentences: Iterable[str],
    vocab_size: int = 8192,
    min_frequency: int = 2,
    limit_alphabet: int = 2000,
    jamo: bool = False,
) -> Any:
    """Train the vocabulary on an iterator of sentences; returns a ``tokenizers.Tokenizer``."""
    from tokenizers.trainers import WordPieceTrainer

    tok = build_tokenizer(jamo=jamo)
    trainer = WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        limit_alphabet=limit_alphabet,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(sentences, trainer=trainer)
    _add_post_processor(tok)
    return tok


def to_transformers(tok: Any, model_max_length: int = 128) -> Any:
    """Wrap a ``tokenizers.Tokenizer`` as a transformers fast tokenizer (what checkpoints save)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def is_hangul(ch: str) -> bool:
    """Whether one character is Hangul: a syllable, a conjoining letter (jamo) or a compatibility letter."""
    code = ord(ch)
    return 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def display(piece: str) -> str:
    """A piece or decoded text as people read it: jamo recomposed into syllables (NFC)."""
    return unicodedata.normalize("NFC", piece)


def raw_backend(tokenizer: Any) -> Any:
    """The fast tokenizer's Rust ``Tokenizer`` with no truncation and no padding.

    A transformers call with ``truncation=``/``padding=`` (next-sentence scoring pads its pairs)
    leaves those settings on the shared Rust object, where every later direct ``encode_batch``
    would pad each sentence to the longest or cut it: held-out evaluation after one NSP call
    scored padding. Code that encodes through the backend takes it from here.
    """
    backend = tokenizer.backend_tokenizer
    if backend.truncation is not None:
        backend.no_truncation()
    if backend.padding is not None:
        backend.no_padding()
    return backend


def unk_share(tokenizer: Any, sentences: Iterable[str]) -> tuple[float, int]:
    """Share of ``[UNK]`` among the WordPiece tokens of ``sentences`` (and the token count)."""
    unk_id = tokenizer.unk_token_id
    backend = raw_backend(tokenizer)
    total = unk = 0
    batch: list[str] = []

    def flush() -> None:
        nonlocal total, unk
        for enc in backend.encode_batch(batch, add_special_tokens=False):
            total += len(enc.ids)
            unk += sum(1 for i in enc.ids if i == unk_id)
        batch.clear()

    for sentence in sentences:
        batch.append(sentence)
        if len(batch) == 2048:
            flush()
    if batch:
        flush()
    return (unk / total if total else 0.0), total


def save_tokenizer(tokenizer: Any, out: Path) -> None:
    tokenizer.save_pretrained(str(out))
