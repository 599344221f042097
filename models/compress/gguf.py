"""GGUF quantization with llama.cpp's own quantizer, and what each type costs and saves.

``requantize`` calls ``llama_model_quantize`` through llama-cpp-python's low-level API. The
packaged models are already Q4_K_M, so every other type is *re*-quantized from 4-bit weights
(``allow_requantize``): the error of the first rounding stays and the second adds to it, and a
wider type (Q8_0) holds the 4-bit values exactly but cannot bring back what they lost. With an
F16/F32 source (your own GGUF) the same call is a first quantization.

K-quants work on blocks of 256 values; a tensor whose rows are not a multiple of 256 (Qwen2.5
0.5B's 896-wide layers) falls back to a legacy type (Q4_0, Q5_0), so its K-quant files come out
larger than the type's name promises. The measurement shows it rather than hiding it.

``measure_gguf`` gives file size, prompt and generation tokens/s (greedy, fresh context) and
perplexity of the fixed passages in :mod:`lmgen.models.compress.passages`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import statistics
import time
from pathlib import Path
from typing import Any

from lmgen.errors import InputError, LmgenError, ModelFileError

# the types offered (llama.cpp has more; these span 8 down to 2 bits per weight)
QUANT_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M", "Q3_K_S", "Q2_K")
# the nominal bits per weight of each type (llama.cpp's quantize help), for the table
NOMINAL_BITS = {
    "F16": 16.0,
    "Q8_0": 8.5,
    "Q6_K": 6.56,
    "Q5_K_M": 5.5,
    "Q5_0": 5.5,
    "Q4_K_M": 4.85,
    "Q4_K_S": 4.58,
    "Q4_0": 4.5,
    "Q3_K_M": 3.91,
    "Q3_K_S": 3.5,
    "Q2_K": 2.63,
}


def check_type(qtype: str) -> str:
    name = qtype.strip().upper()
    if name not in QUANT_TYPES:
        raise InputError(f"unknown GGUF quantization type {qtype!r}", hint="one of " + ", ".join(QUANT_TYPES))
    return name


def file_type(path: Path) -> str:
    """The quantization type a GGUF file declares (``general.file_type``), as llama.cpp names it."""
    import llama_cpp

    names = {
        getattr(llama_cpp, n): n.removeprefix("LLAMA_FTYPE_MOSTLY_")
        for n in dir(llama_cpp)
        if n.startswith("LLAMA_FTYPE_MOSTLY_")
    }
    names[0], names[1] = "F32", "F16"
    from llama_cpp import Llama

    with _quiet_stderr():
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        value = llm.metadata.get("general.file_type")
    finally:
        llm.close()
    return names.get(int(value), "unknown") if value is not None else "unknown"


def requantize(
    source: str | Path, qtype: str, out: str | Path, threads: int | None = None, force: bool = False
) -> dict[str, Any]:
    """Write ``out``, a copy of ``source`` quantized to ``qtype`` (skipped when it exists, unless ``force``).

    Raises:
        InputError: unknown type.
        ModelFileError: the source is missing or not a GGUF file, or llama.cpp fails on it.
    """
    import llama_cpp

    name = check_type(qtype)
    src, dst = Path(source), Path(out)
    if not src.is_file():
        raise ModelFileError(f"no GGUF file at {src}", path=str(src))
    with src.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelFileError(f"{src} is not a GGUF file", path=str(src))
    started = time.perf_counter()
    if force or not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".part")
        params = llama_cpp.llama_model_quantize_default_params()
        params.nthread = threads or os.cpu_count() or 1
        params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}")
        params.allow_requantize = True
        with _quiet_stderr():
            rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            raise ModelFileError(
                f"llama.cpp could not quantize {src.name} to {name} (code {rc})", path=str(src)
            )
        tmp.replace(dst)
    return {
        "source": str(src),
        "out": str(dst),
        "type": name,
        "bytes": dst.stat().st_size,
        "source_bytes": src.stat().st_size,
        "seconds": round(time.perf_counter() - started, 2),
        "requantized": True,  # the packaged sources are Q4_K_M already
    }


@contextlib.contextmanager
def _quiet_stderr() -> Any:
    """llama.cpp's quantizer prints a line per tensor on fd 2; keep only a failure's output."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode("utf-8", "replace")[-4000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _speed(path: Path, prompt: str, gen_tokens: int, repeats: int, threads: int) -> dict[str, float]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False)
    try:
        tokens = llm.tokenize(prompt.encode(), add_bos=True)
        prompt_tps, gen_tps = [], []
        for _ in range(repeats):
            llm.reset()
            t0 = time.perf_counter()
            first = None
            count = 0
            for _tok in llm.generate(tokens, temp=0.0, top_k=1, reset=True):
                count += 1
                if first is None:
                    first = time.perf_counter()
                if count >= gen_tokens:
                    break
            end = time.perf_counter()
            assert first is not None
            prompt_tps.append(len(tokens) / (first - t0))
            gen_tps.append((count - 1) / (end - first) if count > 1 else 0.0)
        return {
            "prompt_tokens": len(tokens),
            "prompt_tokens_per_s": round(statistics.median(prompt_tps), 1),
            "gen_tokens_per_s": round(statistics.median(gen_tps), 2),
        }
    finally:
        llm.close()


def measure_gguf(
    path: str | Path,
    passages: dict[str, str] | None = None,
    gen_tokens: int = 32,
    repeats: int = 2,
    threads: int | None = None,
) -> dict[str, Any]:
    """Size, prompt/generation tokens/s and per-passage perplexity of one GGUF file."""
    from lmgen.models.compress.passages import PASSAGES
    from lmgen.models.llm import LlamaConfig, LlamaRuntime, default_threads

    path = Path(path)
    texts = passages or PASSAGES
    n_threads = threads or default_threads()
    row: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size}
    row.update(_speed(path, texts["en"], gen_tokens, repeats, n_threads))
    runtime = LlamaRuntime(
        LlamaConfig(str(path), n_ctx=1024, n_threads=n_threads, n_gpu_layers="auto", logits_all=True)
    )
    try:
        for lang, text in texts.items():
            row[f"ppl_{lang}"] = round(runtime.perplexity(text)["ppl"], 3)
    finally:
        runtime.llm.close()
    return row


def compare_types(
    source: str | Path,
    types: list[str],
    out_dir: str | Path,
    gen_tokens: int = 32,
    repeats: int = 2,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """The source and each re-quantized type, measured the same way (the source row first)."""
    from tqdm import tqdm

    src = Path(source)
    if not types:
        raise InputError("name at least one quantization type")
    names = [check_type(t) for t in types]
    try:
        base_type = file_type(src)
    except Exception:  # gguf-py missing or an unusual header: the table just says so
        base_type = "source"
    rows = []
    bar = tqdm(total=len(names) + 1, desc="gguf types", unit=" type", disable=not progress)
    base = measure_gguf(src, gen_tokens=gen_tokens, repeats=repeats)
    base.update(type=base_type, original=True)
    rows.append(base)
    bar.update(1)
    for name in names:
        if name == base_type:
            bar.update(1)
            continue
        made = requantize(src, name, Path(out_dir) / f"{src.stem.rsplit('-', 1)[0]}-{name.lower()}.gguf")
        row = measure_gguf(made["out"], gen_tokens=gen_tokens, repeats=repeats)
        row.update(type=name, original=False, quantize_seconds=made["seconds"])
        rows.append(row)
        bar.update(1)
    bar.close()
    for row in rows:
        row["nominal_bits"] = NOMINAL_BITS.get(row["type"])
    return rows


def answer_check(
    path: str | Path, question: str = "What is the capital of France? Answer in one word."
) -> str:
    """A short greedy chat reply from a GGUF with a chat template (a quantized model still answers)."""
    from lmgen.models.llm import LlamaConfig, LlamaRuntime

    runtime = LlamaRuntime(LlamaConfig(str(path), n_ctx=512))
    try:
        if not runtime.has_chat_template:
            raise LmgenError(f"{Path(path).name} has no chat template (a base model): use perplexity instead")
        return runtime.chat([{"role": "user", "content": question}], max_tokens=16, temperature=0.0).strip()
    finally:
        runtime.llm.close()
