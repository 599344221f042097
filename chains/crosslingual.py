"""Retrieval across languages: a Korean question over English documents (or the reverse).

multilingual-e5-small places a Korean question and the English passage that answers it close, but
not close enough: on the cross-lingual QA set (``benchmarks/rag_qa_crosslingual.jsonl``, Korean
questions over the English Debian FAQ and Reference) plain hybrid search finds the answer in the top
5 for 87% of the questions, and BM25 cannot help at all across scripts. So the question is searched
once as asked; when most of what it found is in the *other* language, a chat model translates it into
that language and both wordings are searched again, every ranking fused by reciprocal rank
(:meth:`KnowledgeBase.search` with ``variants``). Fusing, not replacing, keeps what the original
wording found when a small model mistranslates a term.

The gate is what keeps same-language search as it was: a Korean question whose hits are Korean is
never translated (translating it anyway pulled the parallel English docs above the Korean ones and
cost 0.17 nDCG@10 on the shipped QA set), and it is also what keeps the model call off the common path.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from lmgen.errors import brief
from lmgen.stores.knowledge import Hit, KnowledgeBase, Mode

_HANGUL = re.compile(r"[가-힣]")
_LATIN = re.compile(r"[A-Za-z]")
LANGUAGE_NAMES = {"ko": "Korean", "en": "English"}

# Two worked examples keep a 0.5-1.5B model translating instead of answering the question.
_EXAMPLES = {
    ("ko", "en"): [
        ("리눅스에서 디스크 용량을 확인하려면 어떻게 해?", "How do I check disk space on Linux?"),
        ("파이썬의 가비지 컬렉터는 무엇을 하나요?", "What does Python's garbage collector do?"),
    ],
    ("en", "ko"): [
        ("How do I check disk space on Linux?", "리눅스에서 디스크 용량을 확인하려면 어떻게 하나요?"),
        ("What does Python's garbage collector do?", "파이썬의 가비지 컬렉터는 무엇을 하나요?"),
    ],
}
TRANSLATE_PROMPT = (
    "You are a translator. Translate each {source} question into one {target} question. Keep names, "
    "commands and technical terms as they are. Do not answer it; output only the {target} question."
)
Translator = Callable[[str, str], str]


def language(text: str) -> str:
    """ "ko" when the text is mostly Hangul, else "en" (the two languages lmgen serves)."""
    hangul = len(_HANGUL.findall(text))
    return "ko" if hangul and hangul >= len(_LATIN.findall(text)) / 3 else "en"


def hits_language(hits: Sequence[Hit]) -> str | None:
    """The language most of ``hits`` are written in (None for no hits)."""
    if not hits:
        return None
    korean = sum(language(h.text) == "ko" for h in hits)
    return "ko" if korean * 2 > len(hits) else "en"


def translation_messages(text: str, source: str, target: str) -> list[BaseMessage]:
    names = {"source": LANGUAGE_NAMES[source], "target": LANGUAGE_NAMES[target]}
    messages: list[BaseMessage] = [SystemMessage(TRANSLATE_PROMPT.format(**names))]
    for question, answer in _EXAMPLES[(source, target)]:
        messages += [HumanMessage(question), AIMessage(answer)]
    messages.append(HumanMessage(text))
    return messages


def clean_translation(reply: str, original: str) -> str:
    """The first line of the reply without quotes or a label; empty when it is no translation."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    out = re.sub(r"^(translation|english|korean|번역)\s*[:：]\s*", "", lines[0], flags=re.I)
    out = out.strip().strip("\"'“”‘’`").strip()
    if not out or out == original.strip() or len(out) > 3 * len(original) + 40:
        return ""
    return out


def translate(model: BaseChatModel, text: str, target: str) -> str:
    """``text`` translated into ``target`` ("ko"/"en") by ``model``; "" when it gave no translation."""
    source = language(text)
    if source == target:
        return text
    reply = model.invoke(translation_messages(text, source, target))
    return clean_translation(str(reply.text), text)


class TranslationCache:
    """Recent translations, so a question asked again (a retry, the eval loop) costs no model call."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    def get(self, key: tuple[str, str, str], make: Callable[[], str]) -> str:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._items[key] = make()
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


@dataclass
class CrossLingualInfo:
    """What the cross-language step did for one search (``translated`` empty when it did nothing)."""

    query_language: str
    hits_language: str | None
    translated: str = ""
    translate_ms: float = 0.0
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        out = {
            "query_language": self.query_language,
            "hits_language": self.hits_language,
            "translated": self.translated,
            "translate_ms": self.translate_ms,
        }
        return out | ({"problem": self.problem} if self.problem else {})


def search_across_languages(
    kb: KnowledgeBase,
    query: str,
    translator: Translator | None,
    *,
    k: int = 5,
    mode: Mode = "hybrid",
    source: str | None = None,
    folder: str | None = None,
    mmr: bool = False,
) -> tuple[list[Hit], CrossLingualInfo]:
    """``kb.search`` that also searches a translation when the hits are in the other language.

    A translator that fails (its model is missing or down) leaves the plain hits and says why in
    ``info.problem``; retrieval never fails because of it.
    """
    first_k = max(k, 5) if k >= 1 else k  # a bad k still gets search's own error
    hits = kb.search(query, k=first_k, mode=mode, source=source, folder=folder, mmr=mmr)
    info = CrossLingualInfo(language(query), hits_language(hits))
    if translator is None or info.hits_language in (None, info.query_language):
        return hits[:k], info
    start = time.perf_counter()
    try:
        info.translated = translator(query, str(info.hits_language))
    except Exception as exc:
        info.problem = brief(exc)
    info.translate_ms = round((time.perf_counter() - start) * 1000, 1)
    if not info.translated:
        return hits[:k], info
    fused = kb.search(
        query, k=k, mode=mode, source=source, folder=folder, mmr=mmr, variants=[info.translated]
    )
    return fused, info
