"""The compression lab on the real shipped models: GGUF types, int8, pruning, distillation, the report."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
import torch

from lmgen.errors import InputError, ModelFileError
from lmgen.models.compress import prune, quantize
from lmgen.models.compress.distill import (
    StudentConfig,
    TrainConfig,
    count_parameters,
    make_student,
    train_mlm,
)
from lmgen.models.compress.gguf import answer_check, check_type, measure_gguf, requantize
from lmgen.models.compress.report import SHIPPED_REPORT, BertBench, _bert_row, build_report, latest_report
from lmgen.models.mlm.bert import COMPRESSED_BERT, LoadedBert, load_bert
from tests.conftest import run_cli

# masks the scratch BERT fills with a clear favourite (top-1 ≥ 1.25 × the runner-up); where two
# candidates are within a fraction of a percent ("How now, my [MASK]?": lord 0.059, what 0.057),
# int8 rounding may swap them, which the held-out agreement figure counts
EASY_MASKS = [
    "Farewell, my [MASK].",
    "I pray [MASK], sir.",
    "Good [MASK], my lord.",
    "What is your [MASK]?",
    "파일을 [MASK]합니다.",
]


@pytest.fixture(scope="module")
def bert() -> LoadedBert:
    return load_bert(COMPRESSED_BERT)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[list[str]], list[list[str]]]:
    from lmgen.stores.mlm import mlm_corpus, read_documents

    c = mlm_corpus()
    return read_documents(c.train), read_documents(c.test)


# --------------------------------------------------------------------------- GGUF
@pytest.mark.llm
def test_requantized_gguf_loads_answers_and_is_measured(expert_path: Path, tmp_path: Path) -> None:
    made = requantize(expert_path, "q4_0", tmp_path / "expert-q4_0.gguf")
    assert made["type"] == "Q4_0" and made["bytes"] < made["source_bytes"]
    assert "paris" in answer_check(made["out"]).lower()
    row = measure_gguf(made["out"], repeats=1, gen_tokens=8)
    assert row["bytes"] == made["bytes"]
    assert row["prompt_tokens_per_s"] > 0 and row["gen_tokens_per_s"] > 0
    for lang in ("en", "ko"):
        assert 1 < row[f"ppl_{lang}"] < 1000 and math.isfinite(row[f"ppl_{lang}"])


def test_gguf_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown GGUF quantization type"):
        check_type("Q9_9")
    with pytest.raises(ModelFileError, match="no GGUF file"):
        requantize(tmp_path / "missing.gguf", "Q4_0", tmp_path / "out.gguf")
    (tmp_path / "fake.gguf").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        requantize(tmp_path / "fake.gguf", "Q4_0", tmp_path / "out.gguf")


# --------------------------------------------------------------------------- int8
def test_int8_bert_keeps_the_top1_fill_and_shrinks(bert: LoadedBert, corpus: tuple) -> None:
    q = quantize.quantize_bert(bert.model)
    tok = bert.tokenizer
    with quantize.engine(quantize.BERT_ENGINE), torch.inference_mode():
        for text in EASY_MASKS:
            enc = tok(text, return_tensors="pt")
            pos = enc["input_ids"][0].tolist().index(tok.mask_token_id)
            probs = bert.model(**enc).prediction_logits[0, pos].softmax(-1).topk(2)
            assert probs.values[0] >= 1.25 * probs.values[1], text  # still an easy mask for this checkpoint
            got = q(**enc).prediction_logits[0, pos].argmax()
            assert got == probs.indices[0], text
        bench = BertBench(bert, corpus[1], pairs=150)
        bench.quality(bert.model)
    row = _bert_row(bench, "int8", "quantize", q, bert.model, repeats=1, engine_name=quantize.BERT_ENGINE)
    assert row["quality"]["top1_agreement"] >= 0.9  # 0.929 on these 150 pairs (second-run checkpoint)
    assert row["latency_ms"] > 0 and row["fill_mask_ms"] > 0 and row["params"] > 0
    assert quantize.serialized_bytes(q) < 0.6 * quantize.serialized_bytes(bert.model)


def test_int8_generator_still_draws_digits() -> None:
    from lmgen.tools.images import load_generator

    gan = load_generator("gan")
    q = quantize.quantize_generator(gan.generator, gan.cfg.latent_dim)
    z = torch.randn(64, gan.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    with quantize.engine(quantize.GENERATOR_ENGINE), torch.inference_mode():
        diff = (q(z) - gan.generator.eval()(z)).abs().mean()
    assert diff < 0.05  # on a [-1, 1] pixel scale
    with pytest.raises(InputError, match="not available"), quantize.engine("no-such-engine"):
        pass


# --------------------------------------------------------------------------- pruning
@pytest.mark.parametrize("share", [0.0, 0.37, 0.5, 0.9])
def test_unstructured_pruning_is_exact(bert: LoadedBert, share: float) -> None:
    before = prune.sparsity_of(prune.bert_prunable(bert.model))["zeros"]  # float16 rounding left a few
    pruned = prune.prune_unstructured(bert.model, share)
    counted = prune.sparsity_of(prune.bert_prunable(pruned))
    assert counted["zeros"] == max(round(share * counted["total"]), before)
    assert prune.sparsity_of(prune.bert_prunable(bert.model))["zeros"] == before  # the original is untouched
    words = (pruned.bert.embeddings.word_embeddings.weight, bert.model.bert.embeddings.word_embeddings.weight)
    assert torch.equal(*words)  # embeddings are not pruned


def test_structured_pruning_shrinks_matrices(bert: LoadedBert) -> None:
    heads = prune.prune_heads(bert.model, 0.5)
    total = sum(len(v) for v in heads.lmgen_heads_removed.values())
    assert total == round(0.5 * 12)
    assert all(layer.attention.self.num_attention_heads >= 1 for layer in heads.bert.encoder.layer)
    ffn = prune.prune_ffn(bert.model, 0.25)
    assert all(layer.intermediate.dense.out_features == 576 for layer in ffn.bert.encoder.layer)
    ids = bert.tokenizer("I pray [MASK], sir.", return_tensors="pt")
    for model in (heads, ffn):
        assert model(**ids).prediction_logits.shape[-1] == len(bert.tokenizer)
        assert count_parameters(model) < count_parameters(bert.model)


def test_gan_channel_pruning_and_bad_sparsity() -> None:
    from lmgen.tools.images import load_generator

    g = load_generator("gan").generator
    small = prune.prune_gan_channels(g, 0.5)
    assert small.net[2].out_channels == g.net[2].out_channels // 2
    assert small(torch.randn(3, 64)).shape == (3, 1, 28, 28)
    for bad in (1.5, -0.1, 1.0):
        with pytest.raises(InputError, match="sparsity must be in"):
            prune.prune_unstructured(g, bad, params_of=prune.generator_prunable)


def test_channel_pruning_follows_a_deeper_generator() -> None:
    from lmgen.models.images.gan import GAN, GANConfig

    torch.manual_seed(0)
    g = GAN(GANConfig(channels=16, blocks=2)).generator.eval()
    z = torch.randn(4, 64)
    with torch.inference_mode():
        assert torch.equal(prune.prune_gan_channels(g, 0.0)(z), g(z))  # nothing removed: the same function
    small = prune.prune_gan_channels(g, 0.5)
    widths = [m.num_features for m in small.net if isinstance(m, torch.nn.BatchNorm2d)]
    assert widths == [16] * 3 + [8] * 3  # every hidden map halved: 2c at 7×7, c at 14×14
    assert small(z).shape == (4, 1, 28, 28)
    with pytest.raises(InputError, match="layout"):
        prune.prune_gan_channels(torch.nn.Sequential(torch.nn.Linear(2, 2)), 0.5)


def test_pruned_gan_recovers_with_a_short_adversarial_fine_tune() -> None:
    from lmgen.models.images.evaluate import classify
    from lmgen.models.images.metrics import frechet_distance
    from lmgen.models.images.train import load_images_checkpoint
    from lmgen.stores.images import load_dataset, shipped_dir
    from lmgen.tools.images import load_generator

    gan = load_generator("gan")
    classifier, _ = load_images_checkpoint(shipped_dir("mnist"), "classifier")
    real, _ = classify(classifier.eval(), torch.from_numpy(load_dataset("mnist", "test").images))
    z = torch.randn(500, 64, generator=torch.Generator().manual_seed(0))

    def fid(generator: torch.nn.Module) -> float:
        with torch.inference_mode():
            return frechet_distance(classifier.features(generator.eval()(z).clamp(-1, 1)).numpy(), real)

    small = prune.prune_gan_channels(gan.generator, 0.25)
    before = fid(small)
    masked = prune.prune_unstructured(gan.generator, 0.5, params_of=prune.generator_prunable, keep_masks=True)
    after = fid(prune.recover_gan(gan, small, steps=150, progress=False))
    tuned = prune.recover_gan(gan, masked, steps=20, progress=False)
    assert after < 0.5 * before, (before, after)
    counted = prune.sparsity_of(prune.generator_prunable(tuned))
    assert counted["zeros"] >= round(0.5 * counted["total"])  # the fine-tune kept the zeros


def test_recovery_fine_tune_keeps_the_zeros(bert: LoadedBert, corpus: tuple) -> None:
    masked = prune.prune_unstructured(bert.model, 0.6, keep_masks=True)
    train_mlm(masked, bert.tokenizer, corpus[0][:200], TrainConfig(steps=3, batch_size=4), progress=False)
    prune.finalize(masked)
    counted = prune.sparsity_of(prune.bert_prunable(masked))
    assert counted["zeros"] >= round(0.6 * counted["total"])


# --------------------------------------------------------------------------- distillation
def test_distilled_student_beats_the_same_student_from_scratch(bert: LoadedBert, corpus: tuple) -> None:
    """Same shape, same batches, same steps: teacher init + soft targets against random init + hard loss."""
    train, test = corpus
    cfg = TrainConfig(steps=60, batch_size=16)
    scores = {}
    for name, init, teacher in (("student", "teacher", bert.model), ("scratch", "scratch", None)):
        model = make_student(bert.model, StudentConfig(), init=init)
        assert count_parameters(model) <= 0.5 * count_parameters(bert.model)
        train_mlm(model, bert.tokenizer, train, cfg, teacher=teacher, progress=False)
        loaded = LoadedBert(model, bert.tokenizer, "cpu", name, True, threading.Lock())
        scores[name] = BertBench(loaded, test, pairs=300).quality(model)
    assert scores["student"]["mlm_top5"] > scores["scratch"]["mlm_top5"], scores
    with pytest.raises(InputError, match="wider than the teacher"):
        make_student(bert.model, StudentConfig(hidden_size=256, num_heads=4))


# --------------------------------------------------------------------------- report and interfaces
def test_quick_report_writes_table_plots_and_serves_the_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match="nothing to merge into"):
        build_report(tmp_path / "empty", quick=True, sections=("gan",), merge=True, progress=False)
    # re-measure one section into a copy of the shipped report: the other sections' rows stay
    shipped_rows = json.loads((SHIPPED_REPORT / "report.json").read_text())["rows"]
    (tmp_path / "report.json").write_text((SHIPPED_REPORT / "report.json").read_text())
    report = build_report(tmp_path, quick=True, sections=("gan",), merge=True, progress=False)
    assert report["sections"] == ["bert", "gan", "gguf"]
    others = [r for r in report["rows"] if r["model"] != "gan"]
    assert others == [r for r in shipped_rows if r["model"] != "gan"] and others
    assert [r["model"] for r in report["rows"]] == sorted(
        (r["model"] for r in report["rows"]), key=lambda m: ("bert", "gan", "gguf").index(m.split(":")[0])
    )
    rows = [r for r in report["rows"] if r["model"] == "gan"]
    assert rows[0]["technique"] == "original" and rows[0]["relative"]["quality"] == 1.0
    techniques = {r["technique"] for r in rows}
    assert {"quantize", "prune"} <= techniques
    channels = [r for r in rows if r.get("structure") == "channels"]
    assert channels and all(r["params"] < rows[0]["params"] for r in channels)
    assert json.loads((tmp_path / "report.json").read_text())["rows"] == report["rows"]
    assert "| gan | original |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "gan_sparsity.png").read_bytes()[:4] == b"\x89PNG"
    assert latest_report(tmp_path)["rows"] == report["rows"]

    from lmgen.tools import TOOLS, compare_compression

    assert compare_compression in TOOLS
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))  # no report measured here yet
    shipped = compare_compression.invoke({"family": "bert"})
    assert shipped["origin"].startswith("shipped") and shipped["rows"]
    assert {r["model"] for r in shipped["rows"]} == {"bert"}
    local = tmp_path / "home" / "compress" / "report"
    local.mkdir(parents=True)
    (tmp_path / "report.json").rename(local / "report.json")
    mine = compare_compression.invoke({"family": "gan"})
    assert mine["origin"].startswith("measured on this machine") and len(mine["rows"]) == len(rows)
    with pytest.raises(Exception, match="family"):
        compare_compression.invoke({"family": "llama"})


def test_shipped_report_meets_its_story() -> None:
    """The shipped report covers every technique with the figures the closing note quotes."""
    report = latest_report(SHIPPED_REPORT)
    assert report is not None and not report["quick"]
    rows = report["rows"]
    gguf = [r for r in rows if r["model"].startswith("gguf")]
    assert len([r for r in gguf if r["technique"] == "quantize"]) >= 3
    assert all({"ppl_en", "ppl_ko"} <= set(r["quality"]) for r in gguf)
    int8 = next(r for r in rows if r["model"] == "bert" and r["technique"] == "quantize")
    # the second BERT run's top candidates sit closer together: int8 agrees on 93.7% (run 1: 96.7%)
    assert int8["quality"]["top1_agreement"] >= 0.9
    student = next(r for r in rows if r["technique"] == "distill")
    scratch = next(r for r in rows if r["technique"] == "baseline")
    assert student["relative"]["params"] <= 0.5
    assert student["quality"]["mlm_top5"] > scratch["quality"]["mlm_top5"]


def test_cli_errors_are_one_line() -> None:
    for args, message in (
        (["compress", "prune", "bert", "--sparsity", "1.5"], "sparsity must be in [0, 1)"),
        (["compress", "gguf", "--type", "Q9"], "unknown GGUF quantization type"),
        (["compress", "prune", "gan", "--structure", "heads"], "gan can be pruned as"),
        (["compress", "report", "--section", "vae"], "unknown report section"),
    ):
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip().startswith("error: ") and message in done.stderr
        assert "Traceback" not in done.stderr


def test_cli_prune_reports_the_asked_sparsity(tmp_path: Path) -> None:
    done = run_cli(
        "compress",
        "prune",
        "bert",
        "--sparsity",
        "0.4",
        "--pairs",
        "100",
        "--out",
        str(tmp_path / "p"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["sparsity"] == 0.4 and result["saved"]
    reloaded = load_bert(str(tmp_path / "p"))
    counted = prune.sparsity_of(prune.bert_prunable(reloaded.model))
    assert counted["zeros"] == round(0.4 * counted["total"])
