"""What every CLI command shares: the ``--json`` flag and the one way output is printed."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``data`` as JSON, or ``text`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(
            (text if text is not None else json.dumps(data, ensure_ascii=False, indent=2)) + "\n"
        )
    sys.stdout.flush()
