"""An outside agent: langchain-mcp-adapters (which needs mcp<2) loads lmgen's MCP tools into a
LangChain agent. Runs in its own throwaway venv, started by ``test_mcp.py``; prints one JSON line.

    python mcp_adapters_client.py LMGEN_COMMAND [ARGS...]
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_mcp_adapters.client import MultiServerMCPClient


class ScriptedToolCaller(GenericFakeChatModel):
    """Calls fill_mask once, then answers: stands in for a model, so the test is about the tools."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


async def main() -> None:
    command, *args = sys.argv[1:]
    client = MultiServerMCPClient(
        {"lmgen": {"command": command, "args": [*args, "mcp"], "transport": "stdio"}}
    )
    tools = await client.get_tools()
    by_name = {t.name: t for t in tools}
    direct = await by_name["next_sentence"].ainvoke(
        {"sentence_a": "I lost my keys.", "sentence_b": "So I called a locksmith."}
    )
    model = ScriptedToolCaller(
        messages=iter(
            [
                AIMessage(
                    "",
                    tool_calls=[
                        {
                            "name": "fill_mask",
                            "args": {"text": "I drink [MASK] every morning.", "top_k": 3},
                            "id": "c1",
                        }
                    ],
                ),
                AIMessage("done"),
            ]
        )
    )
    agent = create_agent(model, tools)
    state = await agent.ainvoke({"messages": [{"role": "user", "content": "fill the mask"}]})
    tool_messages = [m for m in state["messages"] if m.type == "tool"]
    print(
        json.dumps(
            {
                "tools": sorted(by_name),
                "next_sentence": str(direct)[:2000],
                "agent_tool": tool_messages[0].name if tool_messages else None,
                "agent_result": str(tool_messages[0].content)[:2000] if tool_messages else None,
                "agent_status": getattr(tool_messages[0], "status", None) if tool_messages else None,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
