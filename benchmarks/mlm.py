"""BERT engine speed on CPU, each figure next to a peer run in the same process.

* fill-mask: held-out sentences with one word masked, one call per text vs one batched call
  (``batch_size`` texts per forward pass): masks/s and ms per mask, and the ratio;
* pseudo-perplexity: sentences/s with the masked copies batched (64 per pass, vocabulary
  projection at the masked position only) vs one copy per pass;
* pre-training tokens/s: lmgen's step (MLM head on the ~15% masked positions only) vs the
  plain ``BertForPreTraining(..., labels=...)`` step that projects every position onto the
  vocabulary, same model size, same batches;
* first, quality on everyday language: the share of the 44 Korean and English probes in
  ``mlm_probes.jsonl`` whose expected word is in the top 5.

    python benchmarks/mlm.py [--texts 64] [--pll-sentences 16] [--train-steps 8] [--model DIR]
    python benchmarks/mlm.py --probes-only
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
    from transformers import AutoTokenizer, BertConfig, BertForPreTraining

    from lmgen.models.mlm.masking import IGNORE_INDEX
    from lmgen.models.mlm.pretrain import PairSampler, make_batch, replacement_ids, tokenize_documents
    from lmgen.stores.mlm import mlm_corpus, read_documents

    tok = AutoTokenizer.from_pretrained(model_dir)
    config = BertConfig.from_pretrained(model_dir)
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


def everyday_probes(masker) -> dict:  # type: ignore[no-untyped-def]
    """Top-5 hit rate on the everyday masks in mlm_probes.jsonl (none of them is in the corpus)."""
    import json
    from pathlib import Path

    from lmgen.models.mlm.evaluate import probe_hits

    path = Path(__file__).with_name("mlm_probes.jsonl")
    return probe_hits(masker, [json.loads(line) for line in path.read_text("utf-8").splitlines() if line])


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
        "--probes-only", action="store_true", help="only the everyday probes (benchmarks/mlm_probes.jsonl)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torch

    from lmgen.models.mlm.bert import SHIPPED_CHECKPOINT
    from lmgen.models.mlm.fill_mask import FillMasker
    from lmgen.models.mlm.scoring import BertScorer

    model_dir = args.model or str(SHIPPED_CHECKPOINT)
    print(f"checkpoint {model_dir}; torch threads {torch.get_num_threads()}")
    probes = everyday_probes(FillMasker.load(model_dir))
    print(
        f"everyday probes ({probes['probes']}, Korean and English): expected word in the top 5 for "
        f"{probes['hit_rate']:.1%} (en {probes['by_language'].get('en', 0):.1%}, "
        f"ko {probes['by_language'].get('ko', 0):.1%})"
    )
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
