"""`lmgen ngram …` and `lmgen ppl` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

PPL_KEYS = {"ppl", "ppl_excl_oov", "log10_prob", "tokens", "oov", "sentences"}


def ok(*args: str) -> dict:
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def one_line_error(out, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert out.returncode != 0 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], out.stderr


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat .\nthe dog sat on the log .\na cat saw a dog .\n" * 5)
    return path


def test_train_then_score_with_arpa(corpus: Path, tmp_path: Path) -> None:
    model, arpa = tmp_path / "m.npz", tmp_path / "m.arpa"
    info = ok(
        "ngram",
        "train",
        str(corpus),
        "--order",
        "3",
        "--smoothing",
        "kneser-ney",
        "--out",
        str(model),
        "--arpa",
        str(arpa),
        "--json",
    )
    assert {"order", "smoothing", "tokens", "vocab", "ngrams", "seconds"} <= set(info)
    assert info["order"] == 3 and info["tokens"] == 5 * (7 + 7 + 6) + 15  # words + one </s> per sentence
    from_npz = ok("ppl", "the cat sat on the log .", "--model", str(model), "--json")
    from_arpa = ok("ppl", "the cat sat on the log .", "--model", str(arpa), "--json")
    assert set(from_npz) >= PPL_KEYS
    assert from_npz["log10_prob"] == pytest.approx(from_arpa["log10_prob"], abs=1e-5)


def test_ppl_per_token_and_file(corpus: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.npz"
    ok(
        "ngram",
        "train",
        str(corpus),
        "--order",
        "2",
        "--smoothing",
        "witten-bell",
        "--out",
        str(model),
        "--tokenizer",
        "whitespace",
        "--json",
    )
    data = ok("ppl", "the cat sat", "a zebra sat", "--model", str(model), "--per-token", "--json")
    assert data["sentences"] == 2 and data["oov"] == 1
    first = data["per_token"][0]
    assert [t["token"] for t in first] == ["the", "cat", "sat", "</s>"]
    assert {"token", "log10_prob", "order", "backoff", "oov"} <= set(first[0])
    lines = tmp_path / "lines.txt"
    lines.write_text("the cat sat\n\na zebra sat\n")
    assert ok("ppl", "--file", str(lines), "--model", str(model), "--json")["log10_prob"] == pytest.approx(
        data["log10_prob"]
    )


def test_mle_infinite_perplexity_is_valid_json(corpus: Path, tmp_path: Path) -> None:
    model = tmp_path / "mle.npz"
    ok("ngram", "train", str(corpus), "--smoothing", "mle", "--out", str(model), "--json")
    data = ok("ppl", "the mat sat on a cat .", "--model", str(model), "--json")
    assert data["ppl"] == "inf" and data["zero_prob"] > 0 and data["notes"]


def test_default_models_english_and_korean() -> None:
    en = ok("ppl", "To be, or not to be, that is the question.", "--json")
    scrambled = ok("ppl", "question the is that be, to not or be, To.", "--json")
    assert en["ppl"] < scrambled["ppl"]
    ko = ok("ppl", "파일을 저장하려면 메뉴를 선택하십시오.", "--per-token", "--json")
    assert ko["tokens"] > 5 and "/" in ko["per_token"][0][0]["token"]  # Kiwi morphemes form/TAG
    sample = ok("ngram", "generate", "-n", "2", "--seed", "3", "--json")
    assert len(sample["sentences"]) == 2 and all(sample["sentences"])


@pytest.mark.llm
def test_compare_with_neural_perplexity() -> None:
    data = ok("ppl", "The king is dead. Long live the king.", "--compare", "--json")
    neural = data["neural"]
    assert (
        neural["model"].startswith("gemma-3-270m") and neural["ppl"] > 1 and "units differ" in neural["note"]
    )


def test_bad_input(tmp_path: Path, corpus: Path) -> None:
    one_line_error(run_cli("ppl", "--json"), "no text to score")
    one_line_error(run_cli("ppl", "   ", "--json"), "no text to score")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01\x02 binary \x00")
    one_line_error(
        run_cli("ngram", "train", str(binary), "--out", str(tmp_path / "x.npz"), "--json"), "binary"
    )
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café au lait\n".encode("latin-1"))
    one_line_error(
        run_cli("ngram", "train", str(latin1), "--out", str(tmp_path / "x.npz"), "--json"), "UTF-8"
    )
    for order in ("0", "99"):
        out = run_cli(
            "ngram", "train", str(corpus), "--order", order, "--out", str(tmp_path / "x.npz"), "--json"
        )
        one_line_error(out, "order must be between 1 and 6")
    one_line_error(
        run_cli("ngram", "train", str(tmp_path / "none.txt"), "--out", str(tmp_path / "x.npz")), "not found"
    )
    one_line_error(run_cli("ppl", "hello", "--model", str(tmp_path / "none.npz"), "--json"), "not found")
    model = tmp_path / "m.npz"
    ok("ngram", "train", str(corpus), "--out", str(model), "--json")
    one_line_error(
        run_cli("ppl", "zebra giraffe", "--model", str(model), "--json"), "outside the model's vocabulary"
    )
    one_line_error(
        run_cli("ngram", "train", str(corpus), "--smoothing", "good-turing", "--out", str(model)),
        "unknown smoothing",
    )
