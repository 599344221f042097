"""Smoothing methods, each a class behind one interface.

Two families:

* count-based (:class:`MLESmoothing`, :class:`AddKSmoothing`): p(w | h) comes straight from
  c(h w) and c(h) of the full-order n-gram; no backoff, so no ARPA form;
* backoff-form (:class:`WittenBellSmoothing`, :class:`KneserNeySmoothing`,
  :class:`StupidBackoff`): ``tables(counts)`` returns log10 probabilities and back-off
  weights for every seen n-gram (:class:`BackoffTables`), which is also the ARPA file.

V' below is the vocabulary without ``<s>`` (it is never predicted), ``<unk>`` included:
every normalized model sums to one over V' for any context.
"""

from __future__ import annotations

from abc import ABC
from typing import Any, ClassVar

import numpy as np

from lmgen.errors import InputError
from lmgen.models.ngram.backoff import LOG10_ZERO, BackoffTables
from lmgen.models.ngram.counts import BOS_ID, NgramCounts


class Smoothing(ABC):
    """Common interface: a name, whether scores are probabilities, and the parameters to save."""

    name: ClassVar[str]
    normalized: ClassVar[bool] = True
    backoff_form: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        return {}

    def notes(self) -> list[str]:
        """Anything the user should know about this fit (fallbacks, unnormalized scores)."""
        return []


class CountSmoothing(Smoothing):
    """p(w | h) from the full-order counts c(h w) and c(h) = Σ_w c(h w)."""

    def log10(self, c_hw: np.ndarray, c_h: np.ndarray, vocab_size: int) -> np.ndarray:
        raise NotImplementedError


class MLESmoothing(CountSmoothing):
    """Maximum likelihood: c(h w) / c(h). Unseen n-grams get probability zero (log10 = -inf)."""

    name = "mle"

    def log10(self, c_hw: np.ndarray, c_h: np.ndarray, vocab_size: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(c_h > 0, c_hw / np.maximum(c_h, 1), 0.0)
            return np.log10(p)

    def notes(self) -> list[str]:
        return ["MLE gives unseen n-grams probability 0: any unseen n-gram makes perplexity infinite"]


class AddKSmoothing(CountSmoothing):
    """Additive smoothing: (c(h w) + k) / (c(h) + k·|V'|); k = 1 is Laplace, k < 1 Lidstone."""

    name = "add-k"

    def __init__(self, k: float = 1.0) -> None:
        if not k > 0:
            raise InputError(f"add-k needs k > 0, got {k}")
        self.k = float(k)

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    def log10(self, c_hw: np.ndarray, c_h: np.ndarray, vocab_size: int) -> np.ndarray:
        predicted = vocab_size - 1  # |V'|
        return np.log10((c_hw + self.k) / (c_h + self.k * predicted))


class BackoffSmoothing(Smoothing):
    """Methods whose model is a set of backoff tables (exactly an ARPA file)."""

    backoff_form = True

    def tables(self, counts: NgramCounts) -> BackoffTables:
        raise NotImplementedError


def _interpolate(
    counts: NgramCounts,
    numer: list[np.ndarray],
    denom: list[np.ndarray],
    gamma: list[np.ndarray],
    unigram: np.ndarray,
) -> BackoffTables:
    """Assemble interpolated tables: p_k = numer/denom[h] + γ(h)·p_{k-1}(suffix), bow(h) = γ(h).

    Index k-1 of ``numer``/``denom``/``gamma`` is order k (k ≥ 2; entries 0 are unused):
    ``numer`` per k-gram, ``denom`` and ``gamma`` per (k-1)-gram context.
    """
    prob = [unigram]
    bow = []
    with np.errstate(divide="ignore"):
        for k in range(2, counts.order + 1):
            prefix = counts.prefix[k - 1]
            lower = 10.0 ** prob[k - 2][counts.suffix[k - 1]]
            p = numer[k - 1] / denom[k - 1][prefix] + gamma[k - 1][prefix] * lower
            prob.append(np.log10(p))
            is_ctx = denom[k - 1] > 0
            bow.append(np.where(is_ctx, np.log10(np.where(is_ctx, gamma[k - 1], 1.0)), 0.0))
    bow.append(np.zeros(len(prob[-1])))  # the highest order is never a context
    prob[0][BOS_ID] = LOG10_ZERO
    return BackoffTables(keys=list(counts.keys), prob=prob, bow=bow, vocab_size=counts.vocab_size)


class WittenBellSmoothing(BackoffSmoothing):
    """Interpolated Witten-Bell: γ(h) = T(h) / (c(h) + T(h)), T(h) = distinct words seen after h.

    p(w | h) = (c(h w) + T(h)·p(w | h')) / (c(h) + T(h)); unigrams interpolate with 1/|V'|.
    """

    name = "witten-bell"

    def tables(self, counts: NgramCounts) -> BackoffTables:
        c1 = counts.counts[0].astype(np.float64)
        types = float((c1 > 0).sum())
        predicted = counts.vocab_size - 1
        unigram = np.log10((c1 + types / predicted) / (c1.sum() + types))
        numer: list[np.ndarray] = [np.empty(0)]
        denom: list[np.ndarray] = [np.empty(0)]
        gamma: list[np.ndarray] = [np.empty(0)]
        for k in range(2, counts.order + 1):
            c = counts.counts[k - 1].astype(np.float64)
            total = counts.context_totals(k, c)
            t = counts.context_totals(k, np.ones_like(c))
            d = total + t
            numer.append(c)
            denom.append(d)
            with np.errstate(divide="ignore", invalid="ignore"):
                gamma.append(np.where(d > 0, t / np.maximum(d, 1), 1.0))
        return _interpolate(counts, numer, denom, gamma, unigram)


class KneserNeySmoothing(BackoffSmoothing):
    """Interpolated modified Kneser-Ney (Chen & Goodman 1998, §3.6; as KenLM's lmplz estimates it).

    * adjusted counts a(g): raw counts for the highest order and for n-grams starting with
      ``<s>``; otherwise the continuation count N1+(• g), the number of distinct left contexts;
    * three discounts per order from counts-of-counts n1..n4 of the adjusted counts
      (C&G eq. 26): Y = n1/(n1 + 2 n2), D_j = j − (j+1)·Y·n_{j+1}/n_j for j = 1, 2, 3+;
    * p(w | h) = (a(h w) − D(a(h w))) / Σ_w a(h w) + γ(h)·p(w | h'),
      γ(h) = (D1·N1(h•) + D2·N2(h•) + D3+·N3+(h•)) / Σ_w a(h w);
    * unigrams interpolate with the uniform 1/|V'| (``<unk>``, with a(<unk>) = 0, gets γ/|V'|).

    Args:
        discount_fallback: D1, D2, D3+ used for an order whose counts-of-counts cannot give valid
            discounts (tiny corpora), like lmplz's ``--discount_fallback``.
        discounts: fixed D1, D2, D3+ for every order (skips estimation; for teaching and tests).
    """

    name = "kneser-ney"

    def __init__(
        self,
        discount_fallback: tuple[float, float, float] = (0.5, 1.0, 1.5),
        discounts: tuple[float, float, float] | None = None,
    ) -> None:
        self.discount_fallback = tuple(float(d) for d in discount_fallback)
        self.fixed = tuple(float(d) for d in discounts) if discounts else None
        self.estimated: list[list[float]] = []
        self._notes: list[str] = []

    def params(self) -> dict[str, Any]:
        return {"discounts": self.estimated, "discount_fallback": list(self.discount_fallback)}

    def notes(self) -> list[str]:
        return list(self._notes)

    @staticmethod
    def adjusted_counts(counts: NgramCounts, k: int) -> np.ndarray:
        raw = counts.counts[k - 1]
        if k == counts.order:
            return raw.copy()
        adjusted = counts.left[k - 1].copy()
        bos = counts.starts_with_bos[k - 1]
        adjusted[bos] = raw[bos]  # nothing can precede <s>: keep what was counted
        return adjusted

    def discounts_for(self, adjusted: np.ndarray, k: int) -> np.ndarray:
        """[0, D1, D2, D3+] for one order."""
        if self.fixed:
            return np.array([0.0, *self.fixed])
        n = [int((adjusted == j).sum()) for j in range(5)]
        try:
            y = n[1] / (n[1] + 2 * n[2])
            d = [j - (j + 1) * y * n[j + 1] / n[j] for j in (1, 2, 3)]
            if not all(0 <= dj <= j for j, dj in zip((1, 2, 3), d, strict=True)):
                raise ZeroDivisionError
        except ZeroDivisionError:
            d = list(self.discount_fallback)
            self._notes.append(
                f"order {k}: counts-of-counts {n[1:]} give no valid discounts; using the fallback {d}"
            )
        return np.array([0.0, *d])

    def tables(self, counts: NgramCounts) -> BackoffTables:
        self.estimated, self._notes = [], []
        predicted = counts.vocab_size - 1
        numer: list[np.ndarray] = [np.empty(0)]
        denom: list[np.ndarray] = [np.empty(0)]
        gamma: list[np.ndarray] = [np.empty(0)]
        unigram = np.empty(0)
        for k in range(1, counts.order + 1):
            a = self.adjusted_counts(counts, k).astype(np.float64)
            if k == 1:
                a[BOS_ID] = 0
            d = self.discounts_for(a, k)
            self.estimated.append([round(float(x), 6) for x in d[1:]])
            bucket = np.minimum(a, 3).astype(np.int64)
            discounted = a - d[bucket]
            if k == 1:
                total = a.sum()
                g = float(d[bucket].sum()) / total
                unigram = np.log10(discounted / total + g / predicted)
                continue
            total_h = counts.context_totals(k, a)
            spent = counts.context_totals(k, d[bucket])
            numer.append(discounted)
            denom.append(total_h)
            with np.errstate(divide="ignore", invalid="ignore"):
                gamma.append(np.where(total_h > 0, spent / np.maximum(total_h, 1e-300), 1.0))
        return _interpolate(counts, numer, denom, gamma, unigram)


class StupidBackoff(BackoffSmoothing):
    """Stupid backoff (Brants et al. 2007): relative frequency, else α × the shorter context's score.

    Scores are NOT probabilities (they do not sum to one); perplexity from them is only a
    relative figure. Backing off from a stored context costs log10 α; unseen unigrams
    (``<unk>``) score α/|V'|.
    """

    name = "stupid-backoff"
    normalized = False

    def __init__(self, alpha: float = 0.4) -> None:
        if not 0 < alpha <= 1:
            raise InputError(f"stupid backoff needs 0 < alpha <= 1, got {alpha}")
        self.alpha = float(alpha)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def notes(self) -> list[str]:
        return [
            "stupid backoff scores are not normalized probabilities: compare its perplexities only "
            "with each other"
        ]

    def tables(self, counts: NgramCounts) -> BackoffTables:
        c1 = counts.counts[0].astype(np.float64)
        predicted = counts.vocab_size - 1
        with np.errstate(divide="ignore"):
            prob = [np.log10(np.where(c1 > 0, c1 / c1.sum(), self.alpha / predicted))]
            bow = []
            for k in range(2, counts.order + 1):
                c = counts.counts[k - 1].astype(np.float64)
                total = counts.context_totals(k, c)
                prob.append(np.log10(c / total[counts.prefix[k - 1]]))
                bow.append(np.where(total > 0, np.log10(self.alpha), 0.0))
        bow.append(np.zeros(len(prob[-1])))
        prob[0][BOS_ID] = LOG10_ZERO
        return BackoffTables(keys=list(counts.keys), prob=prob, bow=bow, vocab_size=counts.vocab_size)


class LoadedTables(BackoffSmoothing):
    """Tables read from an ARPA file: whatever estimated them, lmgen only scores with them."""

    name = "arpa"


SMOOTHINGS = ("mle", "add-k", "witten-bell", "kneser-ney", "stupid-backoff")


def make_smoothing(name: str, **params: Any) -> Smoothing:
    """A smoothing instance by name; ``params`` are its constructor arguments.

    Raises:
        InputError: unknown name or bad parameter.
    """
    classes: dict[str, type[Smoothing]] = {
        "mle": MLESmoothing,
        "add-k": AddKSmoothing,
        "witten-bell": WittenBellSmoothing,
        "kneser-ney": KneserNeySmoothing,
        "stupid-backoff": StupidBackoff,
    }
    if name not in classes:
        raise InputError(f"unknown smoothing {name!r}; choose one of: {', '.join(SMOOTHINGS)}")
    try:
        return classes[name](**params)
    except TypeError as exc:
        raise InputError(f"bad parameters for {name}: {exc}") from exc
