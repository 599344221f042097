"""The first router, kept as a baseline for `benchmarks/router.py`: intent by keyword, route by a

Requests that a tool answers (perplexity, fill-mask, NSP, retrieval, images) and short
questions go to the fast local expert; long, code-heavy or analytical requests go to the
generalist. Every decision carries its score and the features behind it, so users can see
why a request went where it did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lmgen.agent.state import Intent, Route

# (intent, pattern) in priority order; Korean and English cues. An explicit mask token wins;
# then a request about the user's documents ("according to the docs, what is NSP?") beats the
# keywords of the tools it mentions.
_INTENT_PATTERNS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    ("fill_mask", re.compile(r"\[MASK\]|<mask>", re.I)),
    (
        "rag",
        re.compile(
            r"according to (the|my) (docs|documents|files)|in (the|my) (docs|documents|files)|\bsources?\b"
            r"|문서(에서|에 따르면)|자료에서",
            re.I,
        ),
    ),
    ("nsp", re.compile(r"next[- ]sentence|\bNSP\b|다음 문장", re.I)),
    ("ppl", re.compile(r"perplexity|\bppl\b|퍼플렉서티|혼잡도|n-?gram|엔그램", re.I)),
    (
        "image",
        re.compile(
            r"\b(draw|sketch|generate (\d+ |an? )?(image|picture|digit|face)s?"
            r"|sample (\d+ )?(images|digits|faces))\b"
            r"|\b(ddpm|ddim)\b|그려|이미지(를)? (생성|만들)",
            re.I,
        ),
    ),
    ("fill_mask", re.compile(r"fill[- ]mask|fill in the blank|빈칸", re.I)),
)
_CODE = re.compile(
    r"```|\b(def|class|function|implement|write (a|the) (program|script|function|code)|"
    r"refactor|debug|regex|sql|python|javascript)\b|코드|구현|프로그램",
    re.I,
)
_REASONING = re.compile(
    r"\b(explain|why|compare|difference|step[- ]by[- ]step|prove|derive|analy[sz]e|"
    r"pros and cons|trade-?offs?|in detail)\b|설명|왜|비교|차이|분석|증명|자세히",
    re.I,
)


@dataclass(frozen=True)
class RouteDecision:
    """Where a request goes and why."""

    route: Route
    intent: Intent
    score: float  # confidence in ``route``, 0.5 (coin flip) … 1.0
    complexity: float  # 0 … 1; ≥ threshold → generalist
    features: dict[str, float] = field(default_factory=dict)


def detect_intent(text: str) -> Intent:
    for intent, pattern in _INTENT_PATTERNS:
        if pattern.search(text):
            return intent
    return "chat"


def complexity(text: str) -> tuple[float, dict[str, float]]:
    """A 0…1 score of how much a request needs the bigger model, with its parts."""
    words = len(text.split())
    features = {
        "length": round(0.4 * min(1.0, words / 80), 3),
        "code": 0.35 if _CODE.search(text) else 0.0,
        "reasoning": 0.3 if _REASONING.search(text) else 0.0,
        "questions": 0.15 if text.count("?") + text.count("？") > 1 else 0.0,
    }
    return min(1.0, sum(features.values())), features


def route_text(text: str, threshold: float = 0.5) -> RouteDecision:
    """Decide the route and intent of one request."""
    intent = detect_intent(text)
    score, features = complexity(text)
    if intent != "chat":
        # A tool does the work; the small model only phrases the result.
        return RouteDecision("expert", intent, 0.9, score, features)
    route: Route = "generalist" if score >= threshold else "expert"
    confidence = min(1.0, 0.5 + abs(score - threshold))
    return RouteDecision(route, intent, round(confidence, 3), round(score, 3), features)
