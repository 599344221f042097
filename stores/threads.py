"""Conversation threads that outlive the process: LangGraph's SQLite checkpointer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from lmgen.stores.models import lmgen_home


def threads_db_path(home: Path | None = None) -> Path:
    """``$LMGEN_HOME/threads.sqlite``."""
    return (home or lmgen_home()) / "threads.sqlite"


def open_checkpointer(path: Path | None = None) -> SqliteSaver:
    """A SQLite checkpointer shared by the CLI and the UI (one file, many threads).

    ``check_same_thread=False`` because Gradio answers from worker threads; the saver
    serializes access with its own lock.
    """
    path = path or threads_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    return saver
