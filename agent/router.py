"""The router: a request → route (expert or generalist), intent and the scores behind them.

Three steps, cheapest first:

1. **Exact rules** only where they are exact: a ``[MASK]`` (or ``<mask>``) in the text is a
   fill-mask request.
2. **Fast path** (:mod:`lmgen.agent.router_model`): e5 embedding → learned heads. P(generalist)
   is cut at a threshold that users pick directly or as the share of requests they are willing
   to send to the generalist (RouteLLM's calibration; the table ships with the model).
3. **Slow path**, only when the fast path is unsure (P(generalist) within ``judge_margin`` of
   the threshold, or the best intent below ``judge_floor``): the expert reads the request and
   answers with a grammar-constrained label. It settles only what the classifier was unsure of.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lmgen.agent import prompts
from lmgen.agent.router_model import HEADS, RouterModel, featurize
from lmgen.agent.state import INTENTS, ROUTES, Intent, Route
from lmgen.errors import LmgenError

log = logging.getLogger(__name__)
MASK = re.compile(r"\[MASK\]|<mask>", re.I)
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"intent": {"type": "string", "enum": list(INTENTS)}, "route": {"enum": list(ROUTES)}},
    "required": ["intent", "route"],
}


@dataclass
class RouteDecision:
    """Where a request goes and why (all of it travels in the stream and the trace store)."""

    route: Route
    intent: Intent
    score: float  # confidence in ``route``: max(P(generalist), 1 − P(generalist)) after the decision
    p_generalist: float
    threshold: float
    intents: dict[str, float] = field(default_factory=dict)  # P(intent) per intent
    topic: float = 0.0  # P(the request is on lmgen's own subjects)
    method: str = "classifier"  # classifier | rule | judge | forced
    why: str = ""
    latency_ms: float = 0.0
    judge: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=4)
def load_router(folder: str = "") -> RouterModel:
    """The router model in ``folder`` (empty: the shipped one), loaded once per process."""
    return RouterModel.load(Path(folder).expanduser() if folder else None)


def classify(text: str, model: RouterModel) -> tuple[float, dict[str, float], float]:
    """Fast path only: P(generalist), P(intent) per intent and P(course topic) for one request."""
    probs = model.predict(featurize([text]))
    intents = {name: round(float(p), 4) for name, p in zip(HEADS["intent"], probs["intent"][0], strict=True)}
    return float(probs["route"][0, 1]), intents, float(probs["topic"][0, 1])


def judge_request(text: str, expert: Any) -> dict[str, str]:
    """Ask the expert (a ``LlamaRuntime``) for a route and intent, constrained to valid labels."""
    messages = [
        {"role": "system", "content": prompts.JUDGE_PROMPT},
        {"role": "user", "content": f"Request: {text[:2000]}"},
    ]
    label = expert.chat_json(messages, JUDGE_SCHEMA, max_tokens=24)
    return {"intent": str(label["intent"]), "route": str(label["route"])}


def route_text(
    text: str,
    threshold: float = 0.5,
    *,
    model: RouterModel | None = None,
    judge: Any = None,
    judge_margin: float = 0.15,
    judge_floor: float = 0.5,
) -> RouteDecision:
    """Decide the route and intent of one request.

    Args:
        text: The request.
        threshold: P(generalist) at or above which the generalist is chosen
            (see :meth:`RouterModel.threshold_for_share` to pick it by share).
        model: The router model (default: the shipped one).
        judge: A ``LlamaRuntime`` to settle unsure cases (``None``: fast path only).
        judge_margin: How close to the threshold counts as unsure.
        judge_floor: Best-intent probability below which the intent counts as unsure.
    """
    start = time.perf_counter()
    model = model or load_router()
    p_gen, intents, topic = classify(text, model)
    best = max(intents, key=lambda k: intents[k])
    route: str = "generalist" if p_gen >= threshold else "expert"
    intent: str = best
    method, reasons = "classifier", [f"P(generalist) {p_gen:.2f} vs threshold {threshold:.2f}"]
    if MASK.search(text):
        intent, method = "fill_mask", "rule"
        reasons.append("the text has a [MASK]")
    else:
        reasons.append(f"intent {best} at {intents[best]:.2f}")
    unsure_route = abs(p_gen - threshold) < judge_margin
    unsure_intent = method != "rule" and intents[best] < judge_floor
    verdict = None
    if judge is not None and (unsure_route or unsure_intent):
        try:
            verdict = judge_request(text, judge)
        except LmgenError as exc:  # a judge that cannot answer leaves the classifier's decision
            log.warning("router judge failed: %s", exc.one_line())
        else:
            if unsure_route:
                route = verdict["route"]
            if unsure_intent:
                intent = verdict["intent"]
            method = "judge"
            reasons.append(f"unsure, the expert judged {verdict['intent']}/{verdict['route']}")
    confidence = p_gen if route == "generalist" else 1.0 - p_gen
    return RouteDecision(
        route=cast(Route, route),
        intent=cast(Intent, intent),
        score=round(confidence, 4),
        p_generalist=round(p_gen, 4),
        threshold=round(threshold, 4),
        intents=intents,
        topic=round(topic, 4),
        method=method,
        why="; ".join(reasons),
        latency_ms=round((time.perf_counter() - start) * 1000, 2),
        judge=verdict,
    )


def router_threshold(model: RouterModel, threshold: float | None, share: float | None) -> float:
    """The P(generalist) cut from an explicit threshold or a generalist share (share wins when given)."""
    if share is not None and share >= 0:
        return model.threshold_for_share(share)
    return 0.5 if threshold is None else threshold


def train_and_save(out: Path, data: Path | None = None) -> dict[str, Any]:
    """Train on the train split, calibrate thresholds on the test split's scores, save to ``out``."""
    from lmgen.agent.router_data import load_requests
    from lmgen.agent.router_model import train_router

    requests = load_requests(data)
    train = [r for r in requests if r.split == "train"]
    test = [r for r in requests if r.split == "test"]
    model = train_router(train, test)
    model.save(out)
    load_router.cache_clear()
    return {"out": str(out), **model.meta, "thresholds": model.thresholds}


def evaluate_router(
    folder: str = "",
    split: str = "test",
    threshold: float | None = None,
    share: float | None = None,
    judge: Any = None,
    data: Path | None = None,
) -> dict[str, Any]:
    """The router on a labelled split: the contract keys of ``lmgen router eval --json``."""
    from lmgen.agent.router_data import load_requests
    from lmgen.agent.router_model import evaluate

    model = load_router(folder)
    cut = router_threshold(model, threshold, share)
    requests = load_requests(data, split=split if split != "all" else None)
    decisions = [route_text(r.text, cut, model=model, judge=judge) for r in requests]
    result = evaluate(
        [{"route": d.route, "intent": d.intent} for d in decisions],
        requests,
        [d.latency_ms for d in decisions],
    )
    result["threshold"] = round(cut, 4)
    result["judged"] = sum(d.method == "judge" for d in decisions)
    result["errors"] = [
        {"text": r.text, "expected": f"{r.intent}/{r.route}", "got": f"{d.intent}/{d.route}"}
        for r, d in zip(requests, decisions, strict=True)
        if (d.intent, d.route) != (r.intent, r.route)
    ]
    return result
