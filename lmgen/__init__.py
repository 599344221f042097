"""lmgen: a local-first agentic application for language and generative models.

The package is a set of layers that import one way only:
``ui → agent → chains → tools → models / stores``. Importing :mod:`lmgen` itself
loads nothing heavy; each layer imports its own dependencies lazily.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
