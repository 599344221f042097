"""From a request whose intent is a tool's to that tool's arguments, without asking a model.

The small local models are unreliable at emitting tool calls (see STACK_NOTES), and these
requests carry their arguments in plain sight: a text with ``[MASK]``, two quoted sentences, "draw
a 7 with the GAN". When the arguments cannot be read off the text, there is no plan and a
model answers instead (e.g. "what is NSP?" is a question about NSP, not a request to run it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_QUOTED = re.compile(r"[\"“”「」『』'‘’](.+?)[\"“”「」『』'‘’]")
_MASK = re.compile(r"\[MASK\]|<mask>", re.I)
_MODELS = (
    ("faces", re.compile(r"\bfaces?\b|얼굴", re.I)),
    ("vae", re.compile(r"\bvae\b|변분", re.I)),
    ("gan", re.compile(r"\b(dc)?gan\b|적대", re.I)),
    ("ae", re.compile(r"\bauto-?encoder\b|\bae\b|오토인코더", re.I)),
    ("ddpm", re.compile(r"\bddpm\b|\bddim\b|diffusion|확산", re.I)),
)
_DIGIT = re.compile(
    r"(?:digit|number|숫자)\s*(\d)\b|\b(?:draw|sketch)\s+(?:an?\s+|the\s+)?(\d)\b|(\d)\s*(?:을|를|이|가)?\s*그려",
    re.I,
)
_COUNT = re.compile(
    r"\b(\d{1,3})\s*(?:images?|pictures?|samples?|digits?|faces?)\b|(\d{1,3})\s*(?:장|개)", re.I
)
_STEPS = re.compile(r"\b(\d{1,4})\s*(?:steps?|스텝|단계)", re.I)


@dataclass
class ToolPlan:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


def _quoted(text: str) -> list[str]:
    return [q.strip() for q in _QUOTED.findall(text) if q.strip()]


def plan_tool_call(intent: str, text: str) -> ToolPlan | None:
    """The tool and arguments a request asks for, or ``None`` when a model should answer."""
    if intent == "fill_mask":
        if not _MASK.search(text):
            return None
        masked = [q for q in _quoted(text) if _MASK.search(q)]
        if masked:
            return ToolPlan("fill_mask", {"text": masked[0]})
        # "Fill the blank: 나는 [MASK]에 갔다" → the part after the colon
        head, sep, tail = text.partition(":")
        body = tail.strip() if sep and _MASK.search(tail) and len(head) < 60 else text.strip()
        return ToolPlan("fill_mask", {"text": body})
    if intent == "nsp":
        quoted = _quoted(text)
        if len(quoted) >= 2:
            return ToolPlan("next_sentence", {"sentence_a": quoted[0], "sentence_b": quoted[1]})
        return None
    if intent == "ppl":
        quoted = _quoted(text)
        return ToolPlan("score_perplexity", {"text": quoted[0]}) if quoted else None
    if intent == "image":
        args: dict[str, Any] = {"model": "ddpm", "count": 8, "seed": 0}
        for name, pattern in _MODELS:
            if pattern.search(text):
                args["model"] = name
                break
        digit = _DIGIT.search(text)
        if digit:
            args["digit"] = int(next(g for g in digit.groups() if g is not None))
            args["model"] = "ddpm"  # only the diffusion model draws a chosen class
        count = _COUNT.search(text)
        if count:
            args["count"] = max(1, min(64, int(next(g for g in count.groups() if g is not None))))
        steps = _STEPS.search(text)
        if steps and args["model"] == "ddpm":
            args["steps"] = int(steps.group(1))
        return ToolPlan("generate_images", args)
    return None


def describe_result(name: str, result: Any) -> str:
    """A short answer in words for what a tool returned."""
    if name == "fill_mask":
        lines = []
        for index, candidates in enumerate(result, 1):
            best = ", ".join(f"{c['token_str']} ({c['score']:.1%})" for c in candidates)
            lines.append(
                f"[MASK] {index}: {best}" if len(result) > 1 else f"BERT fills the mask with: {best}"
            )
        if result and result[0]:
            lines.append(f"→ {result[0][0]['sequence']}")
        return "\n".join(lines)
    if name == "next_sentence":
        return f"{result['label']}: P(IsNext) = {result['is_next']:.1%} by BERT's next-sentence head."
    if name == "score_perplexity":
        return (
            f"N-gram perplexity: {result['ppl']:.1f} ({result['tokens']} tokens, {result['oov']} out of "
            f"vocabulary; {result['ppl_excl_oov']:.1f} without them)."
        )
    return str(result)
