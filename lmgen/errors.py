"""Typed errors shared by every layer.

Each error carries a one-line message meant for a person; ``hint`` is the command
or setting that fixes it. The CLI prints ``error: <message>`` and exits non-zero.
"""

from __future__ import annotations


class LmgenError(Exception):
    """Base class for every error lmgen raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message and the hint on a single line."""
        text = self.message if not self.hint else f"{self.message} (fix: {self.hint})"
        return " ".join(text.split())


def brief(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` of any exception on one line, cut to ``limit`` characters (for notices, logs)."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:limit]


class InputError(LmgenError, ValueError):
    """The user's input is unusable: empty, too long, malformed."""

    exit_code = 2


class ModelFileError(LmgenError):
    """A model file is missing, truncated or does not match its checksum."""

    exit_code = 3

    def __init__(
        self, message: str, *, role: str | None = None, path: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.role = role
        self.path = path


class ProvisionError(LmgenError):
    """A packaged model could not be fetched or assembled."""

    exit_code = 4


class BackendUnavailableError(LmgenError):
    """A remote model server did not answer or answered with an error."""

    exit_code = 5
