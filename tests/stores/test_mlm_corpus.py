"""The document-structured corpus for BERT pre-training: deduplication, held-out hygiene, reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmgen.errors import InputError
from lmgen.stores.mlm import Document, deduplicate, read_documents, read_domains, write_documents


def test_dedup_keeps_first_occurrence_and_cleans_the_held_out_split() -> None:
    train = [
        Document("a", "en", ["To be, or not.", "Menu bar.", "to be,  or NOT."]),
        Document("b", "ko", ["메뉴를 선택합니다.", "Menu bar."]),
        Document("c", "ko", ["Menu bar."]),
    ]
    test = [Document("t", "ko", ["메뉴를 선택합니다.", "새 문장입니다."])]
    kept_train, kept_test = deduplicate(train, test)
    assert [d.sentences for d in kept_train] == [["To be, or not.", "Menu bar."], ["메뉴를 선택합니다."]]
    assert [d.sentences for d in kept_test] == [["새 문장입니다."]], "held-out never repeats training text"


def test_round_trip_and_bad_files(tmp_path: Path) -> None:
    docs = [Document("a", "en", ["One.", "Two."], "numbers"), Document("b", "ko", ["셋."], "numbers-ko")]
    path = tmp_path / "docs.txt"
    write_documents(path, docs)
    assert read_documents(path) == [["One.", "Two."], ["셋."]]
    assert read_domains(path, 2) == ["numbers", "numbers-ko"]
    with pytest.raises(InputError, match="2 domains for 3 documents"):
        read_domains(path, 3)
    write_documents(path, [Document("a", "en", ["One."])])  # rewritten without domains
    assert not (tmp_path / "docs.domains").exists(), "no stale domains for other documents"
    write_documents(tmp_path / "plain.txt", [Document("a", "en", ["One."])])
    assert not (tmp_path / "plain.domains").exists(), "no domains file without a domain for each"
    with pytest.raises(InputError, match=r"no plain\.domains"):
        read_domains(tmp_path / "plain.txt", 1)
    with pytest.raises(InputError, match="not found"):
        read_documents(tmp_path / "missing.txt")
    (tmp_path / "bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        read_documents(tmp_path / "bin")
    (tmp_path / "latin").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        read_documents(tmp_path / "latin")
    (tmp_path / "empty").write_text("\n\n  \n")
    with pytest.raises(InputError, match="no text"):
        read_documents(tmp_path / "empty")


def test_prepared_corpus_is_document_structured() -> None:
    """The real corpus (built from the packaged sources on first use): both languages, held-out apart."""
    from lmgen.stores.mlm import mlm_corpus

    corpus = mlm_corpus()
    train, test = read_documents(corpus.train), read_documents(corpus.test)
    domains = read_domains(corpus.train, len(train))
    assert {"shakespeare", "wordnet", "dialogue-en", "dialogue-ko", "help-ko", "law-ko"} == set(domains)
    assert domains[next(i for i, d in enumerate(train) if "좋은 아침입니다." in d)] == "dialogue-ko"
    assert len(train) > 100 and len(test) > 10
    hangul = sum(any("\uac00" <= ch <= "\ud7a3" for ch in d[0]) for d in train)
    assert 0 < hangul < len(train), "both Korean and English documents"
    seen = {" ".join(s.lower().split()) for d in train for s in d}
    assert not any(" ".join(s.lower().split()) in seen for d in test for s in d)
    # everyday English from WordNet's usage examples, ten to a document
    examples = [d for d in train + test if "how big is that part compared to the whole?" in d]
    assert len(examples) == 1 and 2 <= len(examples[0]) <= 10
    # everyday Korean dialogue from chatterbot-corpus: a greeting followed by its answer
    greeting = [d for d in train if "좋은 아침입니다." in d]
    assert (
        len(greeting) == 1
        and greeting[0][greeting[0].index("좋은 아침입니다.") + 1] == "오늘의 기분은 어떠세요?"
    )


# The course's own examples and lmgen's everyday probes (masks and sentence pairs) test the model:
# none may be in the text it is trained on (the masked word replaced by any word).
COURSE_MLM = "나는 [MASK]에 가서 밥을 먹었다."
COURSE_NSP = ("나는 배가 고팠다.", "그래서 식당에 갔다.", "하늘은 파랗다.")


def test_course_examples_and_probes_are_not_in_the_training_text() -> None:
    import json
    import re

    from lmgen.stores.mlm import mlm_corpus

    text = " ".join(mlm_corpus().train.read_text("utf-8").split())
    probes = Path(__file__).parents[2] / "benchmarks" / "mlm_probes.jsonl"
    masked = [COURSE_MLM] + [
        json.loads(line)["text"] for line in probes.read_text("utf-8").splitlines() if line
    ]
    assert len(masked) > 40
    for example in masked:
        pattern = re.escape(" ".join(example.split())).replace(re.escape("[MASK]"), r"\S+")
        assert not re.search(pattern, text), example
    pairs = Path(__file__).parents[2] / "benchmarks" / "nsp_probes.jsonl"
    sentences = list(COURSE_NSP) + [
        json.loads(line)[key]
        for line in pairs.read_text("utf-8").splitlines()
        if line
        for key in ("a", "next", "unrelated")
    ]
    assert len(sentences) == 3 + 40 * 3
    for sentence in sentences:
        assert sentence not in text, sentence
