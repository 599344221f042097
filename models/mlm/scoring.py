"""Sentence-level scores from a BERT: next-sentence probability and pseudo-perplexity.

Pseudo-log-likelihood (Salazar et al., 2020, "Masked Language Model Scoring"): mask each
token in turn and add up log P(token | all the others); pseudo-perplexity is
``exp(-PLL / N)`` over the N scored tokens. A sentence of N tokens needs N forward passes;
they run as batches of masked copies, and for BERT checkpoints the vocabulary projection
runs only at the one masked position of each copy.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from lmgen.errors import InputError
from lmgen.models.mlm.bert import LoadedBert, TruncationWarning, check_text, load_bert
from lmgen.models.mlm.tokenizer import display


class BertScorer:
    """Next-sentence prediction and pseudo-perplexity with one loaded checkpoint."""

    def __init__(self, bert: LoadedBert) -> None:
        self.bert = bert
        self.tokenizer = bert.tokenizer

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, device: str = "auto") -> BertScorer:
        return cls(load_bert(name_or_path, device))

    # ------------------------------------------------------------------ NSP
    def is_next(self, sentence_a: str, sentence_b: str) -> dict[str, Any]:
        """Probability that ``sentence_b`` follows ``sentence_a`` (BERT's IsNext class) and the label.

        Raises:
            InputError: an empty or too long sentence, or a checkpoint without an NSP head.
        """
        return self.is_next_batch([(sentence_a, sentence_b)])[0]

    def is_next_batch(self, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        import torch

        if not self.bert.has_nsp_head:
            raise InputError(
                f"{self.bert.name} has no next-sentence head (only BERT checkpoints saved as "
                "BertForPreTraining have one)"
            )
        for a, b in pairs:
            check_text(a, "first sentence")
            check_text(b, "second sentence")
        firsts = [a for a, _ in pairs]
        seconds = [b for _, b in pairs]
        full = self.tokenizer(firsts, seconds, add_special_tokens=True)["input_ids"]
        limit = self.bert.max_length
        too_long = [i for i, ids in enumerate(full) if len(ids) > limit]
        if too_long:
            warnings.warn(
                f"{len(too_long)} pair(s) longer than {limit} tokens: "
                "the longer sentence was cut from its end",
                TruncationWarning,
                stacklevel=2,
            )
        enc = self.tokenizer(
            firsts,
            seconds,
            truncation="longest_first",
            max_length=limit,
            padding=True,
            return_token_type_ids=True,
            return_tensors="pt",
        )
        dev = self.bert.device
        with self.bert.lock, torch.inference_mode():
            out = self.bert.model(
                input_ids=enc["input_ids"].to(dev),
                token_type_ids=enc["token_type_ids"].to(dev),
                attention_mask=enc["attention_mask"].to(dev),
            )
            probs = torch.softmax(out.seq_relationship_logits.float(), dim=-1)[:, 0].cpu().tolist()
        return [
            {"is_next": float(p), "label": "IsNext" if p >= 0.5 else "NotNext", "truncated": i in too_long}
            for i, p in enumerate(probs)
        ]

    # ------------------------------------------------------------------ PLL
    def pseudo_perplexity(self, text: str, batch_size: int = 64) -> dict[str, Any]:
        """PLL (natural log) and pseudo-perplexity of ``text``, with each token's log-probability.

        Raises:
            InputError: empty or too long text, or ``batch_size`` < 1.
        """
        import torch

        check_text(text)
        if batch_size < 1:
            raise InputError("batch size must be at least 1")
        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        limit = self.bert.max_length
        truncated = len(ids) > limit
        if truncated:
            warnings.warn(
                f"text is {len(ids)} tokens; the model reads {limit}: scored the first {limit - 2}",
                TruncationWarning,
                stacklevel=2,
            )
            ids = [*ids[: limit - 1], ids[-1]]
        specials = set(self.tokenizer.all_special_ids)
        positions = [i for i, t in enumerate(ids) if t not in specials]
        if not positions:
            raise InputError("nothing to score: the text has no tokens besides special ones")
        base = torch.tensor(ids, dtype=torch.long)
        mask_id = self.tokenizer.mask_token_id
        dev = self.bert.device
        split = self.bert.encoder_and_head()
        logprobs: list[float] = []
        with self.bert.lock, torch.inference_mode():
            for begin in range(0, len(positions), batch_size):
                chunk = torch.tensor(positions[begin : begin + batch_size], dtype=torch.long)
                batch = base.repeat(len(chunk), 1)
                rows = torch.arange(len(chunk))
                batch[rows, chunk] = mask_id
                kwargs = {
                    "input_ids": batch.to(dev),
                    "attention_mask": torch.ones_like(batch).to(dev),
                }
                if split is not None:
                    encoder, head = split
                    kwargs["token_type_ids"] = torch.zeros_like(batch).to(dev)
                    hidden = encoder(**kwargs).last_hidden_state[rows.to(dev), chunk.to(dev)]
                    logits = head(hidden)
                else:
                    logits = self.bert.model(**kwargs).logits[rows.to(dev), chunk.to(dev)]
                lp = torch.log_softmax(logits.float(), dim=-1)[rows.to(dev), base[chunk].to(dev)]
                logprobs.extend(lp.cpu().tolist())
        pll = float(sum(logprobs))
        tokens = [display(t) for t in self.tokenizer.convert_ids_to_tokens([ids[p] for p in positions])]
        return {
            "text": text,
            "pll": pll,
            "pppl": math.exp(-pll / len(positions)),
            "tokens": len(positions),
            "truncated": truncated,
            "per_token": [{"token": t, "logprob": lp} for t, lp in zip(tokens, logprobs, strict=True)],
        }
