"""Loading a BERT-family checkpoint: lmgen's own folder, any local Hugging Face folder, or a hub id.

One loaded model serves fill-mask, next-sentence and pseudo-perplexity. A checkpoint saved as
``BertForPreTraining`` (lmgen's, Google's original BERTs) has both heads; any other
masked-LM checkpoint (RoBERTa, DistilBERT, …) loads through ``AutoModelForMaskedLM`` and can
fill masks but has no next-sentence head.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lmgen.errors import InputError, ModelFileError
from lmgen.models.train_state import pick_device

MAX_TEXT_CHARS = 20_000
# The checkpoint lmgen ships: trained by `lmgen mlm train` (the command is in its README.md).
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"


class TruncationWarning(UserWarning):
    """The input was longer than the model reads and was cut (the message says how)."""


def offline() -> bool:
    return any(os.environ.get(v, "").strip() not in ("", "0") for v in ("LMGEN_OFFLINE", "HF_HUB_OFFLINE"))


@dataclass
class LoadedBert:
    model: Any
    tokenizer: Any
    device: str
    name: str
    has_nsp_head: bool
    lock: threading.Lock

    @property
    def max_length(self) -> int:
        limit = getattr(self.model.config, "max_position_embeddings", 512)
        # RoBERTa reserves two positions for its padding offset
        if getattr(self.model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            limit -= 2
        tok_limit = getattr(self.tokenizer, "model_max_length", limit) or limit
        return int(min(limit, tok_limit if tok_limit < 10**6 else limit))

    @property
    def mask_token(self) -> str:
        return str(self.tokenizer.mask_token)

    def encoder_and_head(self) -> tuple[Any, Any] | None:
        """``(encoder, mlm_head)`` when the head can run on chosen positions only (BERT classes)."""
        bert = getattr(self.model, "bert", None)
        cls = getattr(self.model, "cls", None)
        head = getattr(cls, "predictions", None)
        return (bert, head) if bert is not None and head is not None else None


def check_text(text: str, what: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"empty {what}")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"{what} is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    return text


def quiet_transformers() -> None:
    """No per-file progress bars or advisory warnings from transformers on stderr."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def load_bert(name_or_path: str | Path | None = None, device: str = "auto") -> LoadedBert:
    """Load (once) a checkpoint folder or hub id; ``None`` (or ``"default"``) is the shipped one.

    Raises:
        ModelFileError: no such folder, a folder without a readable config/weights, or a hub id
            while offline / unreachable.
    """
    if name_or_path is None or str(name_or_path) in ("", "default", "shipped"):
        if not (SHIPPED_CHECKPOINT / "model.safetensors").is_file():
            raise ModelFileError(
                f"the shipped BERT checkpoint is missing from {SHIPPED_CHECKPOINT}",
                path=str(SHIPPED_CHECKPOINT),
                hint="reinstall lmgen, or train one with `lmgen mlm train --out DIR` and pass --model DIR",
            )
        name_or_path = SHIPPED_CHECKPOINT
    return _load(str(name_or_path), device)


@lru_cache(maxsize=4)
def _load(name_or_path: str, device: str) -> LoadedBert:
    import torch
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer, BertForPreTraining

    quiet_transformers()
    local = Path(name_or_path).expanduser()
    is_local = local.is_dir()
    if not is_local and (local.exists() or name_or_path.startswith((".", "/", "~"))):
        raise ModelFileError(f"no checkpoint folder at {name_or_path}", path=name_or_path)
    source = str(local) if is_local else name_or_path
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=offline() or is_local)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline() or is_local)
        architectures = getattr(config, "architectures", None) or []
        has_nsp = "BertForPreTraining" in architectures
        cls = BertForPreTraining if has_nsp else AutoModelForMaskedLM
        model = cls.from_pretrained(source, dtype=torch.float32, local_files_only=offline() or is_local)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        if is_local:
            raise ModelFileError(
                f"cannot load the BERT checkpoint in {local}: {str(exc).splitlines()[0][:200]}",
                path=str(local),
                hint="point --model at a folder with config.json, model.safetensors and tokenizer files",
            ) from exc
        raise ModelFileError(
            f"cannot load {name_or_path!r} from the Hugging Face hub"
            + (" (offline)" if offline() else " (not found or unreachable)"),
            path=name_or_path,
            hint="download it where the hub is reachable and pass its local folder with --model",
        ) from exc
    if tokenizer.mask_token is None:
        raise ModelFileError(f"{name_or_path} has no mask token: it is not a masked language model")
    dev = pick_device(device)
    model.to(dev)  # type: ignore[arg-type]  # transformers' stubs type .to() as the model's dtype cast
    model.eval()
    name = "lmgen-bert (shipped)" if local == SHIPPED_CHECKPOINT else (local.name if is_local else source)
    return LoadedBert(model, tokenizer, dev, name, has_nsp, threading.Lock())
