"""The labelled requests the router learns from (``agent/data/requests.txt``).

The file groups requests in phrasing families under a header
``## family | intent | route | topic | split``; train and test are split by family, so a test
request is never a light rewording of a training one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lmgen.agent.state import INTENTS, ROUTES
from lmgen.errors import InputError

DATA_DIR = Path(__file__).with_name("data")
REQUESTS_FILE = DATA_DIR / "requests.txt"
TOPICS = ("general", "course")
SPLITS = ("train", "test")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True)
class LabelledRequest:
    text: str
    intent: str
    route: str
    topic: str
    family: str
    split: str

    @property
    def lang(self) -> str:
        return language_of(self.text)


def language_of(text: str) -> str:
    """``ko`` when the text has Hangul, else ``en``."""
    return "ko" if _HANGUL.search(text) else "en"


def load_requests(path: Path | None = None, split: str | None = None) -> list[LabelledRequest]:
    """Every labelled request in ``path`` (default: the shipped file), optionally one split only.

    Raises:
        InputError: a header with an unknown label, or a request outside any family.
    """
    path = path or REQUESTS_FILE
    out: list[LabelledRequest] = []
    header: tuple[str, str, str, str, str] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("## "):
            parts = tuple(p.strip() for p in line[3:].split("|"))
            if len(parts) != 5:
                raise InputError(f"{path}:{number}: a family header needs 5 fields, not {len(parts)}")
            family, intent, route, topic, part = parts
            for value, allowed in ((intent, INTENTS), (route, ROUTES), (topic, TOPICS), (part, SPLITS)):
                if value not in allowed:
                    raise InputError(f"{path}:{number}: {value!r} is not one of {', '.join(allowed)}")
            header = (family, intent, route, topic, part)
        elif line and not line.startswith("#"):
            if header is None:
                raise InputError(f"{path}:{number}: a request before the first family header")
            family, intent, route, topic, part = header
            out.append(LabelledRequest(line, intent, route, topic, family, part))
    if split is not None:
        out = [r for r in out if r.split == split]
    return out
