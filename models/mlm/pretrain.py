"""BERT pre-training from scratch: masked-language modelling plus next-sentence prediction.

Pairs come from documents (lists of sentences): segment A is a run of consecutive sentences,
segment B is what follows it (IsNext, 50%) or a run from another document, or from far off in A's
own (NotNext) — or, with ``objective="sop"`` (sentence-order prediction, ALBERT), the true
continuation in the right or swapped order. Every random choice for step ``s`` is drawn from a
generator seeded with ``(seed, s)``, and dropout's RNG state is saved with the checkpoint, so a
run that stops and resumes produces the same losses as one that never stopped.

A checkpoint folder is a plain Hugging Face one (``config.json``, ``model.safetensors``,
tokenizer files: ``BertForPreTraining.from_pretrained`` opens it) plus
``training_state.safetensors`` / ``training_state.json`` (optimizer moments, RNG, step,
history) for resuming. Nothing is pickled.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from lmgen.errors import InputError, ModelFileError
from lmgen.models.mlm.masking import IGNORE_INDEX, choose_targets, mask_tokens
from lmgen.models.ngram.tokenize import has_hangul
from lmgen.models.train_state import (
    load_optimizer,
    optimizer_tensors,
    pick_device,
    restore_rng,
    rng_tensors,
)

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
# how many sentences at least lie between A and a NotNext B taken from A's own document
FAR_SENTENCES = 10


@dataclass
class PretrainConfig:
    """Model size and training schedule (the defaults built the shipped checkpoint)."""

    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 1024
    max_length: int = 128
    vocab_size: int = 8192
    # a new vocabulary spells Hangul in letters (NFD), so no Korean word is [UNK] (tokenizer.py)
    jamo: bool = False
    steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    whole_word: bool = False
    # share of NotNext pairs whose B comes from a document like A's (same language or domain, as
    # below) rather than any other document: harder negatives than a switch of language
    hard_negatives: float = 0.0
    # what "the same" means for those hard partners: A's language, or A's domain (the corpus's
    # ``.domains`` file: a dialogue is told from another dialogue, a play from another play)
    negatives_from: Literal["language", "domain"] = "language"
    # the other NotNext partners from any document (False), or only from one in A's language (True),
    # as the held-out pairs draw theirs: a switch of language then never gives NotNext away, and two
    # sentences in one language are IsNext half the time, not more
    same_language: bool = False
    # share of NotNext partners taken from A's own document, at least ``FAR_SENTENCES`` sentences
    # from A (before or after it): the same play, characters and topic, but not what comes next, so
    # IsNext must rest on how B follows A, not on names and topic the two share
    same_document: float = 0.0
    objective: Literal["nsp", "sop"] = "nsp"
    # the loss is MLM + nsp_weight × NSP (the sentence-order loss with ``objective="sop"``): a pair
    # gives one such label against ~15 masked pieces, so a weight above 1 makes the trained layers
    # spend more of their capacity on how B follows A
    nsp_weight: float = 1.0
    short_seq_prob: float = 0.1
    # share of pairs that are one sentence and the next (or one unrelated sentence), the shape of
    # the course's NSP examples; drawn apart from (and before) the short pairs above
    sentence_pairs: float = 0.0
    # how much more (or less) often a domain's documents give the first segment than their length
    # alone would draw them (the corpus's ``.domains`` names; unnamed domains weigh 1; the weights
    # are relative, so the others are drawn a little less): small everyday-dialogue domains more
    domain_weights: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    save_every: int = 500
    save_dtype: Literal["float32", "float16"] = "float32"
    # train only the top N encoder layers, the pooler, the heads and the segment embeddings (0:
    # everything); the word embeddings stay as they are, and with them the tied MLM decoder
    train_top: int = 0

    def __post_init__(self) -> None:
        if self.objective not in ("nsp", "sop"):
            raise InputError(f"objective must be 'nsp' or 'sop', not {self.objective!r}")
        if self.hidden_size % self.num_heads:
            raise InputError(f"hidden size {self.hidden_size} is not divisible by {self.num_heads} heads")
        if not 16 <= self.max_length <= 512:
            raise InputError(f"max length must be between 16 and 512, not {self.max_length}")
        if self.negatives_from not in ("language", "domain"):
            raise InputError(f"hard negatives come from 'language' or 'domain', not {self.negatives_from!r}")
        for what, share in (
            ("hard-negative", self.hard_negatives),
            ("same-document", self.same_document),
            ("short-pair", self.short_seq_prob),
            ("sentence-pair", self.sentence_pairs),
        ):
            if not 0.0 <= share <= 1.0:
                raise InputError(f"{what} share must be in [0, 1], not {share}")
        if not 0.0 <= self.nsp_weight <= 100.0:
            raise InputError(f"NSP loss weight must be in [0, 100], not {self.nsp_weight}")
        bad = {name: w for name, w in self.domain_weights.items() if not 0.0 < w <= 1000.0}
        if bad:
            raise InputError(f"domain weights must be in (0, 1000], not {bad}")
        if not 0.0 < self.mask_prob < 1.0:
            raise InputError(f"mask probability must be in (0, 1), not {self.mask_prob}")
        if self.steps < 1 or self.batch_size < 1:
            raise InputError("steps and batch size must be at least 1")
        if self.train_top < 0:
            raise InputError(f"train-top must be 0 (all layers) or more, not {self.train_top}")
        if self.save_dtype not in ("float32", "float16"):
            raise InputError(f"save dtype must be float32 or float16, not {self.save_dtype!r}")

    def bert_config(self, tokenizer: Any) -> Any:
        from transformers import BertConfig

        return BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_length,
            type_vocab_size=2,
            pad_token_id=tokenizer.pad_token_id,
        )


@dataclass
class StepStats:
    step: int
    loss: float
    mlm_loss: float
    nsp_loss: float
    mlm_accuracy: float
    nsp_accuracy: float
    learning_rate: float


@dataclass
class TrainResult:
    out: Path
    steps: int
    seconds: float
    tokens_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)


# (a_ids, a_words, b_ids, b_words, label): the two segments' token and word ids and the label
Pair = tuple[list[int], list[int], list[int], list[int], int]


class PairSource(Protocol):
    """What :func:`make_batch` draws its pairs from: a :class:`PairSampler`, or a wrapper of one."""

    def pair(self, rng: np.random.Generator) -> Pair: ...


class PairSampler:
    """Builds (A, B, is_next) training pairs from tokenized documents, reproducibly per step."""

    def __init__(
        self,
        docs: list[list[list[int]]],
        words: list[list[list[int]]],
        max_length: int,
        objective: str = "nsp",
        short_seq_prob: float = 0.1,
        groups: list[int] | None = None,
        hard_negatives: float = 0.0,
        sentence_pairs: float = 0.0,
        weights: list[float] | None = None,
        languages: list[int] | None = None,
        same_document: float = 0.0,
    ) -> None:
        self.docs = [d for d in docs if d]
        self.words = [w for d, w in zip(docs, words, strict=True) if d]
        # index in ``docs`` of each kept document, and of the one the last pair's A came from
        self.sources = [i for i, d in enumerate(docs) if d]
        self.last_source = -1
        groups = groups if groups is not None else [0] * len(docs)
        self.groups = np.array([g for d, g in zip(docs, groups, strict=True) if d])
        self.hard_negatives = hard_negatives
        self.same_document = same_document
        if len(self.docs) < 2:
            raise InputError(
                "pre-training needs at least two documents (NotNext pairs come from another one)"
            )
        self.max_tokens = max_length - 3  # [CLS] A [SEP] B [SEP]
        self.objective = objective
        self.short_seq_prob = short_seq_prob
        self.sentence_pairs = sentence_pairs
        # documents are drawn in proportion to their length; only those with 2+ sentences can give IsNext
        sizes = np.array([len(d) for d in self.docs], dtype=np.float64)
        self.multi = np.flatnonzero(sizes >= 2)
        if not len(self.multi):
            raise InputError("pre-training needs documents with at least two sentences")
        # ``weights`` (one per document given) scale how often each document gives A
        if weights is not None and len(weights) != len(docs):
            raise InputError(f"{len(weights)} document weights for {len(docs)} documents")
        scale = np.array([w for d, w in zip(docs, weights, strict=True) if d]) if weights else 1.0
        drawn = sizes * scale
        self.multi_p = drawn[self.multi] / drawn[self.multi].sum()
        self.all_p = sizes / sizes.sum()
        # per group: its documents and their length-proportional weights (hard negatives)
        self.group_docs = self._by_group(self.groups, sizes)
        # ``languages`` (one per document given): the other partners come from A's language only
        self.language_docs = None
        if languages is not None:
            kept = np.array([g for d, g in zip(docs, languages, strict=True) if d])
            by_language = self._by_group(kept, sizes)
            # per kept document: the documents of its language and their weights
            self.language_docs = [by_language[int(g)] for g in kept]

    @staticmethod
    def _by_group(groups: np.ndarray, sizes: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per group: its documents and their length-proportional weights."""
        out = {}
        for g in np.unique(groups):
            members = np.flatnonzero(groups == g)
            out[int(g)] = (members, sizes[members] / sizes[members].sum())
        return out

    def _run(
        self, doc: int, start: int, budget: int, stop: int | None = None
    ) -> tuple[list[int], list[int], int]:
        """Token ids and word ids of consecutive sentences from ``start`` up to ``budget`` tokens."""
        ids: list[int] = []
        wids: list[int] = []
        end = start
        limit = len(self.docs[doc]) if stop is None else stop
        offset = 0
        while end < limit and (not ids or len(ids) + len(self.docs[doc][end]) <= budget):
            sentence, sentence_words = self.docs[doc][end], self.words[doc][end]
            ids.extend(sentence)
            wids.extend(w + offset for w in sentence_words)
            offset = (wids[-1] + 1) if wids else offset
            end += 1
        return ids[:budget], wids[:budget], end

    def _partner(self, doc: int, rng: np.random.Generator) -> int:
        """A NotNext partner document: from A's group (a hard negative), else from A's language
        (with ``languages``) or from any other document."""
        same, same_p = self.group_docs[int(self.groups[doc])]
        within = len(same) > 1 and rng.random() < self.hard_negatives
        if not within and self.language_docs is not None:
            same, same_p = self.language_docs[doc]
            within = len(same) > 1
        pool, pool_p = (same, same_p) if within else (len(self.docs), self.all_p)
        other = doc
        while other == doc:
            other = int(rng.choice(pool, p=pool_p))
        return other

    def _far_start(self, doc: int, start: int, end: int, rng: np.random.Generator) -> tuple[int, int] | None:
        """With chance ``same_document``: where a NotNext B starts in A's own document, at least
        ``FAR_SENTENCES`` sentences from A (sentences ``start:end``), and where it must stop; None
        otherwise, or when the document is too short for it."""
        if not self.same_document or rng.random() >= self.same_document:
            return None
        before = max(0, start - FAR_SENTENCES)
        after = max(0, len(self.docs[doc]) - (end + FAR_SENTENCES))
        if not before + after:
            return None
        pick = int(rng.integers(0, before + after))
        if pick < before:
            return pick, before  # B ends before it comes near A
        return end + FAR_SENTENCES + pick - before, len(self.docs[doc])

    def pair(self, rng: np.random.Generator) -> Pair:
        """``(a_ids, a_words, b_ids, b_words, label)``; label 0 = IsNext / in order, 1 = NotNext / swapped.

        A ``sentence_pairs`` share is one sentence and the next (or one sentence of another
        document): the pairs people type into ``lmgen nsp``, as in the course's "나는 배가 고팠다." /
        "그래서 식당에 갔다."."""
        single = bool(self.sentence_pairs) and rng.random() < self.sentence_pairs
        target = self.max_tokens
        if not single and rng.random() < self.short_seq_prob:
            target = int(rng.integers(8, self.max_tokens + 1))
        doc = int(rng.choice(self.multi, p=self.multi_p))
        self.last_source = self.sources[doc]
        n = len(self.docs[doc])
        start = int(rng.integers(0, n - 1))
        if single:
            a_ids, a_words, a_end = self._run(doc, start, target // 2, stop=start + 1)
            b_budget = target - target // 2
        else:
            a_budget = max(1, int(target * rng.uniform(0.3, 0.7)))
            a_ids, a_words, a_end = self._run(doc, start, a_budget, stop=n - 1)
            b_budget = target - len(a_ids)
        label = 0
        if self.objective == "nsp" and rng.random() < 0.5:
            far = self._far_start(doc, start, a_end, rng)
            if far is None:
                other = self._partner(doc, rng)
                b_start = int(rng.integers(0, len(self.docs[other])))
                b_stop = None
            else:
                other, (b_start, b_stop) = doc, far
            b_ids, b_words, _ = self._run(other, b_start, b_budget, stop=b_start + 1 if single else b_stop)
            label = 1
        else:
            b_ids, b_words, _ = self._run(doc, a_end, b_budget, stop=a_end + 1 if single else None)
            if self.objective == "sop" and rng.random() < 0.5:
                a_ids, a_words, b_ids, b_words = b_ids, b_words, a_ids, a_words
                label = 1
        # trim the longer segment until the pair fits
        while len(a_ids) + len(b_ids) > self.max_tokens:
            if len(a_ids) >= len(b_ids):
                a_ids, a_words = a_ids[:-1], a_words[:-1]
            else:
                b_ids, b_words = b_ids[:-1], b_words[:-1]
        return a_ids, a_words, b_ids, b_words, label


def negative_groups(docs: list[list[str]], by: str, domains: list[str] | None = None) -> list[int]:
    """Group number of each document for hard negatives: its language, or its domain.

    Raises:
        InputError: ``by="domain"`` without one domain per document.
    """
    if by == "language":
        return [int(korean_document(d)) for d in docs]
    domains = _one_per_document(
        domains, len(docs), "hard negatives by domain", " or use --negatives-from language"
    )
    names = {name: i for i, name in enumerate(sorted(set(domains)))}
    return [names[d] for d in domains]


def _one_per_document(domains: list[str] | None, documents: int, what: str, also: str = "") -> list[str]:
    """``domains`` when it names one domain per document; else an InputError saying what needs them."""
    if domains is None or len(domains) != documents:
        raise InputError(
            f"{what} need one domain per document ({documents} documents, "
            f"{'no' if domains is None else len(domains)} domains): give the corpus a .domains file{also}"
        )
    return domains


def domain_weights(
    weights: dict[str, float], domains: list[str] | None, documents: int
) -> list[float] | None:
    """Each document's draw weight from its domain's (1 for a domain not named); None without any.

    Raises:
        InputError: weights without one domain per document, or a name no document has.
    """
    if not weights:
        return None
    domains = _one_per_document(domains, documents, "domain weights")
    unknown = sorted(set(weights) - set(domains))
    if unknown:
        raise InputError(
            f"no document has the domain {', '.join(unknown)}",
            hint="the corpus's domains: " + ", ".join(sorted(set(domains))),
        )
    return [weights.get(d, 1.0) for d in domains]


def korean_document(doc: list[str]) -> bool:
    """A document is Korean when Hangul is in one of its first three sentences."""
    return any(has_hangul(s) for s in doc[:3])


def tokenize_documents(
    tokenizer: Any, docs: list[list[str]]
) -> tuple[list[list[list[int]]], list[list[list[int]]]]:
    """WordPiece ids and word indices of every sentence, documents kept (one Rust batch call)."""
    flat = [s for d in docs for s in d]
    from lmgen.models.mlm.tokenizer import raw_backend

    encodings = raw_backend(tokenizer).encode_batch(flat, add_special_tokens=False)
    ids_flat = [e.ids for e in encodings]
    words_flat = [[w if w is not None else 0 for w in e.word_ids] for e in encodings]
    out_ids: list[list[list[int]]] = []
    out_words: list[list[list[int]]] = []
    i = 0
    for d in docs:
        keep = [j for j in range(i, i + len(d)) if ids_flat[j]]
        out_ids.append([ids_flat[j] for j in keep])
        out_words.append([words_flat[j] for j in keep])
        i += len(d)
    return out_ids, out_words


def make_batch(
    sampler: PairSource,
    tokenizer: Any,
    rng: np.random.Generator,
    batch_size: int,
    max_length: int,
    mask_prob: float,
    whole_word: bool,
    random_ids: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One padded batch of masked pairs with MLM labels and NSP/SOP labels."""
    cls, sep, pad = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    if random_ids is None:
        random_ids = replacement_ids(tokenizer)
    input_ids = np.full((batch_size, max_length), pad, dtype=np.int64)
    token_types = np.zeros((batch_size, max_length), dtype=np.int64)
    attention = np.zeros((batch_size, max_length), dtype=np.int64)
    labels = np.full((batch_size, max_length), IGNORE_INDEX, dtype=np.int64)
    nsp = np.zeros(batch_size, dtype=np.int64)
    for row in range(batch_size):
        a_ids, a_words, b_ids, b_words, label = sampler.pair(rng)
        ids = np.array([cls, *a_ids, sep, *b_ids, sep], dtype=np.int64)
        b_offset = (max(a_words) + 1) if a_words else 0
        word_ids: list[int | None] = [None, *a_words, None, *(w + b_offset for w in b_words), None]
        targets = choose_targets(word_ids, mask_prob, rng, whole_word)
        masked, row_labels = mask_tokens(ids, targets, rng, tokenizer.mask_token_id, random_ids)
        n = len(ids)
        input_ids[row, :n] = masked
        labels[row, :n] = row_labels
        attention[row, :n] = 1
        token_types[row, len(a_ids) + 2 : n] = 1
        nsp[row] = label
    return {
        "input_ids": input_ids,
        "token_type_ids": token_types,
        "attention_mask": attention,
        "labels": labels,
        "next_sentence_label": nsp,
    }


def freeze_lower(model: Any, train_top: int) -> None:
    """Leave only the top ``train_top`` encoder layers, the pooler, the heads and the two segment
    embeddings trainable (0: all).

    For a BERT that starts from a pretrained encoder (:mod:`lmgen.models.mlm.e5_base`): the lower
    layers keep what they learned from far more text than lmgen has, and a step costs a forward
    pass through them but a backward pass through the top layers only.

    Raises:
        InputError: more layers asked for than the model has.
    """
    layers = len(model.bert.encoder.layer)
    if train_top > layers:
        raise InputError(f"the model has {layers} layers; cannot train the top {train_top}")
    for name, param in model.named_parameters():
        if frozen_below_top(name, layers, train_top):
            param.requires_grad_(False)


def frozen_below_top(name: str, layers: int, train_top: int) -> bool:
    """Whether :func:`freeze_lower` keeps the ``BertForPreTraining`` tensor ``name`` fixed: the
    word, position and LayerNorm embeddings (and the MLM decoder tied to the word embeddings) and
    every encoder layer below the top ``train_top`` (0: nothing is fixed). The two segment rows
    train (768 numbers at hidden 384): a pretrained encoder without segments (XLM-R, e5) starts
    with one row copied to both."""
    if train_top == 0 or name == "bert.embeddings.token_type_embeddings.weight":
        return False
    lower = tuple(f"bert.encoder.layer.{i}." for i in range(layers - train_top))
    return name.startswith(("bert.embeddings.", *lower)) or name == "cls.predictions.decoder.weight"


def replacement_ids(tokenizer: Any) -> np.ndarray:
    """The ids a masked position may be replaced with at random: the vocabulary minus special tokens."""
    specials = set(tokenizer.all_special_ids)
    return np.array([i for i in range(len(tokenizer)) if i not in specials], dtype=np.int64)


def _save_state(out: Path, model: Any, optimizer: Any, step: int, cfg: PretrainConfig, history: list) -> None:
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = rng_tensors()
    moments, groups = optimizer_tensors(optimizer)
    tensors.update(moments)
    if cfg.save_dtype != "float32":  # the fp32 master weights, so a resumed run loses nothing
        for name, param in model.named_parameters():  # tied weights appear once
            tensors[f"master.{name}"] = param.detach().cpu().contiguous()
    tmp = out / (STATE_TENSORS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(out / STATE_TENSORS)
    meta = {"step": step, "config": asdict(cfg), "param_groups": groups, "history": history}
    (out / (STATE_JSON + ".tmp")).write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    (out / (STATE_JSON + ".tmp")).replace(out / STATE_JSON)


def save_checkpoint(
    out: Path,
    model: Any,
    tokenizer: Any,
    optimizer: Any | None,
    step: int,
    cfg: PretrainConfig,
    history: list,
) -> None:
    """Write the HF folder (weights in ``cfg.save_dtype``) and, with an optimizer, the resume state."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    to_save = model
    if cfg.save_dtype == "float16":
        import copy

        to_save = copy.deepcopy(model).to(torch.float16)
    to_save.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    if optimizer is not None:
        _save_state(out, model, optimizer, step, cfg, history)


def load_state(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(tensors, meta)`` of a resumable checkpoint.

    Raises:
        ModelFileError: no or unreadable training state in ``out``.
    """
    from safetensors.torch import load_file

    if not (out / STATE_JSON).is_file() or not (out / STATE_TENSORS).is_file():
        raise ModelFileError(f"{out} holds no training state to resume from", path=str(out))
    try:
        meta = json.loads((out / STATE_JSON).read_text("utf-8"))
        tensors = load_file(str(out / STATE_TENSORS))
    except Exception as exc:  # corrupt or truncated files
        raise ModelFileError(f"cannot read the training state in {out}: {exc}", path=str(out)) from exc
    return tensors, meta


def corpus_tokenizer(docs: list[list[str]], cfg: PretrainConfig) -> Any:
    """A new WordPiece vocabulary of ``cfg.vocab_size`` (syllables, or jamo with ``cfg.jamo``)
    trained on the documents' sentences, wrapped for ``cfg.max_length``-token inputs."""
    from lmgen.models.mlm.tokenizer import to_transformers, train_wordpiece

    vocab = train_wordpiece((s for d in docs for s in d), cfg.vocab_size, jamo=cfg.jamo)
    return to_transformers(vocab, cfg.max_length)


def pretrain(
    train_docs: list[list[str]],
    out: Path,
    cfg: PretrainConfig | None = None,
    tokenizer: Any | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
    stop_after: int | None = None,
    on_step: Callable[[StepStats], None] | None = None,
    extend_to: int | None = None,
    init: Path | None = None,
    domains: list[str] | None = None,
) -> TrainResult:
    """Pre-train a BERT with MLM + NSP (or SOP) on ``train_docs``; checkpoints go to ``out``.

    ``tokenizer`` is a transformers fast tokenizer (trained on the corpus when omitted; a resumed
    run reuses the one saved in ``out``). ``stop_after`` ends the run early at that step (after
    saving), as if it had been interrupted — the test of resuming uses it. ``extend_to`` (with
    ``resume``) re-plans the run to end at that many steps: the linear decay is redrawn to reach 0
    there, so the learning rate rises again (a later end) or drops (an earlier one, an anneal).
    ``domains`` names each document's domain (needed with ``cfg.negatives_from == "domain"``).
    ``init`` starts a new run from a saved BERT folder's weights and tokenizer (fresh optimizer and
    schedule): its architecture replaces ``cfg``'s, e.g. to go on training the shipped checkpoint
    on a changed corpus.

    Raises:
        InputError: ``init`` together with ``resume``, bad settings, a diverged run.
        ModelFileError: no run to resume, an unreadable ``init`` folder.
    """
    import torch
    from tqdm import tqdm
    from transformers import BertForPreTraining

    from lmgen.models.mlm.bert import quiet_transformers

    quiet_transformers()
    cfg = cfg or PretrainConfig()
    out = Path(out)
    start_step = 0
    history: list[dict[str, float]] = []
    state_tensors: dict[str, Any] = {}
    if resume and init is not None:
        raise InputError("--init starts a new run; --resume continues one: use one of them")
    if resume:
        state_tensors, meta = load_state(out)
        cfg = PretrainConfig(**meta["config"])
        if extend_to is not None:
            if extend_to <= int(meta["step"]):
                raise InputError(f"the run is already at step {meta['step']}; --steps must go beyond it")
            cfg.steps = extend_to
        start_step = int(meta["step"])
        history = list(meta.get("history", []))
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(out))
    elif init is not None:
        from transformers import AutoConfig, AutoTokenizer

        if tokenizer is not None or cfg.jamo:
            raise InputError("--init brings its own tokenizer (and with it, syllables or jamo)")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(init))
            arch = AutoConfig.from_pretrained(str(init))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"cannot load a BERT from {init}: {exc}", path=str(init)) from exc
        cfg.hidden_size, cfg.num_layers = arch.hidden_size, arch.num_hidden_layers
        cfg.num_heads, cfg.intermediate_size = arch.num_attention_heads, arch.intermediate_size
        cfg.max_length, cfg.vocab_size = arch.max_position_embeddings, len(tokenizer)
    elif tokenizer is None:
        tokenizer = corpus_tokenizer(train_docs, cfg)
    dev = pick_device(device)
    torch.manual_seed(cfg.seed)
    if resume:
        model = BertForPreTraining.from_pretrained(str(out), dtype=torch.float32)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for key, value in state_tensors.items():
                if key.startswith("master."):
                    params[key.removeprefix("master.")].copy_(value)
    elif init is not None:
        model = BertForPreTraining.from_pretrained(str(init), dtype=torch.float32)
    else:
        model = BertForPreTraining(cfg.bert_config(tokenizer))
    model.to(dev)  # type: ignore[arg-type]  # transformers' stubs type .to() as the model's dtype cast
    model.train()
    freeze_lower(model, cfg.train_top)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if p.ndim >= 2]
    no_decay = [p for n, p in trainable if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    warmup = max(1, int(cfg.warmup_ratio * cfg.steps))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (cfg.steps - step) / max(1, cfg.steps - warmup))

    if resume:
        load_optimizer(optimizer, state_tensors, meta["param_groups"])
        restore_rng(state_tensors)

    ids, words = tokenize_documents(tokenizer, train_docs)
    sampler = PairSampler(
        ids,
        words,
        cfg.max_length,
        cfg.objective,
        cfg.short_seq_prob,
        groups=negative_groups(train_docs, cfg.negatives_from, domains),
        hard_negatives=cfg.hard_negatives,
        sentence_pairs=cfg.sentence_pairs,
        weights=domain_weights(cfg.domain_weights, domains, len(train_docs)),
        languages=negative_groups(train_docs, "language") if cfg.same_language else None,
        same_document=cfg.same_document,
    )
    random_ids = replacement_ids(tokenizer)
    bar = tqdm(
        total=cfg.steps, initial=start_step, desc="pre-train", unit=" step", disable=not progress, leave=True
    )
    last = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    tokens = 0
    t0 = time.perf_counter()
    step = start_step
    for step in range(start_step, last):
        rng = np.random.default_rng([cfg.seed, step])
        batch = make_batch(
            sampler, tokenizer, rng, cfg.batch_size, cfg.max_length, cfg.mask_prob, cfg.whole_word, random_ids
        )
        # drop padding columns no row uses
        width = int(batch["attention_mask"].sum(axis=1).max())
        inputs = {
            k: torch.from_numpy(np.ascontiguousarray(v[:, :width]) if v.ndim == 2 else v).to(dev)
            for k, v in batch.items()
        }
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * schedule(step)
        # the MLM head runs on the masked positions only (~15% of tokens): most of its cost is the
        # hidden × vocabulary projection, which would be wasted on positions with no label
        encoded = model.bert(
            input_ids=inputs["input_ids"],
            token_type_ids=inputs["token_type_ids"],
            attention_mask=inputs["attention_mask"],
        )
        labels = inputs["labels"]
        target = labels != IGNORE_INDEX
        mlm_logits = model.cls.predictions(encoded.last_hidden_state[target])
        nsp_logits = model.cls.seq_relationship(encoded.pooler_output)
        mlm_loss = torch.nn.functional.cross_entropy(mlm_logits, labels[target])
        nsp_loss = torch.nn.functional.cross_entropy(nsp_logits, inputs["next_sentence_label"])
        loss = mlm_loss + cfg.nsp_weight * nsp_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
        optimizer.step()
        with torch.no_grad():
            mlm_acc = (mlm_logits.argmax(-1) == labels[target]).float().mean().item()
            nsp_acc = (nsp_logits.argmax(-1) == inputs["next_sentence_label"]).float().mean().item()
        tokens += int(batch["attention_mask"].sum())
        stats = StepStats(
            step + 1,
            loss.item(),
            mlm_loss.item(),
            nsp_loss.item(),
            mlm_acc,
            nsp_acc,
            optimizer.param_groups[0]["lr"],
        )
        history.append({k: round(v, 6) for k, v in asdict(stats).items()})
        if on_step is not None:
            on_step(stats)
        bar.update(1)
        bar.set_postfix(loss=f"{stats.loss:.3f}", mlm_acc=f"{mlm_acc:.3f}", nsp_acc=f"{nsp_acc:.3f}")
        if not math.isfinite(stats.loss):
            bar.close()
            raise InputError(f"training diverged at step {step + 1} (loss {stats.loss})", hint="lower --lr")
        if (step + 1) % cfg.save_every == 0 and step + 1 < last:
            save_checkpoint(out, model, tokenizer, optimizer, step + 1, cfg, history)
    bar.close()
    done = last if last > start_step else start_step
    save_checkpoint(out, model, tokenizer, optimizer, done, cfg, history)
    seconds = time.perf_counter() - t0
    return TrainResult(out, done, seconds, tokens / seconds if seconds else 0.0, history)
