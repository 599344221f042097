"""What every CLI command shares: the ``--json`` flag and the one way output is printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
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


def source_lines(sources: list[dict[str, Any]]) -> list[str]:
    """``[n] file › heading`` for each source a grounded answer cited (all of them if none was)."""
    cited = [s for s in sources if s.get("cited")] or sources
    out = []
    for s in cited:
        where = Path(s["source"]).name + (f" p.{s['page']}" if s.get("page") else "")
        out.append(f"[{s['n']}] {where}" + (f" › {s['heading']}" if s.get("heading") else ""))
    return out


def check_port_free(host: str, port: int) -> None:
    """Fail with one clear line (not a server's traceback) when ``host:port`` cannot be bound."""
    import socket

    from lmgen.errors import LmgenError

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise LmgenError(
                f"cannot listen on {host}:{port} ({exc.strerror})", hint="choose another --port"
            ) from None
