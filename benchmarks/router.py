"""The router, measured: decision latency, test-split accuracy, and quality against cost (RouteLLM-style).

1. Fast-path latency (e5 embedding + heads) over the test split, p50/p95; judge-path latency (the
   expert labelling a request) on a sample.
2. Accuracy on the test split: the learned router, the learned router with its judge, and the old
   keyword router, English and Korean separately.
3. Quality vs cost on ``benchmarks/router_qa.jsonl`` (facts, arithmetic, short code that is run
   against a test; Korean and English): every question answered by the expert and by the generalist,
   each answer scored 0/1. For a router's score, send the top share c of questions to the generalist,
   c = 0 … 1: quality(c). PGR(c) = (quality(c) − q_expert) / (q_generalist − q_expert);
   APGR = ∫ PGR dc (random ≈ 0.5); CPT(x) = the least c with PGR ≥ x; AUC of the router's
   1 − P(generalist) for "the expert's answer is good enough" (correct, or the generalist is no better).
   Routers: learned, random (mean of 200 orders), keyword (its complexity score), always-expert,
   always-generalist.
4. End-to-end answer latency per route (median seconds per answer of each model in step 3).

Answers are cached by model file and question in ``$LMGEN_HOME/bench/router_answers.jsonl`` so a
second run re-scores without re-generating (``--fresh`` to regenerate).

    python benchmarks/router.py [--json] [--fresh] [--judge-sample 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
QA = Path(__file__).with_name("router_qa.jsonl")
SHARES = np.linspace(0, 1, 21)


# --------------------------------------------------------------------------- scoring answers
def _last_number(text: str) -> float | None:
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    if not numbers:
        return None
    try:
        return float(numbers[-1].replace(",", ""))
    except ValueError:
        return None


def _code(text: str) -> str:
    block = re.search(r"```(?:python)?\n(.*?)```", text, re.S)
    return block.group(1) if block else text


def score_answer(item: dict[str, Any], answer: str) -> int:
    """1 when the answer is right: contains an expected string, ends on the number, or passes the test."""
    if item["kind"] == "fact":
        return int(any(c.lower() in answer.lower() for c in item["contains"]))
    if item["kind"] == "math":
        value = _last_number(answer)
        return int(value is not None and abs(value - item["number"]) < 1e-6)
    program = _code(answer) + "\n\n" + item["test"] + "\n"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(program)
    try:
        run = subprocess.run([sys.executable, f.name], capture_output=True, timeout=10, check=False)
        return int(run.returncode == 0)
    except subprocess.TimeoutExpired:
        return 0
    finally:
        os.unlink(f.name)


def answer_all(items: list[dict[str, Any]], fresh: bool) -> dict[str, list[dict[str, Any]]]:
    """Each model's answers (cached), with correctness and seconds."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from lmgen.agent.context import Context
    from lmgen.agent.models import load_runtime, local_chat_model
    from lmgen.stores.models import lmgen_home

    cache_file = lmgen_home() / "bench" / "router_answers.jsonl"
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache: dict[tuple[str, str], dict[str, Any]] = {}
    if cache_file.exists() and not fresh:
        for line in cache_file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            cache[(row["model"], row["q"])] = row
    out: dict[str, list[dict[str, Any]]] = {}
    for role in ("expert", "generalist"):
        ctx = Context(temperature=0.0, max_tokens=200)
        model = local_chat_model(role, ctx)
        rows = []
        for i, item in enumerate(items):
            key = (model.model_name, item["q"])
            if key not in cache:
                start = time.perf_counter()
                reply = model.invoke(
                    [SystemMessage(ctx.system_prompt), HumanMessage(item["q"])],
                    max_tokens=200 if item["kind"] == "code" else 96,
                )
                cache[key] = {
                    "model": model.model_name,
                    "q": item["q"],
                    "answer": reply.text,
                    "seconds": round(time.perf_counter() - start, 2),
                }
                with cache_file.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(cache[key], ensure_ascii=False) + "\n")
                print(f"  {role} {i + 1}/{len(items)} {cache[key]['seconds']:.1f} s", file=sys.stderr)
            row = dict(cache[key])
            row["correct"] = score_answer(item, row["answer"])
            rows.append(row)
        out[role] = rows
        model.runtime.llm.close()  # one model in memory at a time; drop it from the runtime cache too
        load_runtime.cache_clear()
    return out


# --------------------------------------------------------------------------- quality vs cost
def quality_curve(scores: np.ndarray, q_exp: np.ndarray, q_gen: np.ndarray) -> np.ndarray:
    """Quality when the top share c (by score) goes to the generalist, for each c in SHARES."""
    order = np.argsort(-scores, kind="stable")
    n = len(scores)
    out = []
    for c in SHARES:
        chosen = np.zeros(n, bool)
        chosen[order[: round(c * n)]] = True
        out.append(np.where(chosen, q_gen, q_exp).mean())
    return np.asarray(out)


def auc(positive_score: np.ndarray, labels: np.ndarray) -> float | None:
    """Mann-Whitney AUC of ``positive_score`` for ``labels`` (ties count half)."""
    pos, neg = positive_score[labels == 1], positive_score[labels == 0]
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def summarize(name: str, curve: np.ndarray, q_e: float, q_g: float, a: float | None) -> dict[str, Any]:
    gap = q_g - q_e
    row: dict[str, Any] = {
        "router": name,
        "auc": None if a is None else round(a, 3),
        "curve": [round(float(q), 4) for q in curve],  # quality at each share in SHARES
    }
    if gap <= 0:
        return row | {"apgr": None, "cpt50": None, "cpt80": None}
    pgr = (curve - q_e) / gap
    cpt = {}
    for x in (0.5, 0.8):
        hit = np.nonzero(pgr >= x - 1e-9)[0]
        cpt[x] = float(SHARES[hit[0]]) if len(hit) else None
    apgr = float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(SHARES)))  # trapezoid area under PGR(c)
    return row | {"apgr": round(apgr, 3), "cpt50": cpt[0.5], "cpt80": cpt[0.8]}


def cost_quality(items: list[dict[str, Any]], answers: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    from lmgen.agent.keyword_router import complexity
    from lmgen.agent.router import load_router, route_text

    router = load_router()
    report: dict[str, Any] = {}
    for lang in ("all", "en", "ko"):
        idx = [i for i, it in enumerate(items) if lang == "all" or it["lang"] == lang]
        q_e = np.array([answers["expert"][i]["correct"] for i in idx], float)
        q_g = np.array([answers["generalist"][i]["correct"] for i in idx], float)
        learned = np.array([route_text(items[i]["q"], model=router).p_generalist for i in idx])
        keyword = np.array([complexity(items[i]["q"])[0] for i in idx])
        good_enough = ((q_e == 1) | (q_g == 0)).astype(int)
        rng = np.random.default_rng(0)
        random_curves = [quality_curve(rng.random(len(idx)), q_e, q_g) for _ in range(200)]
        random_aucs = [auc(rng.random(len(idx)), good_enough) or 0.5 for _ in range(200)]
        rows = [
            summarize(
                "learned",
                quality_curve(learned, q_e, q_g),
                q_e.mean(),
                q_g.mean(),
                auc(1 - learned, good_enough),
            ),
            summarize(
                "random", np.mean(random_curves, axis=0), q_e.mean(), q_g.mean(), float(np.mean(random_aucs))
            ),
            summarize(
                "keyword",
                quality_curve(keyword, q_e, q_g),
                q_e.mean(),
                q_g.mean(),
                auc(1 - keyword, good_enough),
            ),
        ]
        at_default = float((learned >= 0.5).mean())
        report[lang] = {
            "n": len(idx),
            "q_expert": round(float(q_e.mean()), 3),
            "q_generalist": round(float(q_g.mean()), 3),
            "learned_share_at_0.5": round(at_default, 3),
            "learned_quality_at_0.5": round(float(np.where(learned >= 0.5, q_g, q_e).mean()), 3),
            "routers": rows,
        }
    return report


def save_curves(report: dict[str, Any]) -> Path:
    """The quality-vs-cost curves of every router, plus both fixed policies, for the app's Router tab."""
    from lmgen.agent.router_data import DATA_DIR

    curves = {row["router"]: row["curve"] for row in report["routers"]}
    curves["always-expert"] = [report["q_expert"]] * len(SHARES)
    curves["always-generalist"] = [report["q_generalist"]] * len(SHARES)
    path = DATA_DIR / "router" / "quality_cost.json"
    data = {"shares": [round(float(x), 3) for x in SHARES], "curves": curves, "n": report["n"]}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON document.")
    parser.add_argument("--fresh", action="store_true", help="Regenerate the cached answers.")
    parser.add_argument("--judge-sample", type=int, default=20, help="Requests timed through the judge.")
    parser.add_argument("--skip-answers", action="store_true", help="Latency and accuracy only.")
    parser.add_argument(
        "--save-curves", action="store_true", help="Write the curves the app plots (agent/data/router)."
    )
    args = parser.parse_args()

    from lmgen.agent import prompts
    from lmgen.agent.context import Context
    from lmgen.agent.keyword_router import route_text as keyword_route
    from lmgen.agent.models import expert_runtime
    from lmgen.agent.router import evaluate_router, load_router, route_text
    from lmgen.agent.router_data import load_requests

    result: dict[str, Any] = {}
    test = load_requests(split="test")
    router = load_router()
    route_text("warm up", model=router)
    lat = []
    for r in test:
        start = time.perf_counter()
        route_text(r.text, model=router)
        lat.append((time.perf_counter() - start) * 1000)
    judge = expert_runtime(Context(), prompts.JUDGE_PROMPT)
    judge_lat = []
    for r in test[: args.judge_sample]:
        start = time.perf_counter()
        route_text(r.text, model=router, judge=judge, judge_margin=1.0)  # always ask the judge
        judge_lat.append((time.perf_counter() - start) * 1000)
    result["latency_ms"] = {
        "fast_p50": round(float(np.percentile(lat, 50)), 2),
        "fast_p95": round(float(np.percentile(lat, 95)), 2),
        "judge_p50": round(float(np.percentile(judge_lat, 50)), 1),
        "judge_p95": round(float(np.percentile(judge_lat, 95)), 1),
    }
    plain = evaluate_router(split="test")
    judged = evaluate_router(split="test", judge=judge)
    by_lang_kw: dict[str, float] = {}
    for lang in ("en", "ko"):
        sub = [r for r in test if r.lang == lang]
        by_lang_kw[lang] = round(sum(keyword_route(r.text).route == r.route for r in sub) / len(sub), 3)
    result["accuracy"] = {
        "learned": {k: plain[k] for k in ("accuracy", "intent_accuracy", "by_language", "generalist_share")},
        "learned+judge": {
            k: judged[k] for k in ("accuracy", "intent_accuracy", "by_language", "generalist_share", "judged")
        },
        "keyword": {
            "accuracy": round(sum(keyword_route(r.text).route == r.route for r in test) / len(test), 3),
            "intent_accuracy": round(
                sum(keyword_route(r.text).intent == r.intent for r in test) / len(test), 3
            ),
            "by_language_route": by_lang_kw,
        },
    }
    if not args.skip_answers:
        items = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
        answers = answer_all(items, args.fresh)
        result["quality_vs_cost"] = cost_quality(items, answers)
        if args.save_curves:
            save_curves(result["quality_vs_cost"]["all"])
        result["answer_seconds"] = {
            role: round(statistics.median(r["seconds"] for r in rows), 2) for role, rows in answers.items()
        }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    lt = result["latency_ms"]
    print(
        f"fast path (e5 + heads): p50 {lt['fast_p50']} ms, p95 {lt['fast_p95']} ms over {len(test)} requests"
    )
    print(f"judge path (expert label): p50 {lt['judge_p50']} ms, p95 {lt['judge_p95']} ms")
    for name, acc in result["accuracy"].items():
        print(
            f"{name:14} route {acc['accuracy']:.3f}  intent {acc['intent_accuracy']:.3f}  "
            f"{acc.get('by_language', acc.get('by_language_route'))}"
        )
    for lang, rep in result.get("quality_vs_cost", {}).items():
        print(
            f"\nquality vs cost [{lang}] n={rep['n']}: expert {rep['q_expert']:.3f}, "
            f"generalist {rep['q_generalist']:.3f}; learned at 0.5: share {rep['learned_share_at_0.5']:.2f}, "
            f"quality {rep['learned_quality_at_0.5']:.3f}"
        )
        print(f"  {'router':10}{'APGR':>8}{'CPT(50%)':>10}{'CPT(80%)':>10}{'AUC':>8}")
        for row in rep["routers"]:

            def fmt(v: Any) -> str:
                return "n/a" if v is None else f"{v:.2f}"

            print(
                f"  {row['router']:10}{fmt(row['apgr']):>8}{fmt(row['cpt50']):>10}{fmt(row['cpt80']):>10}"
                f"{fmt(row['auc']):>8}"
            )
        print(
            "  always-expert: share 0.00, quality",
            rep["q_expert"],
            "| always-generalist: share 1.00, quality",
            rep["q_generalist"],
        )
    if "answer_seconds" in result:
        print(f"\nmedian seconds per answer: {result['answer_seconds']}")


if __name__ == "__main__":
    main()
