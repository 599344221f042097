"""Knowledge distillation of lmgen's BERT into a smaller student.

The student reads the same WordPiece vocabulary as its teacher. At every masked position it is
trained on the teacher's whole distribution, softened by a temperature T, as well as on the
true token (Hinton et al., 2015):

    loss = α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, token) + CE_nsp(s, label)

The T² keeps the soft term's gradients at the hard term's scale as T grows. The next-sentence
head is trained on the hard label and, with the same α, on the teacher's NSP distribution.

A student narrower than its teacher can start from the teacher. Its word, position and type
embeddings are the teacher's, projected onto their top principal directions
(``init="teacher"``, as DistilBERT starts from its teacher's layers). Its transformer layers
start fresh. The baseline a distilled student must beat is the same architecture with the same
batches and the same number of steps, trained from random weights on the hard loss alone
(:func:`train_mlm` with ``teacher=None``).

Batches are seeded by (seed, step), as in pre-training, so two runs see the same pairs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lmgen.errors import InputError
from lmgen.models.mlm.masking import IGNORE_INDEX
from lmgen.models.mlm.pretrain import PairSampler, make_batch, replacement_ids, tokenize_documents


@dataclass
class StudentConfig:
    """The student's shape; the defaults give about half of the scratch BERT's parameters."""

    hidden_size: int = 128
    num_layers: int = 3
    num_heads: int = 2
    intermediate_size: int = 512

    def __post_init__(self) -> None:
        if min(self.hidden_size, self.num_layers, self.num_heads, self.intermediate_size) < 1:
            raise InputError("student sizes must be positive")
        if self.hidden_size % self.num_heads:
            raise InputError(f"hidden size {self.hidden_size} is not divisible by {self.num_heads} heads")


@dataclass
class TrainConfig:
    steps: int = 600
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    whole_word: bool = False
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the soft (teacher) term
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise InputError("steps and batch size must be at least 1")
        if self.temperature <= 0:
            raise InputError(f"temperature must be positive, not {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise InputError(f"alpha must be in [0, 1], not {self.alpha}")


def count_parameters(model: Any) -> int:
    """Distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def make_student(teacher: Any, cfg: StudentConfig, init: str = "scratch", seed: int = 0) -> Any:
    """A fresh ``BertForPreTraining`` of the student's shape, with the teacher's vocabulary and positions."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    if init not in ("scratch", "teacher"):
        raise InputError(f"init must be 'scratch' or 'teacher', not {init!r}")
    tc = teacher.config
    if cfg.hidden_size > tc.hidden_size:
        raise InputError(
            f"the student ({cfg.hidden_size}) must not be wider than the teacher ({tc.hidden_size})"
        )
    config = BertConfig(
        vocab_size=tc.vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=tc.max_position_embeddings,
        type_vocab_size=tc.type_vocab_size,
        pad_token_id=tc.pad_token_id,
    )
    torch.manual_seed(seed)
    student = BertForPreTraining(config)
    if init == "teacher":
        _project_embeddings(teacher, student)
    return student


def _project_embeddings(teacher: Any, student: Any) -> None:
    """Student embeddings = teacher embeddings on the teacher's top principal directions."""
    import torch

    t_emb, s_emb = teacher.bert.embeddings, student.bert.embeddings
    k = student.config.hidden_size
    with torch.no_grad():
        words = t_emb.word_embeddings.weight.float()
        # principal directions of the word vectors (the rows are what the model reads)
        centred = words - words.mean(0, keepdim=True)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        basis = vh[:k].T  # (teacher hidden, k), orthonormal columns
        s_emb.word_embeddings.weight.copy_(words @ basis)
        s_emb.position_embeddings.weight.copy_(t_emb.position_embeddings.weight.float() @ basis)
        s_emb.token_type_embeddings.weight.copy_(t_emb.token_type_embeddings.weight.float() @ basis)


def soft_loss(student_logits: Any, teacher_logits: Any, temperature: float) -> Any:
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over rows."""
    import torch.nn.functional as F

    kl = F.kl_div(
        F.log_softmax(student_logits / temperature, -1),
        F.log_softmax(teacher_logits / temperature, -1),
        log_target=True,
        reduction="batchmean",
    )
    return kl * temperature**2


def train_mlm(
    model: Any,
    tokenizer: Any,
    docs: list[list[str]],
    cfg: TrainConfig,
    teacher: Any | None = None,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "train",
    step_offset: int = 0,
) -> dict[str, Any]:
    """Train ``model`` in place on MLM + NSP for ``cfg.steps`` (distilling from ``teacher`` when given).

    Weights that torch's pruning utilities keep at zero (a ``weight_mask`` buffer) stay zero, so
    this is also the recovery fine-tune after pruning. ``step_offset`` continues an earlier run's
    data stream: batch ``s`` of this call is batch ``step_offset + s`` of the run.
    """
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    ids, words = tokenize_documents(tokenizer, docs)
    max_length = int(model.config.max_position_embeddings)
    sampler = PairSampler(ids, words, max_length, "nsp")
    pool = replacement_ids(tokenizer)
    model.to(device).train()
    if teacher is not None:
        teacher.to(device).eval()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    warmup = max(1, int(cfg.warmup_ratio * cfg.steps))
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, desc=desc, unit=" step", disable=not progress)
    temp = cfg.temperature
    for step in range(cfg.steps):
        scale = (step + 1) / warmup if step < warmup else max(0.0, (cfg.steps - step) / (cfg.steps - warmup))
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * scale
        rng = np.random.default_rng([cfg.seed, step_offset + step])
        batch = make_batch(
            sampler, tokenizer, rng, cfg.batch_size, max_length, cfg.mask_prob, cfg.whole_word, pool
        )
        width = int(batch["attention_mask"].sum(axis=1).max())
        inp = {
            k: torch.from_numpy(np.ascontiguousarray(v[:, :width]) if v.ndim == 2 else v).to(device)
            for k, v in batch.items()
        }
        enc_args = {k: inp[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        labels = inp["labels"]
        target = labels != IGNORE_INDEX
        out = model.bert(**enc_args)
        mlm_logits = model.cls.predictions(out.last_hidden_state[target])
        nsp_logits = model.cls.seq_relationship(out.pooler_output)
        hard = F.cross_entropy(mlm_logits, labels[target])
        nsp_hard = F.cross_entropy(nsp_logits, inp["next_sentence_label"])
        loss = hard + nsp_hard
        soft_value = 0.0
        if teacher is not None and cfg.alpha > 0:
            with torch.no_grad():
                t_out = teacher.bert(**enc_args)
                t_mlm = teacher.cls.predictions(t_out.last_hidden_state[target])
                t_nsp = teacher.cls.seq_relationship(t_out.pooler_output)
            soft = soft_loss(mlm_logits, t_mlm, temp)
            nsp_soft = soft_loss(nsp_logits, t_nsp, temp)
            loss = cfg.alpha * (soft + nsp_soft) + (1 - cfg.alpha) * (hard + nsp_hard)
            soft_value = float(soft.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            bar.close()
            raise InputError(
                f"training diverged at step {step + 1} (loss {value})", hint="lower the learning rate"
            )
        history.append(
            {
                "step": step + 1,
                "loss": round(value, 5),
                "mlm": round(float(hard.detach()), 5),
                "soft": round(soft_value, 5),
            }
        )
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}", mlm=f"{float(hard.detach()):.3f}")
    bar.close()
    model.eval()
    return {
        "steps": cfg.steps,
        "seconds": round(time.perf_counter() - t0, 1),
        "history": history,
        "config": asdict(cfg),
    }


STUDENT_RUNS = ("student", "scratch")


def distill_bert(
    out: Any,
    teacher_path: str | None = None,
    student: StudentConfig | None = None,
    train: TrainConfig | None = None,
    runs: tuple[str, ...] = STUDENT_RUNS,
    device: str = "auto",
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Train the distilled student (``student``: teacher init + soft targets) and/or its baseline
    (``scratch``: random init, hard loss, same batches and steps); each is saved as a Hugging Face
    folder under ``out/<run>`` with ``distill.json`` recording how it was made.

    With ``resume`` each run continues from its saved folder for ``train.steps`` more steps (a new
    warm-up and decay, the data stream picking up where it stopped), and the record adds up the
    stages."""
    import json
    import platform
    from pathlib import Path

    from lmgen.models.mlm.bert import COMPRESSED_BERT, load_bert
    from lmgen.models.train_state import pick_device
    from lmgen.stores.mlm import mlm_corpus, read_documents

    unknown = [r for r in runs if r not in STUDENT_RUNS]
    if unknown or not runs:
        raise InputError(f"runs must be among {', '.join(STUDENT_RUNS)}, not {', '.join(unknown) or 'none'}")
    student_cfg = student or StudentConfig()
    train_cfg = train or TrainConfig()
    loaded = load_bert(teacher_path or COMPRESSED_BERT)
    teacher = loaded.model
    docs = read_documents(mlm_corpus().train)
    dev = pick_device(device)
    results: dict[str, Any] = {}
    for run in runs:
        folder = Path(out) / run
        stages: list[dict[str, Any]] = []
        if resume:
            from transformers import BertForPreTraining

            if not (folder / "distill.json").is_file():
                raise InputError(f"nothing to resume in {folder}", hint="run `lmgen compress distill` first")
            previous = json.loads((folder / "distill.json").read_text("utf-8"))
            stages = previous.get("stages") or [
                {
                    "steps": previous["train"]["steps"],
                    "seconds": previous["seconds"],
                    "learning_rate": previous["train"]["learning_rate"],
                }
            ]
            student_cfg = StudentConfig(**previous["student"])
            model = BertForPreTraining.from_pretrained(str(folder))
        else:
            model = make_student(
                teacher, student_cfg, init="teacher" if run == "student" else "scratch", seed=train_cfg.seed
            )
        done_steps = sum(s["steps"] for s in stages)
        trained = train_mlm(
            model,
            loaded.tokenizer,
            docs,
            train_cfg,
            teacher=teacher if run == "student" else None,
            device=dev,
            progress=progress,
            desc=run,
            step_offset=done_steps,
        )
        stages.append(
            {
                "steps": train_cfg.steps,
                "seconds": trained["seconds"],
                "learning_rate": train_cfg.learning_rate,
            }
        )
        model.cpu().save_pretrained(str(folder), safe_serialization=True)
        loaded.tokenizer.save_pretrained(str(folder))
        record = {
            "run": run,
            "teacher": loaded.name,
            "init": "teacher embeddings (PCA)" if run == "student" else "random",
            "loss": "soft + hard" if run == "student" else "hard only",
            "student": asdict(student_cfg),
            "train": asdict(train_cfg) | {"steps": sum(st["steps"] for st in stages)},
            "stages": stages,
            "parameters": count_parameters(model),
            "teacher_parameters": count_parameters(teacher),
            "seconds": round(sum(st["seconds"] for st in stages), 1),
            "device": dev,
            "hardware": f"{platform.machine()}, {__import__('os').cpu_count()} CPU threads"
            if dev == "cpu"
            else dev,
            "final_loss": trained["history"][-1],
        }
        (folder / "distill.json").write_text(json.dumps(record, indent=1) + "\n", "utf-8")
        results[run] = record
    return results
