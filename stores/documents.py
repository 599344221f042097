"""Documents in, chunks out: LangChain loaders per file type, then a structure-following splitter.

Loading uses LangChain's own loaders (``TextLoader``, ``PyPDFLoader`` per page, ``Docx2txtLoader``);
HTML goes through BeautifulSoup here so that its headings survive as section boundaries. A file that
cannot be read, is empty or is binary raises :class:`UnreadableFile`, which ingestion reports in
``failed`` while the other files go on.

:class:`StructuredSplitter` is a LangChain ``TextSplitter`` that cuts where the text's structure is:
Markdown headings first (a chunk never straddles two sections and remembers its heading path), then
blank-line paragraphs, then sentences (Kiwi for Korean, punctuation for English), then — only for a
sentence longer than the cap — whitespace. Pieces are packed up to ``chunk_size`` characters with up to
``chunk_overlap`` characters of whole trailing sentences repeated. Every chunk is an exact slice of the
source text, so its ``start_index``/``end_index`` point at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_text_splitters import TextSplitter

from lmgen.errors import InputError, brief

TEXT_TYPES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".rst": "text"}
HTML_TYPES = {".html", ".htm"}
SUPPORTED = {*TEXT_TYPES, *HTML_TYPES, ".pdf", ".docx"}
MAX_FILE_BYTES = 50 * 1024 * 1024
CHUNK_SIZE = 600
CHUNK_OVERLAP = 80

_HANGUL = re.compile(r"[가-힣]")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?。？！])[\"')\]]*\s+")


class UnreadableFile(InputError):
    """A file that ingestion skips (and lists in ``failed``): unreadable, empty, binary or too big."""


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _looks_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(8192)
    return b"\0" in head


def load_file(path: Path) -> list[Document]:
    """The text of one file as LangChain documents (one per PDF page, one otherwise).

    Metadata: ``source`` (resolved path), ``title``, ``format`` and for PDFs ``page`` (1-based).

    Raises:
        UnreadableFile: missing, unsupported, too large, binary, corrupt or without any text.
    """
    path = path.expanduser().resolve()
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UnreadableFile(f"{path}: not a file")
    if suffix not in SUPPORTED:
        raise UnreadableFile(f"{path.name}: unsupported file type {suffix or '(none)'}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UnreadableFile(f"{path.name}: {size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit")
    if size == 0:
        raise UnreadableFile(f"{path.name}: empty file")
    try:
        docs = _load(path, suffix)
    except UnreadableFile:
        raise
    except Exception as exc:  # loaders raise anything from UnicodeDecodeError to pypdf's own errors
        raise UnreadableFile(f"{path.name}: cannot be read ({brief(exc)})") from exc
    docs = [d for d in docs if d.page_content.strip()]
    if not docs:
        raise UnreadableFile(f"{path.name}: no text found")
    return docs


def _load(path: Path, suffix: str) -> list[Document]:
    source = str(path)
    if (suffix in TEXT_TYPES or suffix in HTML_TYPES) and _looks_binary(path):
        raise UnreadableFile(f"{path.name}: binary data, not text")
    if suffix in TEXT_TYPES:
        from langchain_community.document_loaders import TextLoader

        docs = TextLoader(source, encoding="utf-8").load()
        fmt = TEXT_TYPES[suffix]
        for d in docs:
            d.metadata.update(source=source, format=fmt, title=_text_title(d.page_content, fmt, path))
        return docs
    if suffix in HTML_TYPES:
        text, title = html_text(path.read_text(encoding="utf-8", errors="replace"))
        meta = {"source": source, "format": "html", "title": title or path.stem}
        return [Document(page_content=text, metadata=meta)]
    if suffix == ".pdf":
        from langchain_community.document_loaders import PyPDFLoader

        pages = PyPDFLoader(source).load()
        for d in pages:
            d.metadata = {
                "source": source,
                "format": "pdf",
                "title": str(d.metadata.get("title") or path.stem),
                "page": int(d.metadata.get("page", 0)) + 1,
            }
        return pages
    from langchain_community.document_loaders import Docx2txtLoader

    docs = Docx2txtLoader(source).load()
    for d in docs:
        d.page_content = _tidy_lines(d.page_content)
        d.metadata = {"source": source, "format": "docx", "title": path.stem}
    return docs


_HTML_HEADING = re.compile(r"^h([1-6])$")


def html_text(html: str) -> tuple[str, str]:
    """(text, title) of an HTML page; its h1-h6 become Markdown headings, so chunks keep their section.

    Scripts, styles and navigation are dropped. Generated manuals (DocBook, Sphinx) put every question
    or topic under its own heading, and that heading is what a chunk's ``heading`` path then names.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "nav", "noscript", "template", "head"]):
        tag.decompose()
    for tag in soup.find_all(_HTML_HEADING):
        words = " ".join(tag.get_text().split())  # inline markup (<code>apt</code>?) adds no spaces
        level = int(tag.name[1])
        tag.replace_with(f"\n\n{'#' * level} {words}\n\n" if words else "")
    return _tidy_lines(soup.get_text()), title


def _tidy_lines(text: str) -> str:
    """Collapse runs of blank lines that HTML/DOCX extraction leaves (keeps paragraph breaks)."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _text_title(text: str, fmt: str, path: Path) -> str:
    if fmt == "markdown":
        m = _HEADING.search(text)
        if m:
            return m.group(2).strip()
    return path.stem


@lru_cache(maxsize=1)
def _kiwi() -> Any:
    from kiwipiepy import Kiwi

    return Kiwi()


def sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """Sentences of ``text[start:end]`` (Kiwi where there is Hangul, punctuation otherwise)."""
    piece = text[start:end]
    coarse: list[tuple[int, int]] = []
    if _HANGUL.search(piece):
        coarse = [(s.start, s.end) for s in _kiwi().split_into_sents(piece)]
    else:
        coarse = [(0, len(piece))]
    spans: list[Span] = []
    for a, b in coarse:
        pos = a
        for m in _SENTENCE_END.finditer(piece, a, b):
            if m.start() > pos:
                spans.append(Span(start + pos, start + m.start()))
            pos = m.end()
        if b > pos:
            spans.append(Span(start + pos, start + b))
    return [s for s in spans if text[s.start : s.end].strip()]


def _hard_cut(text: str, span: Span, size: int) -> list[Span]:
    """A span longer than ``size`` cut at the last whitespace before each limit."""
    out: list[Span] = []
    pos = span.start
    while span.end - pos > size:
        cut = text.rfind(" ", pos + size // 2, pos + size)
        cut = cut if cut > pos else pos + size
        out.append(Span(pos, cut))
        pos = cut
        while pos < span.end and text[pos].isspace():
            pos += 1
    if span.end > pos:
        out.append(Span(pos, span.end))
    return out


def _strip(text: str, span: Span) -> Span | None:
    a, b = span.start, span.end
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return Span(a, b) if b > a else None


class StructuredSplitter(TextSplitter):
    """Headings → paragraphs → sentences → words, packed into chunks with sentence overlap."""

    def __init__(
        self, chunk_size: int = CHUNK_SIZE, chunk_overlap: int = CHUNK_OVERLAP, **kwargs: Any
    ) -> None:
        if chunk_size < 50:
            raise InputError(f"chunk size {chunk_size} is too small (≥ 50 characters)")
        if not 0 <= chunk_overlap < chunk_size // 2:
            raise InputError(f"chunk overlap {chunk_overlap} must be ≥ 0 and below half the chunk size")
        super().__init__(chunk_size=chunk_size, chunk_overlap=chunk_overlap, **kwargs)

    # TextSplitter's abstract method: plain strings out (the offsets live in split_with_spans).
    def split_text(self, text: str) -> list[str]:
        return [text[s.start : s.end] for s, _ in self.split_with_spans(text, markdown=True)]

    def sections(self, text: str, markdown: bool) -> Iterator[tuple[Span, str]]:
        """(span, heading path) per section; headings only count in Markdown (and HTML, whose loader
        writes its h1-h6 as Markdown headings)."""
        if not markdown:
            yield Span(0, len(text)), ""
            return
        path: list[tuple[int, str]] = []
        pos, heading = 0, ""
        for m in _HEADING.finditer(text):
            if m.start() > pos:
                yield Span(pos, m.start()), heading
            level = len(m.group(1))
            path = [(lv, t) for lv, t in path if lv < level] + [(level, m.group(2).strip())]
            heading = " > ".join(t for _, t in path)
            pos = m.start()
        yield Span(pos, len(text)), heading

    def _pieces(self, text: str, section: Span) -> list[Span]:
        pieces: list[Span] = []
        pos = section.start
        bounds = [(m.start(), m.end()) for m in _PARAGRAPH_BREAK.finditer(text, section.start, section.end)]
        for a, b in [*bounds, (section.end, section.end)]:
            para = _strip(text, Span(pos, a))
            pos = b
            if para is None:
                continue
            if para.end - para.start <= self._chunk_size:
                pieces.append(para)
                continue
            for sent in sentence_spans(text, para.start, para.end):
                if sent.end - sent.start <= self._chunk_size:
                    pieces.append(sent)
                else:
                    pieces.extend(_hard_cut(text, sent, self._chunk_size))
        return pieces

    def split_with_spans(self, text: str, markdown: bool) -> list[tuple[Span, str]]:
        """Chunks as (span in ``text``, heading path)."""
        chunks: list[tuple[Span, str]] = []
        for section, heading in self.sections(text, markdown):
            body = text[section.start : section.end]
            if markdown and _HEADING.fullmatch(body.strip()):
                continue  # a heading with nothing under it lives on in the next section's heading path
            pieces = self._pieces(text, section)
            current: list[Span] = []
            for piece in pieces:
                if current and piece.end - current[0].start > self._chunk_size:
                    chunks.append((Span(current[0].start, current[-1].end), heading))
                    current = self._overlap(current, piece)
                current.append(piece)
            if current:
                chunks.append((Span(current[0].start, current[-1].end), heading))
        return chunks

    def _overlap(self, previous: list[Span], nxt: Span) -> list[Span]:
        """Trailing pieces of the last chunk worth repeating (whole pieces, within the overlap)."""
        kept: list[Span] = []
        for piece in reversed(previous):
            if (
                previous[-1].end - piece.start > self._chunk_overlap
                or nxt.end - piece.start > self._chunk_size
            ):
                break
            kept.insert(0, piece)
        return kept


def chunk_documents(docs: Iterable[Document], splitter: StructuredSplitter | None = None) -> list[Document]:
    """Split loaded documents into chunks with ``heading``, ``start_index``, ``end_index``, ``chunk``."""
    splitter = splitter or StructuredSplitter()
    out: list[Document] = []
    for doc in docs:
        text = doc.page_content
        markdown = doc.metadata.get("format") in {"markdown", "html"}
        for span, heading in splitter.split_with_spans(text, markdown):
            meta = dict(doc.metadata)
            meta.update(heading=heading, start_index=span.start, end_index=span.end, chunk=len(out))
            out.append(Document(page_content=text[span.start : span.end], metadata=meta))
    return out
