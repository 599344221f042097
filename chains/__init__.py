"""LCEL chains. Each takes its chat model as an argument; nothing here builds models."""
