"""BERT engine speed on CPU, each figure next to a peer run in the same process.

* fill-mask: held-out sentences with one word masked, one call per text vs one batched call
  (``batch_size`` texts per forward pass): masks/s and ms per mask, and the ratio;
* pseudo-perplexity: sentences/s with the masked copies batched (64 per pass, vocabulary
  projection at the masked position only) vs one copy per pass;
* pre-training tokens/s: lmgen's step (MLM head on the ~15% masked positions only) vs the
  plain ``BertForPreTraining(..., labels=...)`` step that projects every position onto the
  vocabulary, same model size, same batches;
* first, quality before → after, one row per checkpoint (``--model scratch``, pre-trained from
  scratch, then the default ``e5``, built on multilingual-e5-small): the course's MLM and NSP
  examples, the share of the 44 Korean and English probes in ``mlm_probes.jsonl`` whose expected
  word is in the top 5, the 40 short everyday pairs of ``nsp_probes.jsonl`` (each first sentence
  with its next one and an unrelated one: the share of the 80 pairs labelled right, and of the 40
  whose next sentence scores higher), and with ``--heldout N`` held-out MLM top-1/top-5 and NSP
  accuracy on N pairs;
* with ``--nsp-domains N``, what the next-sentence head tells apart, per held-out domain: mean
  P(IsNext) of N single-sentence pairs with the next sentence, with a sentence of another
  document of the same domain (only the topic differs) and with one of another domain in the same
  language (style differs too), and the accuracy against each kind of unrelated partner.

    python benchmarks/mlm.py [--texts 64] [--pll-sentences 16] [--train-steps 8] [--model DIR]
    python benchmarks/mlm.py --probes-only [--heldout 2000] [--nsp-domains 100]
"""

from __future__ import annotations

import argparse
import random
import time
import warnings


def masked_sentences(n: int, seed: int = 0) -> list[str]:
    from lmgen.stores.mlm import mlm_corpus, read_documents

    rng = random.Random(seed)
    sentences = [s for d in read_documents(mlm_corpus().test) for s in d if 5 <= len(s.split()) <= 25]
    rng.shuffle(sentences)
    out = []
    for s in sentences[:n]:
        words = s.split()
        i = rng.randrange(len(words))
        words[i] = "[MASK]"
        out.append(" ".join(words))
    return out


def bench_fill_mask(masker, texts: list[str], batch_size: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    masker(texts[:4])  # warm-up
    start = time.perf_counter()
    for t in texts:
        masker(t, top_k=5)
    single = time.perf_counter() - start
    start = time.perf_counter()
    masker(texts, top_k=5, batch_size=batch_size)
    batched = time.perf_counter() - start
    return {
        "one_at_a_time_masks_per_s": len(texts) / single,
        "batched_masks_per_s": len(texts) / batched,
        "one_at_a_time_ms_per_mask": 1000 * single / len(texts),
        "batched_ms_per_mask": 1000 * batched / len(texts),
        "speedup": single / batched,
    }


def bench_pll(scorer, sentences: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    scorer.pseudo_perplexity(sentences[0])
    start = time.perf_counter()
    batched = [scorer.pseudo_perplexity(s, batch_size=64)["pll"] for s in sentences]
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    single = [scorer.pseudo_perplexity(s, batch_size=1)["pll"] for s in sentences]
    t_single = time.perf_counter() - start
    assert max(abs(a - b) for a, b in zip(batched, single, strict=True)) < 1e-3
    return {
        "batched_sentences_per_s": len(sentences) / t_batched,
        "one_copy_per_pass_sentences_per_s": len(sentences) / t_single,
        "speedup": t_single / t_batched,
    }


def bench_training(model_dir: str, steps: int) -> dict[str, float]:
    import numpy as np
    import torch
    from transformers import BertConfig, BertForPreTraining

    from lmgen.models.mlm.bert import load_bert
    from lmgen.models.mlm.masking import IGNORE_INDEX
    from lmgen.models.mlm.pretrain import PairSampler, make_batch, replacement_ids, tokenize_documents
    from lmgen.stores.mlm import mlm_corpus, read_documents

    loaded = load_bert(model_dir)  # a derived checkpoint (checkpoint-e5) is assembled first
    tok = loaded.tokenizer
    config = BertConfig.from_dict(loaded.model.config.to_dict())
    docs = read_documents(mlm_corpus().train)[:400]
    ids, words = tokenize_documents(tok, docs)
    sampler = PairSampler(ids, words, config.max_position_embeddings)
    pool = replacement_ids(tok)
    batches = []
    for step in range(steps):
        b = make_batch(
            sampler,
            tok,
            np.random.default_rng([0, step]),
            32,
            config.max_position_embeddings,
            0.15,
            False,
            pool,
        )
        width = int(b["attention_mask"].sum(axis=1).max())
        batches.append({k: torch.from_numpy(v[:, :width] if v.ndim == 2 else v) for k, v in b.items()})
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)

    def run(masked_only: bool) -> float:
        torch.manual_seed(0)
        model = BertForPreTraining(config)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        start = time.perf_counter()
        for b in batches:
            if masked_only:
                enc = model.bert(
                    input_ids=b["input_ids"],
                    token_type_ids=b["token_type_ids"],
                    attention_mask=b["attention_mask"],
                )
                target = b["labels"] != IGNORE_INDEX
                logits = model.cls.predictions(enc.last_hidden_state[target])
                loss = torch.nn.functional.cross_entropy(
                    logits, b["labels"][target]
                ) + torch.nn.functional.cross_entropy(
                    model.cls.seq_relationship(enc.pooler_output), b["next_sentence_label"]
                )
            else:
                loss = model(
                    input_ids=b["input_ids"],
                    token_type_ids=b["token_type_ids"],
                    attention_mask=b["attention_mask"],
                    labels=b["labels"],
                    next_sentence_label=b["next_sentence_label"],
                ).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    run(True)  # warm-up (allocator, kernels)
    t_masked = run(True)
    t_full = run(False)
    return {
        "lmgen_tokens_per_s": tokens / t_masked,
        "full_vocab_head_tokens_per_s": tokens / t_full,
        "speedup": t_full / t_masked,
    }


def everyday_probes(masker, same_script: bool = True) -> dict:  # type: ignore[no-untyped-def]
    """Top-5 hit rate on the everyday masks in mlm_probes.jsonl (none of them is in the corpus)."""
    import json
    from pathlib import Path

    from lmgen.models.mlm.evaluate import probe_hits

    path = Path(__file__).with_name("mlm_probes.jsonl")
    probes = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return probe_hits(masker, probes, same_script=same_script)


def everyday_pairs(scorer) -> dict:  # type: ignore[no-untyped-def]
    """The next-sentence head on the short everyday pairs in nsp_probes.jsonl (none in the corpus)."""
    import json
    from pathlib import Path

    from lmgen.models.mlm.evaluate import nsp_probe_scores

    path = Path(__file__).with_name("nsp_probes.jsonl")
    probes = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return nsp_probe_scores(scorer, probes)


COURSE_MLM = "나는 [MASK]에 가서 밥을 먹었다."
COURSE_NSP = (("나는 배가 고팠다.", "그래서 식당에 갔다."), ("나는 배가 고팠다.", "하늘은 파랗다."))


def quality_table(models: list[tuple[str, str]], heldout_pairs: int) -> str:
    """Before → after, one row per checkpoint: the course's MLM and NSP examples, the everyday
    probes' top-5 hit rate, the everyday NSP pairs labelled right / ranked right and (with
    ``heldout_pairs``) held-out MLM top-1/top-5 and NSP accuracy."""
    from lmgen.models.mlm.evaluate import evaluate_checkpoint
    from lmgen.models.mlm.fill_mask import FillMasker
    from lmgen.models.mlm.scoring import BertScorer
    from lmgen.stores.mlm import mlm_corpus, read_documents

    head = (
        "| checkpoint | course MLM top 5 (any script) | course NSP P(IsNext): next / unrelated "
        "| probes top-5 (en / ko; any script) | NSP pairs right / ranked (en / ko) |"
    )
    if heldout_pairs:
        head += " held-out top-1 / top-5 / NSP |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, model in models:
        masker = FillMasker.load(model)
        scorer = BertScorer.load(model)
        top, raw = (
            ", ".join(c["token_str"] for c in masker(COURSE_MLM, top_k=5, same_script=same)[0])
            for same in (True, False)
        )
        if raw != top:
            top += f" ({raw})"
        nsp = " / ".join(f"{scorer.is_next(a, b)['is_next']:.3f}" for a, b in COURSE_NSP)
        probes = everyday_probes(masker)
        by = probes["by_language"]
        hits = f"{probes['hit_rate']:.1%} ({by.get('en', 0):.1%} / {by.get('ko', 0):.1%}"
        hits += f"; {everyday_probes(masker, same_script=False)['hit_rate']:.1%})"
        pairs = everyday_pairs(scorer)
        right = " / ".join(f"{v['accuracy']:.0%}" for v in pairs["by_language"].values())
        ranked = " / ".join(f"{v['ranked']:.0%}" for v in pairs["by_language"].values())
        row = f"| {label} | {top} | {nsp} | {hits} | {pairs['accuracy']:.1%} ({right}) / "
        row += f"{pairs['ranked']:.0%} ({ranked}) |"
        if heldout_pairs:
            m = evaluate_checkpoint(model, read_documents(mlm_corpus().test), pairs=heldout_pairs)
            row += f" {m['mlm_top1']:.1%} / {m['mlm_top5']:.1%} / {m.get('nsp_accuracy', 0):.1%} |"
        lines.append(row)
    return "\n".join(lines)


def domain_table(model: str, pairs: int) -> str:
    """Per held-out domain: P(IsNext) with the next sentence / a same-domain one / another domain's."""
    from lmgen.models.mlm.evaluate import nsp_by_domain
    from lmgen.models.mlm.scoring import BertScorer
    from lmgen.stores.mlm import mlm_corpus, read_documents, read_domains

    test = mlm_corpus().test
    docs = read_documents(test)
    rows = nsp_by_domain(BertScorer.load(model), docs, read_domains(test, len(docs)), pairs)
    lines = [
        f"single-sentence NSP by held-out domain ({model}, {pairs} sentences each): mean P(IsNext)",
        "| domain | next | same domain, other document | other domain | right vs same domain "
        "| right vs other domain |",
        "|---|---|---|---|---|---|",
    ]
    for domain, r in rows.items():
        far = f"{r['other_domain']:.3f}" if "other_domain" in r else "—"
        far_acc = f"{r['accuracy_other_domain']:.1%}" if "accuracy_other_domain" in r else "—"
        lines.append(
            f"| {domain} | {r['next']:.3f} | {r['same_domain']:.3f} | {far} "
            f"| {r['accuracy_same_domain']:.1%} | {far_acc} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pll-sentences", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=8)
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument(
        "--heldout",
        type=int,
        default=0,
        help="also score this many held-out pairs per checkpoint (2000: metrics.json)",
    )
    parser.add_argument(
        "--nsp-domains",
        type=int,
        default=0,
        help="also the per-domain single-sentence NSP table, this many sentences per domain",
    )
    parser.add_argument(
        "--probes-only", action="store_true", help="only the quality table (course examples, everyday probes)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torch

    from lmgen.models.mlm.bert import DEFAULT_CHECKPOINT
    from lmgen.models.mlm.fill_mask import FillMasker
    from lmgen.models.mlm.scoring import BertScorer

    model_dir = args.model or str(DEFAULT_CHECKPOINT)
    print(f"checkpoint {model_dir}; torch threads {torch.get_num_threads()}")
    rows = [
        ("pre-trained from scratch (before)", "scratch"),
        ("e5 encoder + new heads (after; default)", "e5"),
    ]
    if args.model:
        rows.append((args.model, args.model))
    print(quality_table(rows, args.heldout))
    if args.nsp_domains:
        print(domain_table(model_dir, args.nsp_domains))
    if args.probes_only:
        return
    texts = masked_sentences(args.texts)
    fm = bench_fill_mask(FillMasker.load(model_dir), texts, args.batch_size)
    print(
        f"fill-mask ({len(texts)} held-out texts, one mask each): one at a time "
        f"{fm['one_at_a_time_masks_per_s']:.1f} masks/s ({fm['one_at_a_time_ms_per_mask']:.1f} ms/mask), "
        f"batched x{args.batch_size} {fm['batched_masks_per_s']:.1f} masks/s "
        f"({fm['batched_ms_per_mask']:.1f} ms/mask): {fm['speedup']:.2f}x"
    )
    sentences = [t.replace("[MASK]", "the") for t in masked_sentences(args.pll_sentences, seed=1)]
    pll = bench_pll(BertScorer.load(model_dir), sentences)
    print(
        f"pseudo-perplexity ({len(sentences)} sentences): "
        f"batched {pll['batched_sentences_per_s']:.2f} sent/s, "
        f"one copy per pass {pll['one_copy_per_pass_sentences_per_s']:.2f} sent/s: {pll['speedup']:.2f}x"
    )
    tr = bench_training(model_dir, args.train_steps)
    print(
        f"pre-training ({args.train_steps} steps x 32 pairs): lmgen {tr['lmgen_tokens_per_s']:.0f} tokens/s, "
        f"full-vocabulary MLM head {tr['full_vocab_head_tokens_per_s']:.0f} tokens/s: {tr['speedup']:.2f}x"
    )


if __name__ == "__main__":
    main()
