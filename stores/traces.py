"""Every turn's route, scores, tools, tokens and latency, kept in SQLite (``$LMGEN_HOME/traces.sqlite``).

Written by the API after each turn; read by ``lmgen stats``. One row per turn, plain columns plus a
JSON column for the tool calls, so the file is easy to inspect with any SQLite client.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from lmgen.stores.models import lmgen_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    thread TEXT,
    route TEXT,
    intent TEXT,
    method TEXT,
    p_generalist REAL,
    threshold REAL,
    model TEXT,
    tools TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms REAL,
    route_ms REAL,
    notice TEXT,
    language TEXT
)
"""
_LOCK = threading.Lock()


def traces_path(home: Path | None = None) -> Path:
    return (home or lmgen_home()) / "traces.sqlite"


def _connect(path: Path | None = None) -> sqlite3.Connection:
    path = path or traces_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=10)
    conn.execute(_SCHEMA)
    return conn


def record_turn(row: dict[str, Any], path: Path | None = None) -> None:
    """Append one turn (keys as the table's columns; ``tools`` a list of tool names)."""
    values = {
        "ts": row.get("ts", time.time()),
        "thread": row.get("thread"),
        "route": row.get("route"),
        "intent": row.get("intent"),
        "method": row.get("method"),
        "p_generalist": row.get("p_generalist"),
        "threshold": row.get("threshold"),
        "model": row.get("model"),
        "tools": json.dumps(row.get("tools", []), ensure_ascii=False),
        "prompt_tokens": row.get("prompt_tokens"),
        "completion_tokens": row.get("completion_tokens"),
        "latency_ms": row.get("latency_ms"),
        "route_ms": row.get("route_ms"),
        "notice": row.get("notice") or None,
        "language": row.get("language"),
    }
    with _LOCK, _connect(path) as conn:
        conn.execute(
            f"INSERT INTO turns ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
            list(values.values()),
        )


def stats(path: Path | None = None, since: float | None = None) -> dict[str, Any]:
    """Share per route, median latency per route, tokens per model, tool usage, fallbacks."""
    path = path or traces_path()
    if not path.exists():
        return {"turns": 0, "routes": {}, "models": {}, "tools": {}, "intents": {}, "fallbacks": 0}
    with _LOCK, _connect(path) as conn:
        rows = conn.execute(
            "SELECT route, intent, model, tools, prompt_tokens, completion_tokens, latency_ms, route_ms, "
            "notice FROM turns WHERE ts >= ?",
            (since or 0.0,),
        ).fetchall()
    total = len(rows)
    routes: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, int]] = {}
    tools: dict[str, int] = {}
    intents: dict[str, int] = {}
    for route, intent, model, tool_json, p_tok, c_tok, latency, _, _ in rows:
        r = routes.setdefault(route or "?", {"turns": 0, "latencies": []})
        r["turns"] += 1
        if latency is not None:
            r["latencies"].append(latency)
        m = models.setdefault(model or "?", {"turns": 0, "prompt_tokens": 0, "completion_tokens": 0})
        m["turns"] += 1
        m["prompt_tokens"] += p_tok or 0
        m["completion_tokens"] += c_tok or 0
        for name in json.loads(tool_json or "[]"):
            tools[name] = tools.get(name, 0) + 1
        intents[intent or "?"] = intents.get(intent or "?", 0) + 1
    route_ms = [r[7] for r in rows if r[7] is not None]
    return {
        "turns": total,
        "routes": {
            name: {
                "share": round(r["turns"] / total, 3),
                "turns": r["turns"],
                "median_latency_ms": round(statistics.median(r["latencies"]), 1) if r["latencies"] else None,
            }
            for name, r in routes.items()
        },
        "models": models,
        "tools": tools,
        "intents": intents,
        "median_route_ms": round(statistics.median(route_ms), 2) if route_ms else None,
        "fallbacks": sum(1 for r in rows if r[8] and "unavailable" in r[8]),
    }
