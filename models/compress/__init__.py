"""Compression lab: quantization, pruning and distillation of lmgen's own models.

Each module is an engine (no LangChain): ``gguf`` re-quantizes llama.cpp models, ``quantize``
lowers PyTorch weights to int8, ``prune`` removes weights, heads and channels, ``distill``
trains a smaller BERT from a larger one, and ``report`` measures every variant against its
original in one table.
"""
