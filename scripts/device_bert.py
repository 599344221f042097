"""Pre-train lmgen's BERT on one GPU for a fixed wall-clock budget, with the schedule planned to
end inside it.

Made for a short GPU lease (no package registry there; lmgen is imported from the checkout): it
reads the prepared document corpus (``lmgen mlm corpus`` writes ``train.txt``), trains the
WordPiece vocabulary once, times a few warm steps to learn how many fit, then runs ``pretrain``
with the linear warm-up/decay planned for exactly that many steps, so the run ends annealed rather
than cut off. The checkpoint (float16 safetensors, the tokenizer, ``train_state.json``'s history
is left behind) goes to ``--out`` with ``device_run.json``: hardware, steps, seconds.

    python3 scripts/device_bert.py --corpus train.txt --out OUT --budget 420 \\
        --layers 6 --hidden 256 --heads 4 --intermediate 1024 --batch 128 --lr 1e-3 --whole-word --jamo

(``--jamo`` spells Hangul in letters, so no Korean word of the course's examples is ``[UNK]``:
see ``lmgen/models/mlm/tokenizer.py``. A new vocabulary means training from scratch.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from _device import import_lmgen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--budget", type=float, default=420.0, help="seconds from start to the end of training"
    )
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--whole-word", action="store_true")
    parser.add_argument("--jamo", action="store_true", help="vocabulary over Hangul letters (tokenizer.py)")
    parser.add_argument("--hard-negatives", type=float, default=0.5)
    parser.add_argument("--probe-steps", type=int, default=40)
    parser.add_argument("--max-steps", type=int, default=200_000)
    args = parser.parse_args()
    if args.probe_steps < 20:
        parser.error("--probe-steps must be at least 20 (the first 10 are warm-up, not timed)")
    t_start = time.time()
    deadline = t_start + args.budget
    import_lmgen()
    import torch

    from lmgen.models.mlm.pretrain import PretrainConfig, corpus_tokenizer, pretrain
    from lmgen.stores.mlm import read_documents

    torch.set_float32_matmul_precision("high")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    docs = read_documents(args.corpus)

    def config(steps: int) -> PretrainConfig:
        return PretrainConfig(
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=args.heads,
            intermediate_size=args.intermediate,
            vocab_size=args.vocab,
            jamo=args.jamo,
            steps=steps,
            batch_size=args.batch,
            learning_rate=args.lr,
            whole_word=args.whole_word,
            hard_negatives=args.hard_negatives,
            save_every=10**9,
            save_dtype="float16",
        )

    tokenizer = corpus_tokenizer(docs, config(1))  # trained once, shared by the probe and the run

    # how long one step takes here (after warm-up), from a throwaway run
    stamps: list[float] = []
    probe = args.out.parent / (args.out.name + "-probe")
    t_probe = time.time()
    pretrain(
        docs,
        probe,
        config(args.max_steps),
        tokenizer=tokenizer,
        device=device,
        progress=False,
        stop_after=args.probe_steps,
        on_step=lambda _: stamps.append(time.time()),
    )
    setup = stamps[0] - t_probe  # tokenizing the corpus, building the model: paid again below
    per_step = (stamps[-1] - stamps[9]) / (len(stamps) - 10)
    shutil.rmtree(probe, ignore_errors=True)
    left = deadline - time.time() - setup - 10  # 10 s for the final save
    steps = max(args.probe_steps, min(args.max_steps, int(left / per_step)))
    print(
        json.dumps({"seconds_per_step": round(per_step, 4), "setup_s": round(setup, 1), "steps": steps}),
        flush=True,
    )
    t_train = time.time()
    last_print = [0.0]

    def report(stats: object) -> None:
        now = time.time()
        if now - last_print[0] > 30:
            last_print[0] = now
            print(json.dumps({k: round(v, 4) for k, v in vars(stats).items()}), flush=True)

    result = pretrain(
        docs, args.out, config(steps), tokenizer=tokenizer, device=device, progress=False, on_step=report
    )
    tail = result.history[-200:]
    summary = {
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "steps": result.steps,
        "batch_size": args.batch,
        "train_seconds": round(time.time() - t_train, 1),
        "seconds_per_step": round(per_step, 4),
        "tokens_per_second": round(result.tokens_per_second),
        "last_200_steps": {
            k: round(sum(h[k] for h in tail) / len(tail), 4)
            for k in ("mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy")
        },
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    (args.out / "device_run.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
