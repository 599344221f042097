"""Retrieval across languages, against a real embedded Chroma and the real e5 embeddings.

The gate and the fusion run with a translator written here (a plain function: what it returns is
the point of each test); the last test asks real Korean questions over the real English Debian FAQ
with lmgen's own translator (the packaged generalist, or the expert standing in for it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lmgen.chains.crosslingual import (
    clean_translation,
    hits_language,
    language,
    search_across_languages,
)
from lmgen.chains.rag_eval import TRANSLATED_MODE, QAItem, evaluate_retrieval
from lmgen.errors import InputError, ProvisionError
from lmgen.stores.knowledge import Hit, KnowledgeBase
from tests.rag_data import HERON_EN, KIMCHI_KO, VOLCANO_TXT

HANBOK_KO = """# 한복

## 구성

한복은 저고리와 치마, 또는 저고리와 바지로 이루어진 한국의 전통 옷이다. 명절이나 결혼식 같은 날에 입는다.

## 손질

한복은 손빨래하거나 드라이클리닝을 맡기고, 그늘에서 말린 뒤 접어서 보관한다.
"""
ONDOL_KO = """# 온돌

온돌은 아궁이에서 불을 때어 구들장을 데우는 한국의 바닥 난방이다. 지금은 보일러가 바닥 아래 관으로 뜨거운 물을
돌린다.
"""
TIDES_EN = """# Tides

Tides are the regular rise and fall of the sea caused by the Moon's gravity. Most coasts see two high
tides and two low tides every day.
"""

HERON_QUESTION = "왜가리는 어디에 둥지를 트나요?"
HERON_ENGLISH = "Where do grey herons build their nests?"


def _folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def english_kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KnowledgeBase:
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LMGEN_CHROMA_URL", raising=False)
    docs = _folder(
        tmp_path / "en", {"herons.md": HERON_EN, "volcanoes.txt": VOLCANO_TXT, "tides.md": TIDES_EN}
    )
    kb = KnowledgeBase(path=tmp_path / "en-store")
    assert kb.ingest([docs], progress=False).failed == []
    return kb


@pytest.fixture
def korean_kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KnowledgeBase:
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LMGEN_CHROMA_URL", raising=False)
    docs = _folder(tmp_path / "ko", {"kimchi.md": KIMCHI_KO, "hanbok.md": HANBOK_KO, "ondol.md": ONDOL_KO})
    kb = KnowledgeBase(path=tmp_path / "ko-store")
    assert kb.ingest([docs], progress=False).failed == []
    return kb


class Recorder:
    """A translator that answers from a table and records every call."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def __call__(self, text: str, target: str) -> str:
        self.calls.append((text, target))
        return self.answers.get(text, "")


def test_language_of_questions_and_hits(korean_kb: KnowledgeBase) -> None:
    assert language("김치는 어떻게 보관하나요?") == "ko"
    assert language("apt-get install 명령은 무엇을 하나요?") == "ko"  # commands inside Korean
    assert language("What does apt-get install do?") == "en"
    assert language("12345") == "en"
    assert hits_language([]) is None
    assert hits_language(korean_kb.search("김치", k=3)) == "ko"


def test_clean_translation_keeps_one_question() -> None:
    assert clean_translation('Translation: "Where do herons nest?"\nThey nest in trees.', "왜가리") == (
        "Where do herons nest?"
    )
    assert clean_translation("  \n ", "왜가리") == ""
    assert clean_translation("왜가리", "왜가리") == ""  # echoed back: no translation
    assert clean_translation("x" * 500, "짧다") == ""  # a rambling answer, not a translation


def test_variants_are_searched_and_fused(english_kb: KnowledgeBase) -> None:
    # BM25 cannot match Korean words against English text; the English wording finds the chunk
    plain = english_kb.search(HERON_QUESTION, k=3, mode="bm25")
    assert not any("heronries" in h.text for h in plain)
    fused = english_kb.search(HERON_QUESTION, k=3, mode="bm25", variants=[HERON_ENGLISH])
    assert "heronries" in fused[0].text and fused[0].bm25_score is not None
    # hybrid: dense and BM25 rankings of both wordings fused; the best dense score is kept
    hybrid = english_kb.search(HERON_QUESTION, k=3, variants=[HERON_ENGLISH])
    alone = english_kb.search(HERON_ENGLISH, k=3, mode="dense")
    assert "heronries" in hybrid[0].text
    assert hybrid[0].dense_score is not None and alone[0].dense_score is not None
    assert hybrid[0].dense_score >= alone[0].dense_score - 1e-6
    # blank and repeated wordings add nothing
    same = english_kb.search(HERON_QUESTION, k=3, mode="bm25", variants=["  ", HERON_QUESTION])
    assert [h.id for h in same] == [h.id for h in plain]


def test_translates_only_when_the_hits_are_in_the_other_language(
    english_kb: KnowledgeBase, korean_kb: KnowledgeBase
) -> None:
    translator = Recorder({HERON_QUESTION: HERON_ENGLISH})
    # Korean question, Korean documents: searched as asked, no model call
    hits, info = search_across_languages(korean_kb, "김치는 어떻게 보관하나요?", translator, k=3)
    assert translator.calls == [] and info.translated == "" and info.hits_language == "ko"
    assert "김치냉장고" in hits[0].text and len(hits) == 3
    # Korean question, English documents: translated into English and both wordings searched
    hits, info = search_across_languages(english_kb, HERON_QUESTION, translator, k=2)
    assert translator.calls == [(HERON_QUESTION, "en")]
    assert info.translated == HERON_ENGLISH and info.to_json()["hits_language"] == "en"
    assert "heronries" in hits[0].text and len(hits) == 2
    # no translator, or keyword search that found nothing to judge the language by: plain search
    plain, info = search_across_languages(english_kb, HERON_QUESTION, None, k=2)
    assert info.translated == "" and [h.id for h in plain] == [
        h.id for h in english_kb.search(HERON_QUESTION, k=2)
    ]
    nothing, info = search_across_languages(english_kb, HERON_QUESTION, translator, k=2, mode="bm25")
    assert nothing == [] and info.hits_language is None and len(translator.calls) == 1


def test_a_failing_translator_leaves_the_plain_hits(english_kb: KnowledgeBase) -> None:
    def down(text: str, target: str) -> str:
        raise ConnectionError("generalist at http://127.0.0.1:9 refused the connection")

    hits, info = search_across_languages(english_kb, HERON_QUESTION, down, k=3)
    assert info.problem.startswith("ConnectionError: generalist") and info.translated == ""
    assert [h.id for h in hits] == [h.id for h in english_kb.search(HERON_QUESTION, k=3)]
    assert "problem" in info.to_json()
    for bad_k in (0, 1000):
        with pytest.raises(InputError):
            search_across_languages(english_kb, HERON_QUESTION, down, k=bad_k)
    with pytest.raises(InputError):
        search_across_languages(english_kb, "   ", down)


def test_evaluation_reports_the_translated_row(english_kb: KnowledgeBase, tmp_path: Path) -> None:
    source = (tmp_path / "en" / "herons.md").resolve()
    items = [
        QAItem(HERON_QUESTION, source, ("Nesting",), "ko"),
        QAItem("What do herons eat?", source, ("Feeding",), "en"),
    ]
    translator = Recorder({HERON_QUESTION: HERON_ENGLISH})
    modes = evaluate_retrieval(english_kb, items, modes=("bm25",), translator=translator)["modes"]
    assert set(modes) == {"bm25", TRANSLATED_MODE}
    assert modes[TRANSLATED_MODE]["translated"] == 1 and translator.calls == [(HERON_QUESTION, "en")]
    assert modes[TRANSLATED_MODE]["ko"]["recall@1"] == 1.0
    assert modes["bm25"]["ko"]["recall@5"] == 0.0  # keywords alone cannot cross the language
    assert modes[TRANSLATED_MODE]["latency_ms_p95"] >= modes[TRANSLATED_MODE]["latency_ms_p50"]


@pytest.fixture(scope="session")
def debian_docs() -> Path:
    """The English Debian FAQ and Reference (apt-get download, once, into the user's corpora folder)."""
    from lmgen.stores.corpora import prepare_debian_docs

    try:
        return prepare_debian_docs()
    except ProvisionError as exc:
        pytest.skip(f"Debian's English documentation is not available here: {exc}")


@pytest.mark.llm
def test_a_korean_question_finds_its_english_chunk(home: Path, debian_docs: Path, tmp_path: Path) -> None:
    from lmgen.agent.context import Context
    from lmgen.agent.models import query_translator

    files = [debian_docs / "faq" / f"{name}.en.html" for name in ("choosing", "ftparchives", "pkgtools")]
    kb = KnowledgeBase(path=tmp_path / "debian-store")
    assert kb.ingest(files, progress=False).failed == []
    # the private home holds no generalist: the expert translates, as it does when the generalist is down
    translator = query_translator(Context())
    cases = {
        # plain search misses these; the answer is only in English
        "나만의 apt 저장소를 직접 만들려면 어떻게 해야 하나요?": (
            "ftparchives.en.html",
            "6.12. How do I set up my own apt-able repository?",
        ),
        "어떤 파일이 어느 패키지에서 설치됐는지 알아내려면?": (
            "pkgtools.en.html",
            "8.5. How can I find out what package produced a particular file?",
        ),
    }
    for question, (name, heading) in cases.items():

        def rank(hits: list[Hit]) -> int | None:
            found = [h.source.endswith(name) and h.heading.endswith(heading) for h in hits]  # noqa: B023
            return found.index(True) + 1 if True in found else None

        plain = rank(kb.search(question, k=5))
        hits, info = search_across_languages(kb, question, translator, k=5)
        assert info.query_language == "ko" and info.hits_language == "en" and info.translated, question
        assert language(info.translated) == "en" and info.problem == ""
        found = rank(hits)
        assert found is not None and found <= 2, (question, info.translated, [h.heading for h in hits])
        assert plain is None or plain > found, (question, plain, found)
