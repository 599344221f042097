"""Tool calls chosen and filled by a model.

The small local models emit unreliable free-form tool calls (STACK_NOTES), so lmgen forces one
named tool at a time: the tool's arguments schema (from its LangChain ``args_schema``) becomes
the request's ``tools`` entry and ``tool_choice`` names it. A local GGUF turns that schema into a
llama.cpp grammar (:class:`~lmgen.agent.models.LocalLlamaChatModel`), an OpenAI-compatible server
does the same with its own, so the reply always parses; pydantic then validates it against the
tool's own schema, and text arguments must come from the request itself — a model that invents
the sentence to score gets a clarifying question instead of a wrong tool call.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from lmgen.errors import LmgenError

log = logging.getLogger(__name__)
# The tool that serves each tool intent.
INTENT_TOOLS = {
    "ppl": "score_perplexity",
    "fill_mask": "fill_mask",
    "nsp": "next_sentence",
    "image": "generate_images",
}
# Arguments left to people, never filled by a model: a checkpoint path or hub id, and fill-mask's
# candidate list (the 0.5B expert filled it with words from the sentence, ["books"], or looped on it),
# and whether retrieval may translate the query (a cost choice, not part of the request).
HIDDEN_ARGS = {"model", "targets", "translate"}
# Text arguments that must be copied from the request, not made up.
GROUNDED_ARGS = {"text", "sentence_a", "sentence_b", "query"}
_MASK = re.compile(r"\[MASK\]|<mask>", re.I)
_QUOTES = "\"'“”‘’「」『』`"


def _tool(name: str) -> BaseTool:
    from lmgen.tools import TOOLS

    for tool in TOOLS:
        if tool.name == name:
            return tool
    raise LmgenError(f"unknown tool {name!r}")


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A property schema a grammar can follow: ``anyOf [X, null]`` → X, titles and defaults dropped."""
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(options) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"} | options[0]
            return _plain(merged)
    out = {k: v for k, v in schema.items() if k not in {"title", "default"}}
    if out.get("type") == "array" and isinstance(out.get("items"), dict):
        out["items"] = _plain(out["items"])
    return out


def arguments_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema a model fills for ``tool``: its own args schema minus people-only arguments."""
    full = tool.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
    hidden = HIDDEN_ARGS - {"model"} if tool.name == "generate_images" else HIDDEN_ARGS
    props = {k: _plain(v) for k, v in full.get("properties", {}).items() if k not in hidden}
    required = [k for k in full.get("required", []) if k in props]
    return {"type": "object", "properties": props, "required": required}


def arguments_text(tool: BaseTool) -> str:
    """The fillable arguments as lines a model reads: ``- name (type, required): description``."""
    schema = arguments_schema(tool)
    lines = []
    for key, prop in schema["properties"].items():
        kind = "one of " + ", ".join(prop["enum"]) if "enum" in prop else prop.get("type", "value")
        need = "required" if key in schema["required"] else "optional"
        lines.append(f"- {key} ({kind}, {need}): {prop.get('description', '')}")
    return "\n".join(lines)


def openai_tool(tool: BaseTool) -> dict[str, Any]:
    """``tool`` in the OpenAI ``tools`` format with the fillable schema (what a model is shown)."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": arguments_schema(tool),
        },
    }


def force_tool_call(
    model: BaseChatModel, spec: dict[str, Any], messages: list[BaseMessage]
) -> dict[str, Any]:
    """Ask ``model`` for the arguments of the one tool ``spec`` names; returns the raw arguments.

    Raises:
        LmgenError: the model answered without a tool call.
    """
    name = spec["function"]["name"]
    choice: Any = {"type": "function", "function": {"name": name}}  # providers take the OpenAI dict
    bound = model.bind_tools([spec], tool_choice=choice)
    reply = bound.invoke(messages)
    calls = getattr(reply, "tool_calls", None) or []
    if not calls:
        # some servers put a forced call's JSON in the content instead
        text = reply.text if isinstance(reply, AIMessage) else str(reply)
        try:
            args = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LmgenError(f"the model did not call {name}") from exc
        return dict(args) if isinstance(args, dict) else {}
    return dict(calls[0].get("args") or {})


_NUMBER_WORDS = {
    0: ("zero", "영"),
    1: ("one", "하나"),
    2: ("two", "둘"),
    3: ("three", "셋"),
    4: ("four", "넷"),
    5: ("five", "다섯"),
    6: ("six", "여섯"),
    7: ("seven", "일곱"),
    8: ("eight", "여덟"),
    9: ("nine", "아홉"),
    10: ("ten", "열"),
}


def _grounded(value: Any, haystack: str) -> bool:
    """Whether an optional argument's value was said in the (normalized) request.

    Models fill optional fields eagerly (top_k 1, targets ["MASK"], order 10**15); an optional value the
    user never wrote is dropped so the tool's default serves. Enum choices (a generator's name) count
    as said when the request names them or one of their spelled-out forms.
    """
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        if re.search(rf"(?<!\d){value}(?!\d)", haystack):
            return True
        return any(
            w in haystack.split() or (len(w) > 1 and w in haystack) for w in _NUMBER_WORDS.get(value, ())
        )
    if isinstance(value, list):
        return bool(value) and all(_norm(str(v)) in haystack for v in value)
    if isinstance(value, str):
        return _norm(value) in haystack or any(a in haystack for a in _ALIASES.get(value, ()))
    return True


# How people name each generator and dataset (the ``model`` and ``dataset`` of generate_images).
_ALIASES = {
    "ae": ("autoencoder", "auto-encoder", "오토인코더"),
    "vae": ("variational", "변분"),
    "gan": ("adversarial", "적대"),
    "ddpm": ("diffusion", "ddim", "확산"),
    "faces": ("face", "얼굴"),
    "fashion": ("clothes", "clothing", "garment", "옷", "의류", "패션"),
}


def _norm(text: str) -> str:
    text = _MASK.sub("[MASK]", unicodedata.normalize("NFC", text)).casefold()
    return " ".join(text.translate({ord(c): " " for c in _QUOTES}).split())


@dataclass
class CheckedCall:
    """A validated tool call, or the reason it cannot run (then ``args`` is empty)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


def check_call(name: str, args: dict[str, Any], request: str) -> CheckedCall:
    """Validate ``args`` with the tool's own schema and check text arguments against the request."""
    tool = _tool(name)
    args = {k: v for k, v in args.items() if v is not None and v != ""}
    schema: Any = tool.args_schema
    required = set(arguments_schema(tool)["required"])
    while True:
        try:
            validated = schema.model_validate(args)
            break
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first.get("loc", ("arguments",))[0])
            if where in args and where not in required:
                # an optional argument the model got wrong (order 10**15): its default serves instead
                log.info("dropping invalid optional argument %s=%r of %s", where, args[where], name)
                args = {k: v for k, v in args.items() if k != where}
                continue
            return CheckedCall(name, problem=f"{where}: {first.get('msg', 'invalid')}")
    clean = {k: v for k, v in dict(validated).items() if k in args}
    haystack = _norm(request)
    unmasked = _norm(_MASK.sub(" ", request))  # "[MASK]" itself is no target word
    for key in list(clean):
        if key not in required and not _grounded(clean[key], unmasked):
            log.info("dropping %s=%r of %s: not in the request", key, clean[key], name)
            del clean[key]
    if name == "generate_images" and clean.get("model", "ddpm") != "ddpm":
        for key in ("steps", "digit"):  # only the diffusion model takes them
            clean.pop(key, None)
    for key in GROUNDED_ARGS & clean.keys():
        value = clean[key] = str(clean[key]).strip().strip(_QUOTES).strip()
        if not value:
            return CheckedCall(name, problem=f"{key} is empty")
        if _norm(value) not in haystack:
            return CheckedCall(name, problem=f"{key} {value[:60]!r} is not in the request")
    if name == "fill_mask":
        if not _MASK.search(str(clean.get("text", ""))):
            return CheckedCall(name, problem="the text has no [MASK]")
        clean["text"] = _MASK.sub("[MASK]", str(clean["text"]))
    if name == "next_sentence" and _norm(str(clean["sentence_a"])) == _norm(str(clean["sentence_b"])):
        return CheckedCall(name, problem="the two sentences are the same")
    return CheckedCall(name, clean)


def run_checked(call: CheckedCall) -> tuple[str, Any, list[str]]:
    """Run a validated call: the reply text, the JSON-able result and any image files.

    Raises:
        LmgenError: the tool itself failed (bad input it could not handle, a missing model file).
    """
    tool = _tool(call.name)
    if call.name == "generate_images":
        message = tool.invoke({"type": "tool_call", "id": "call", "name": call.name, "args": call.args})
        artifact = message.artifact
        result = {k: artifact[k] for k in ("grid", "model", "seconds")} | {"count": len(artifact["files"])}
        return str(message.content), result, [artifact["grid"]]
    result = tool.invoke(call.args)
    return describe_result(call.name, result), result, []


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
    if name == "pseudo_perplexity":
        return f"Pseudo-perplexity {result.get('pppl', 0):.1f} (BERT, each token masked in turn)."
    return json.dumps(result, ensure_ascii=False, default=str)[:1000]


def compact_result(name: str, result: Any) -> Any:
    """What a model reads of a tool's result: the key figures, not a per-token dump."""
    if name == "score_perplexity" and isinstance(result, dict):
        return {k: result.get(k) for k in ("ppl", "ppl_excl_oov", "tokens", "oov", "order")}
    if name == "fill_mask" and isinstance(result, list):
        return [[{"token": c["token_str"], "score": round(c["score"], 4)} for c in cands] for cands in result]
    if name == "pseudo_perplexity" and isinstance(result, dict):
        return {k: result.get(k) for k in ("pppl", "pll", "tokens")}
    if name == "retrieve_documents" and isinstance(result, list):
        return [{"source": h.get("source"), "text": str(h.get("text", ""))[:300]} for h in result[:3]]
    return result
