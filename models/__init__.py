"""Framework-free engines (NumPy, PyTorch, llama.cpp).

Nothing under ``lmgen.models`` imports LangChain, LangGraph, Gradio or MCP; engines take
explicit constructor arguments and never read settings or environment variables.
"""
