"""What BERT pre-training reads: the document-structured corpus, built from packaged texts.

The corpus keeps sentences grouped by document (one sentence per line, a blank line between
documents, like BERT's original pre-training input), so next-sentence pairs are real neighbours.
Sources are the packaged English and Korean texts of :mod:`lmgen.stores.corpora`: Shakespeare
(one document per play; Hamlet, Macbeth and The Tempest held out), Debian's Korean FAQ and
LibreOffice help pages (one document each; every 10th held out), konlpy's constitution and
bills, WordNet's usage examples of everyday English (ten to a document, grouped by topic;
every 10th document held out), and the everyday dialogues of ``chatterbot-corpus`` in Korean and
English (one document per topic, its conversations in order; every 10th conversation held out).
Sentences are deduplicated across the whole corpus (help pages repeat boilerplate), and a
held-out sentence that also occurs in training is dropped, so held-out accuracy is honest.
"""

from __future__ import annotations

import json
import tempfile
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lmgen.errors import InputError
from lmgen.models.ngram.tokenize import split_sentences
from lmgen.stores.corpora import (
    SHAKESPEARE_TEST_PLAYS,
    block_sentences,
    chatterbot_dialogues,
    corpora_dir,
    debian_korean_documents,
    konlpy_texts,
    play_sentences,
    read_corpus_text,
    shakespeare_texts,
    wordnet_examples,
)


@dataclass
class Document:
    name: str
    lang: str
    sentences: list[str]


@dataclass
class DocumentCorpus:
    """Where a prepared document corpus lives and what it holds."""

    train: Path
    test: Path
    stats: dict[str, int | dict[str, int]] = field(default_factory=dict)


def _key(sentence: str) -> str:
    return " ".join(unicodedata.normalize("NFC", sentence).lower().split())


def collect_documents(tmp: Path) -> tuple[list[Document], list[Document]]:
    """(train, held-out) documents from every packaged source, before deduplication."""
    train: list[Document] = []
    test: list[Document] = []
    for name, text in shakespeare_texts(tmp):
        doc = Document(name.removesuffix("_gut.txt"), "en", play_sentences(text))
        (test if name in SHAKESPEARE_TEST_PLAYS else train).append(doc)
    for index, (name, text) in enumerate(debian_korean_documents(tmp), 1):
        doc = Document(name, "ko", block_sentences(text))
        (test if index % 10 == 0 else train).append(doc)
    for index, (name, text) in enumerate(konlpy_texts(tmp)):
        # hard-wrapped bills: join all lines, then split at sentence ends
        doc = Document(name, "ko", block_sentences(" ".join(text.split())))
        (test if index == 5 else train).append(doc)
    for index, (name, sentences) in enumerate(wordnet_examples(tmp), 1):
        (test if index % 10 == 0 else train).append(Document(name, "en", sentences))
    for topic, lang, conversations in chatterbot_dialogues(tmp):
        # one document per topic and split: a topic's conversations in order, every 10th held out
        for held_out, docs in ((False, train), (True, test)):
            turns = [
                sentence
                for i, conv in enumerate(conversations)
                if (i % 10 == 9) == held_out
                for turn in conv
                for sentence in split_sentences(turn)
            ]
            if len(turns) >= 2:
                docs.append(Document(f"chatterbot/{lang}/{topic}", lang, turns))
    return train, test


def deduplicate(train: list[Document], test: list[Document]) -> tuple[list[Document], list[Document]]:
    """Drop repeated sentences (first occurrence wins; training is seen first) and emptied documents."""
    seen: set[str] = set()
    out: tuple[list[Document], list[Document]] = ([], [])
    for docs, kept in zip((train, test), out, strict=True):
        for doc in docs:
            sentences = []
            for sentence in doc.sentences:
                key = _key(sentence)
                if key and key not in seen:
                    seen.add(key)
                    sentences.append(sentence)
            if sentences:
                kept.append(Document(doc.name, doc.lang, sentences))
    return out


def write_documents(path: Path, docs: list[Document]) -> None:
    path.write_text("\n\n".join("\n".join(d.sentences) for d in docs) + "\n", "utf-8")


def read_documents(path: Path, limit_bytes: int = 512 * 1024 * 1024) -> list[list[str]]:
    """Documents (lists of sentences) from a file with one sentence per line and blank lines between.

    Raises:
        InputError: missing, too large, binary, not UTF-8 or empty.
    """
    text = read_corpus_text(path, limit_bytes)
    docs = [[ln.strip() for ln in block.splitlines() if ln.strip()] for block in text.split("\n\n")]
    docs = [d for d in docs if d]
    if not docs:
        raise InputError(f"{path} has no text")
    return docs


def prepare_mlm_corpus(out_dir: Path | None = None) -> DocumentCorpus:
    """Build ``train.txt`` / ``test.txt`` (documents of sentences) and ``stats.json``."""
    out = out_dir or corpora_dir() / "mlm"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw_train, raw_test = collect_documents(Path(tmp))
    train, test = deduplicate(raw_train, raw_test)
    corpus = DocumentCorpus(out / "train.txt", out / "test.txt")
    write_documents(corpus.train, train)
    write_documents(corpus.test, test)
    raw = sum(len(d.sentences) for d in raw_train + raw_test)
    stats: dict[str, int | dict[str, int]] = {"sentences_before_dedup": raw}
    for split, docs in (("train", train), ("test", test)):
        for lang in ("en", "ko"):
            part = [d for d in docs if d.lang == lang]
            stats[f"{split}_{lang}"] = {
                "documents": len(part),
                "sentences": sum(len(d.sentences) for d in part),
                "words": sum(len(s.split()) for d in part for s in d.sentences),
            }
    corpus.stats = stats
    (out / "stats.json").write_text(json.dumps(asdict(corpus), default=str, indent=2) + "\n", "utf-8")
    return corpus


def mlm_corpus(rebuild: bool = False) -> DocumentCorpus:
    """The prepared corpus, built on first use."""
    out = corpora_dir() / "mlm"
    if not rebuild and (out / "train.txt").is_file() and (out / "test.txt").is_file():
        stats_file = out / "stats.json"
        stats = json.loads(stats_file.read_text("utf-8")).get("stats", {}) if stats_file.is_file() else {}
        return DocumentCorpus(out / "train.txt", out / "test.txt", stats)
    return prepare_mlm_corpus(out)
