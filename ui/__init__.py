"""Shells over the agent: the CLI, the Gradio UI (and later the MCP server)."""
