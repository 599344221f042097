"""`lmgen fill-mask`, `lmgen nsp`, `lmgen mlm …` as a user runs them (JSON contract, errors, training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


def test_fill_mask_json_contract(tiny_bert: Path) -> None:
    done = run_cli(
        "fill-mask", "the [MASK] sat on the [MASK]", "--top-k", "3", "--model", str(tiny_bert), "--json"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data) == 2 and all(len(m) == 3 for m in data)
    assert all(set(c) == {"score", "token", "token_str", "sequence"} for m in data for c in m)


def test_the_course_examples_as_a_new_user_types_them() -> None:
    """No --model: the default BERT (built on multilingual-e5-small) wants a place in the course's
    MLM example; `--model scratch`, pre-trained on lmgen's small corpus alone, does not."""
    places = {"집", "식당", "학교", "회사", "카페"}
    for model, wanted in (((), True), (("--model", "scratch"), False)):
        done = run_cli("fill-mask", "나는 [MASK]에 가서 밥을 먹었다.", *model, "--json")
        assert done.returncode == 0, done.stderr
        top = [c["token_str"] for c in json.loads(done.stdout)[0]]
        assert bool(places & set(top)) == wanted, (model, top)
    done = run_cli("nsp", "나는 배가 고팠다.", "그래서 식당에 갔다.", "--json")
    assert done.returncode == 0 and 0.5 < json.loads(done.stdout)["is_next"] <= 1


def test_fill_mask_keeps_to_the_text_script_unless_told() -> None:
    """The e5 BERT's vocabulary mixes Korean and English: a Korean sentence gets Korean fills."""
    from lmgen.models.mlm.fill_mask import scripts_of

    args = ("fill-mask", "나는 [MASK]에 가서 밥을 먹었다.", "--model", "e5", "--top-k", "50", "--json")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert all(scripts_of(c["token_str"]) <= {"hangul"} for c in json.loads(done.stdout)[0])
    done = run_cli(*args, "--any-script")
    assert done.returncode == 0, done.stderr
    assert any("latin" in scripts_of(c["token_str"]) for c in json.loads(done.stdout)[0])


def test_fill_mask_targets_and_nsp(tiny_bert: Path) -> None:
    done = run_cli("fill-mask", "the [MASK] sat", "--targets", "cat,dog", "--model", str(tiny_bert), "--json")
    assert done.returncode == 0, done.stderr
    assert {c["token_str"] for c in json.loads(done.stdout)[0]} == {"cat", "dog"}
    done = run_cli("nsp", "the cat sat on the mat", "the dog sat", "--model", str(tiny_bert), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["label"] in {"IsNext", "NotNext"} and 0 <= data["is_next"] <= 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fill-mask", "no mask at all"], 2, "no [MASK]"),
        (["fill-mask", ""], 2, "empty"),
        (["fill-mask", "a [MASK]", "--top-k", "0"], 2, "top_k"),
        (["fill-mask", "a [MASK]", "--model", "/no/such/checkpoint"], 3, "no checkpoint folder"),
        (["fill-mask", "a [MASK]", "--model", "bert-base-uncased"], 3, "offline"),
        (["nsp", "", "b"], 2, "empty"),
    ],
)
def test_bad_input_is_one_line(tiny_bert: Path, args: list[str], code: int, message: str) -> None:
    if "--model" not in args:
        args = [*args, "--model", str(tiny_bert)]
    done = run_cli(*args, "--json")
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_truncation_is_reported(tiny_bert: Path) -> None:
    done = run_cli(
        "fill-mask", "the cat sat on the mat " * 30 + "the [MASK]", "--model", str(tiny_bert), "--json"
    )
    assert done.returncode == 0
    assert len(json.loads(done.stdout)) == 1
    assert "note:" in done.stderr and "kept tokens" in done.stderr


def test_train_resume_and_eval(tmp_path: Path) -> None:
    """A tiny run through the CLI: train 2 steps, resume to 4, evaluate on held-out documents."""
    from tests.mlm_data import DOCS

    corpus = tmp_path / "docs.txt"
    corpus.write_text("\n\n".join("\n".join(d) for d in DOCS) + "\n")
    out = tmp_path / "bert"
    common = ["--hidden", "32", "--layers", "1", "--heads", "2", "--intermediate", "64", "--max-length", "32"]
    first = run_cli(
        "mlm",
        "train",
        "--out",
        str(out),
        "--corpus",
        str(corpus),
        "--steps",
        "4",
        "--batch-size",
        "4",
        "--vocab-size",
        "300",
        *common,
        "--json",
    )
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["steps"] == 4 and data["device"] == "cpu" and "pre-train" in first.stderr
    again = run_cli("mlm", "train", "--out", str(out), "--corpus", str(corpus), "--resume", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["steps"] == 4  # already done: nothing to add
    ev = run_cli(
        "mlm", "eval", "--model", str(out), "--corpus", str(corpus), "--pairs", "16", "--write", "--json"
    )
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)
    assert {"mlm_top1", "mlm_top5", "nsp_accuracy", "baseline_top1", "by_language"} <= set(metrics)
    assert json.loads((out / "metrics.json").read_text()) == metrics
    bad = run_cli("mlm", "train", "--out", str(tmp_path / "x"), "--corpus", str(tmp_path / "none.txt"))
    assert bad.returncode == 2 and "not found" in bad.stderr
    # hard negatives from the same domain need the corpus's .domains file (one line per document)
    by_domain = ["train", "--corpus", str(corpus), "--hard-negatives", "1", "--negatives-from", "domain"]
    tiny = ["--steps", "1", "--batch-size", "4", "--vocab-size", "300", *common, "--json"]
    missing = run_cli("mlm", *by_domain, "--out", str(tmp_path / "d"), *tiny)
    assert missing.returncode == 2 and "docs.domains" in missing.stderr, missing.stderr
    (tmp_path / "docs.domains").write_text("".join(f"domain-{i % 2}\n" for i in range(len(DOCS))))
    ran = run_cli("mlm", *by_domain, "--out", str(tmp_path / "d"), *tiny)
    assert ran.returncode == 0, ran.stderr
    state = json.loads((tmp_path / "d" / "training_state.json").read_text())
    assert state["config"]["negatives_from"] == "domain"
    # a domain drawn more often for A: named from the .domains file, kept in the run's settings
    weights = ["train", "--corpus", str(corpus), "--domain-weight"]
    mix = ["domain-1=4", "--same-language", "--same-document", "0.25", "--nsp-weight", "2.5"]
    weighted = run_cli("mlm", *weights, *mix, "--out", str(tmp_path / "w"), *tiny)
    assert weighted.returncode == 0, weighted.stderr
    state = json.loads((tmp_path / "w" / "training_state.json").read_text())
    assert state["config"]["domain_weights"] == {"domain-1": 4.0} and state["config"]["same_language"]
    assert state["config"]["same_document"] == 0.25 and state["config"]["nsp_weight"] == 2.5
    for weight, message in (("domain-1", "DOMAIN=NUMBER"), ("news=2", "no document has the domain news")):
        refused = run_cli("mlm", *weights, weight, "--out", str(tmp_path / "n"), *tiny)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    # with the .domains file beside the held-out corpus, eval splits NSP by A's domain and label
    ev = run_cli("mlm", "eval", "--model", str(out), "--corpus", str(corpus), "--pairs", "16", "--json")
    assert ev.returncode == 0, ev.stderr
    for result in json.loads(ev.stdout)["by_language"].values():
        cells = [c for labels in result["nsp_by_domain"].values() for c in labels.values()]
        assert set(result["nsp_by_domain"]) <= {"domain-0", "domain-1"}
        assert sum(c["pairs"] for c in cells) == result["pairs"]
        right = sum(c["accuracy"] * c["pairs"] for c in cells)
        assert abs(right - result["nsp_accuracy"] * result["pairs"]) < 0.01
        # no cut-off of the head's P(IsNext) does worse than 0.5 on the very pairs it was chosen on
        sep = result["nsp_separation"]
        assert 0.0 <= sep["auc"] <= 1.0 and sep["oracle_accuracy"] >= result["nsp_accuracy"]
    text = run_cli("mlm", "eval", "--model", str(out), "--corpus", str(corpus), "--pairs", "16")
    assert text.returncode == 0 and "nsp en domain-" in text.stdout, text.stdout
    assert "AUC" in text.stdout and "with any one cut-off" in text.stdout, text.stdout


@pytest.mark.llm
def test_compare_with_the_left_to_right_model(base_path: Path) -> None:
    done = run_cli("fill-mask", "what is your [MASK], sir?", "--compare", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["bert"]) == 1 and len(data["bert"][0]) == 5
    gpt = data["gpt"]
    assert gpt["prefix"] == "what is your" and gpt["right_context_ignored"] == ", sir?"
    assert len(gpt["candidates"]) == 5 and gpt["model"].startswith("gemma")
    probs = [c["prob"] for c in gpt["candidates"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert any(c["token"].strip().lower() == "name" for c in gpt["candidates"])
