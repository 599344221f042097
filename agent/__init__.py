"""The LangGraph agent: settings, state, router, chat-model factory and graph."""
