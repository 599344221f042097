"""The plain chat chain: system prompt + the recent history that fits a token budget → model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage, trim_messages
from langchain_core.runnables import Runnable, RunnableLambda


def recent_history(
    messages: Sequence[BaseMessage], budget: int, count: Callable[[str], int]
) -> list[BaseMessage]:
    """The newest messages whose text fits ``budget`` tokens, starting on a human turn.

    The newest message is always kept, even alone over budget (the model then reports the
    overflow as a clear error instead of silently losing the question).
    """
    kept = trim_messages(
        messages,
        max_tokens=budget,
        strategy="last",
        start_on="human",
        include_system=False,
        token_counter=lambda ms: sum(count(m.text) + 4 for m in ms),  # ~4 tokens of template per turn
    )
    return kept or list(messages[-1:])


def build_chat_chain(
    model: BaseChatModel, system_prompt: str, budget: int, count: Callable[[str], int]
) -> Runnable:
    """A chain from a list of messages to the model's reply (an ``AIMessage``)."""

    def prompt(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        history = [m for m in messages if m.type != "system"]
        return [SystemMessage(system_prompt), *recent_history(history, budget, count)]

    return RunnableLambda(prompt, name="chat_prompt") | model
