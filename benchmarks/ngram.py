"""N-gram engine speed: lmgen vs NLTK (nltk.lm) and vs KenLM's Python module, on Shakespeare.

All sides get the same tokens (lmgen's regex tokenizer, lower-cased); tokenization is not
timed. For each order (3 and 5):

* lmgen training tokens/s on the whole training split, and its peak traced memory;
* lmgen scoring tokens/s on the held-out plays (one vectorized pass, after a first call that
  builds the C kernel's lookup tables — KenLM's load time is not timed either);
* KenLM scoring tokens/s on lmgen's exported ARPA (``Model.score`` per sentence), loaded once;
* NLTK ``Laplace`` (full split) and ``KneserNeyInterpolated`` (a subset: NLTK's Kneser-Ney
  scores ~50 tokens/s), fit and ``logscore`` per token; lmgen (add-k / Kneser-Ney) is timed on
  exactly the same data for each ratio.

    python benchmarks/ngram.py [--nltk-train 3000] [--nltk-test 100] [--orders 3 5]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def count_tokens(sentences: list[list[str]]) -> int:
    return sum(len(s) + 1 for s in sentences)  # words + </s>


def lmgen_fit(order: int, smoothing: str, train: list[list[str]]):  # type: ignore[no-untyped-def]
    from lmgen.models.ngram import NgramModel

    return NgramModel(order=order, smoothing=smoothing, tokenizer="whitespace").fit(train)


def nltk_fit(order: int, kind: str, train: list[list[str]]):  # type: ignore[no-untyped-def]
    from nltk.lm import KneserNeyInterpolated, Laplace
    from nltk.lm.preprocessing import padded_everygram_pipeline

    model = Laplace(order) if kind == "laplace" else KneserNeyInterpolated(order)
    grams, vocab = padded_everygram_pipeline(order, train)
    model.fit(grams, vocab)
    return model


def nltk_score(model, order: int, test: list[list[str]]) -> float:  # type: ignore[no-untyped-def]
    total = 0.0
    for sent in test:
        padded = ["<s>"] * (order - 1) + sent + ["</s>"]
        for i in range(order - 1, len(padded)):
            total += model.logscore(padded[i], padded[i - order + 1 : i])
    return total


def kenlm_total(model, lines: list[str]) -> float:  # type: ignore[no-untyped-def]
    return sum(model.score(line, bos=True, eos=True) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--nltk-train", type=int, default=3000, help="sentences NLTK trains on")
    parser.add_argument("--nltk-test", type=int, default=100, help="sentences NLTK scores")
    args = parser.parse_args()

    import kenlm

    from lmgen.models.ngram import get_tokenizer
    from lmgen.stores.corpora import read_sentences
    from lmgen.stores.ngram import corpus_split

    tok = get_tokenizer("regex", lowercase=True)
    train_file, test_file = corpus_split("shakespeare")
    train = [t for t in (tok(s) for s in read_sentences(train_file)) if t]
    test = [t for t in (tok(s) for s in read_sentences(test_file)) if t]
    n_train, n_test = count_tokens(train), count_tokens(test)
    print(
        f"Shakespeare: train {len(train):,} sentences / {n_train:,} tokens; "
        f"test {len(test):,} sentences / {n_test:,} tokens (3 held-out plays)\n"
    )
    sub_train, sub_test = train[: args.nltk_train], test[: args.nltk_test]

    for order in args.orders:
        print(f"=== order {order} ===")
        lm, fit_s = timed(lmgen_fit, order, "kneser-ney", train)
        tracemalloc.start()  # a second fit, traced: tracing slows allocation, so it is not timed
        lmgen_fit(order, "kneser-ney", train)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        _, first_s = timed(lm.perplexity, test[:200])  # first call builds the C lookup tables (like a load)
        result, score_s = timed(lm.perplexity, test)
        print(
            f"lmgen KN   train {n_train / fit_s:12,.0f} tok/s ({fit_s:.2f} s, peak traced "
            f"{peak / 2**20:.0f} MiB)   score {n_test / score_s:12,.0f} tok/s   test ppl {result['ppl']:.1f}"
        )
        words, lengths = lm._encode(test)
        _, ids_s = timed(lm.score_ids, words, lengths)
        print(
            f"           scoring already-encoded ids (no str→id lookups): {n_test / ids_s:12,.0f} tok/s; "
            f"first call on 200 sentences (builds lookup tables): {first_s:.3f} s"
        )

        with tempfile.TemporaryDirectory() as tmp:
            arpa = lm.to_arpa(Path(tmp) / "lm.arpa")
            reference = kenlm.Model(str(arpa))
            lines = [" ".join(s) for s in test]
            total, ken_s = timed(kenlm_total, reference, lines)
        print(
            f"KenLM      score {n_test / ken_s:12,.0f} tok/s on lmgen's ARPA (log10 total {total:.2f} vs "
            f"lmgen {result['log10_prob']:.2f})"
        )
        print(f"  scoring ratio lmgen / KenLM = {ken_s / score_s:.2f}x (ids only: {ken_s / ids_s:.2f}x)")

        # NLTK Laplace is slow but feasible on the full split; its Kneser-Ney scores ~50 tok/s,
        # so it runs on a subset (and lmgen is re-timed on exactly that subset).
        for kind, smoothing, tr, te in [
            ("laplace", "add-k", train, test),
            ("kneser-ney", "kneser-ney", sub_train, sub_test),
        ]:
            n_tr, n_te = count_tokens(tr), count_tokens(te)
            nltk_lm, nltk_fit_s = timed(nltk_fit, order, kind, tr)
            _, nltk_score_s = timed(nltk_score, nltk_lm, order, te)
            ours, our_fit_s = timed(lmgen_fit, order, smoothing, tr)
            ours.perplexity(te[:20])  # warm-up, as above
            _, our_score_s = timed(ours.perplexity, te)
            print(
                f"NLTK {kind:<10} ({len(tr):,} train / {len(te):,} test sentences): "
                f"train {n_tr / nltk_fit_s:9,.0f} tok/s, score {n_te / nltk_score_s:9,.0f} tok/s"
            )
            print(
                f"lmgen {smoothing:<10} same data: train {n_tr / our_fit_s:9,.0f} tok/s, "
                f"score {n_te / our_score_s:9,.0f} tok/s  ->  speed-up train {nltk_fit_s / our_fit_s:,.0f}x, "
                f"score {nltk_score_s / our_score_s:,.0f}x"
            )
        print()
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
