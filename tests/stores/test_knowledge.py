"""Ingestion, chunking and retrieval against a real embedded Chroma and the real e5 embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmgen.errors import InputError
from lmgen.stores.bm25 import terms
from lmgen.stores.documents import (
    StructuredSplitter,
    UnreadableFile,
    html_text,
    load_file,
    sentence_spans,
)
from lmgen.stores.knowledge import KnowledgeBase, rrf
from tests.rag_data import HERON_EN, pdf_bytes, write_corpus


@pytest.fixture
def kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KnowledgeBase:
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LMGEN_CHROMA_URL", raising=False)
    return KnowledgeBase()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs")


# --------------------------------------------------------------------------- splitting
def test_chunks_follow_headings_and_keep_exact_offsets() -> None:
    splitter = StructuredSplitter(chunk_size=200, chunk_overlap=60)
    chunks = splitter.split_with_spans(HERON_EN, markdown=True)
    headings = [h for _, h in chunks]
    assert "Herons > Feeding" in headings and "Herons > Nesting" in headings
    for span, heading in chunks:
        text = HERON_EN[span.start : span.end]
        assert len(text) <= 200 and text == text.strip() and text
        # a chunk never straddles two sections
        assert text.count("## ") <= 1
        if "heronries" in text:
            assert heading.endswith("Nesting")


def test_long_korean_paragraph_splits_on_sentences_with_overlap() -> None:
    sentences = [f"{i}번째 문장에서 배추를 소금에 절인 뒤 양념을 바른다" for i in range(12)]
    text = " ".join(s + "." for s in sentences)
    chunks = StructuredSplitter(chunk_size=120, chunk_overlap=40).split_with_spans(text, markdown=False)
    assert len(chunks) > 3
    pieces = [text[s.start : s.end] for s, _ in chunks]
    assert all(len(p) <= 120 and p.endswith(".") for p in pieces)  # cut between sentences
    # consecutive chunks share whole sentences (the overlap)
    assert any(pieces[i].split(". ")[-1] in pieces[i + 1] for i in range(len(pieces) - 1))


def test_kiwi_splits_korean_sentences_without_punctuation() -> None:
    text = "VAE는 잠재 공간을 정규화한다 그래서 샘플이 흐릿하다. GAN은 선명하다."
    spans = sentence_spans(text, 0, len(text))
    assert len(spans) >= 2 and text[spans[-1].start : spans[-1].end] == "GAN은 선명하다."


def test_bad_splitter_settings() -> None:
    with pytest.raises(InputError):
        StructuredSplitter(chunk_size=10)
    with pytest.raises(InputError):
        StructuredSplitter(chunk_size=200, chunk_overlap=150)


def test_bm25_terms_drop_korean_particles_and_english_function_words() -> None:
    assert "vae" in terms("VAE와 GAN의 차이는?") and "차이" in terms("VAE와 GAN의 차이는?")
    assert "와" not in terms("VAE와 GAN") and "의" not in terms("GAN의")
    assert terms("What is the perplexity of models?") == ["perplexity", "model"]


# --------------------------------------------------------------------------- loading
def test_loaders_read_every_kind(corpus: Path) -> None:
    pdf = load_file(corpus / "comets.pdf")
    assert [d.metadata["page"] for d in pdf] == [1, 2] and "Halley" in pdf[1].page_content
    html = load_file(corpus / "library.html")[0]
    assert html.metadata["title"] == "City library"
    assert "twelve books" in html.page_content
    docx = load_file(corpus / "tea.docx")[0]
    assert "pan-fired" in docx.page_content
    assert load_file(corpus / "kimchi.md")[0].metadata["title"] == "김치"


def test_html_headings_become_the_chunk_heading(kb: KnowledgeBase, corpus: Path) -> None:
    manual = (
        "<html><head><title>Manual</title><style>p {}</style></head><body><nav>Prev | Next</nav>"
        "<h1>Debian FAQ</h1><h2>1.1 What is <code>apt</code>?</h2><p>A package manager.</p>"
        "<h2>1.2 Where are logs?</h2><p>Under /var/log.</p><script>x()</script></body></html>"
    )
    text, title = html_text(manual)
    assert title == "Manual" and "Prev" not in text and "x()" not in text and "p {}" not in text
    assert "# Debian FAQ" in text and "## 1.1 What is apt?" in text
    (corpus / "faq.html").write_text(manual, encoding="utf-8")
    kb.ingest([corpus], progress=False)
    hit = kb.search("Where are the log files kept?", k=1, source=str(corpus / "faq.html"))[0]
    assert hit.heading == "Debian FAQ > 1.2 Where are logs?" and "/var/log" in hit.text
    library = kb.search("When does the city library open?", k=1)[0]
    assert library.source.endswith("library.html") and library.heading == "City library"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blob.txt", bytes(range(256)) * 4, "binary"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "cannot be read"),
        ("photo.jpg", b"\xff\xd8\xff\xe0", "unsupported"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "cannot be read"),
        ("blank.md", b"   \n\n  ", "no text"),
    ],
)
def test_unreadable_files_raise_a_typed_error(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableFile, match=reason):
        load_file(path)


# --------------------------------------------------------------------------- ingestion
def test_ingest_search_reingest_edit_remove(kb: KnowledgeBase, corpus: Path) -> None:
    first = kb.ingest([corpus], progress=False)
    assert first.failed == [] and first.files == 6 and first.added == kb.count() > 6

    # English and Korean questions find the right chunk (dense, BM25 and hybrid)
    for mode in ("dense", "bm25", "hybrid"):
        top = kb.search("Where do grey herons build their nests?", k=3, mode=mode)[0]
        assert top.source.endswith("herons.md") and "heronries" in top.text, mode
        top = kb.search("김치는 어떻게 보관하나요?", k=3, mode=mode)[0]
        assert top.source.endswith("kimchi.md") and "김치냉장고" in top.text, mode
    pdf_hit = kb.search("How often does Halley's comet come back?", k=1)[0]
    assert pdf_hit.page == 2 and pdf_hit.source.endswith("comets.pdf")
    hit = kb.search("grey heron feeding", k=1)[0]
    assert HERON_EN[hit.start_index : hit.end_index] == hit.text  # offsets point into the file

    # re-ingesting changes nothing
    again = kb.ingest([corpus], progress=False)
    assert (again.added, again.removed, again.skipped) == (0, 0, first.added)

    # editing a file replaces its stale chunks only
    heron = corpus / "herons.md"
    heron.write_text(HERON_EN.replace("colonies called heronries", "noisy colonies"), encoding="utf-8")
    edited = kb.ingest([corpus], progress=False)
    assert edited.added >= 1 and edited.removed >= 1 and edited.skipped > 0
    texts = [h.text for h in kb.search("heronries", k=10, source=str(heron))]
    assert texts and not any("heronries" in t for t in texts)
    assert kb.sources()[str(heron.resolve())] == len(
        kb.collection.get(where={"source": str(heron.resolve())})["ids"]
    )

    # remove a file, then a folder
    before = kb.count()
    removed = kb.remove(heron)
    assert removed > 0 and kb.count() == before - removed
    assert all(not h.source.endswith("herons.md") for h in kb.search("heron nests", k=10))
    assert kb.remove(corpus / "sub") > 0
    assert not any(s.endswith("volcanoes.txt") for s in kb.sources())


def test_broken_files_are_reported_and_the_rest_ingests(kb: KnowledgeBase, corpus: Path) -> None:
    (corpus / "corrupt.pdf").write_bytes(pdf_bytes(["fine"])[:60])
    (corpus / "data.txt").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (corpus / "notes.bin").write_bytes(b"\x00" * 10)
    report = kb.ingest([corpus, corpus / "missing.md"], progress=False)
    failed = {Path(f["source"]).name: f["error"] for f in report.failed}
    assert set(failed) == {"corrupt.pdf", "data.txt", "notes.bin", "missing.md"}
    assert "binary" in failed["data.txt"] and "unsupported" in failed["notes.bin"]
    assert report.files == 6 and kb.search("grey heron", k=1)[0].source.endswith("herons.md")


def test_filters_mmr_and_bad_queries(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus], progress=False)
    in_sub = kb.search("lava", k=5, folder=str(corpus / "sub"))
    assert in_sub and all("/sub/" in h.source for h in in_sub)
    only = kb.search("lava", k=5, source=str(corpus / "herons.md"), mode="dense")
    assert all(h.source.endswith("herons.md") for h in only)
    diverse = kb.search("heron", k=3, mmr=True)
    assert len({h.id for h in diverse}) == len(diverse) == 3
    assert kb.search("zzzzqqq", k=3, mode="bm25") == []
    for bad in ("", "   ", "x" * 5000):
        with pytest.raises(InputError):
            kb.search(bad)
    with pytest.raises(InputError):
        kb.search("heron", k=0)
    with pytest.raises(InputError):
        kb.search("heron", mode="fuzzy")  # type: ignore[arg-type]


def test_empty_store_returns_nothing(kb: KnowledgeBase) -> None:
    assert kb.search("anything at all") == [] and kb.count() == 0


def test_reciprocal_rank_fusion() -> None:
    fused = rrf([[("a", 0.9), ("b", 0.8)], [("b", 12.0), ("c", 3.0)]])
    assert [i for i, _ in fused] == ["b", "a", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_collections_are_per_embedding_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: Path
) -> None:
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    e5 = KnowledgeBase("e5")
    minilm = KnowledgeBase("minilm")
    assert e5.name != minilm.name
    minilm.ingest([corpus / "herons.md"], progress=False)
    assert e5.count() == 0 and minilm.count() > 0
    assert minilm.collection.metadata["embedding_model"].endswith("all_minilm_l6_v2/model")
    assert minilm.search("Where do herons nest?", k=1, mode="dense")[0].text.count("heronries") == 1
