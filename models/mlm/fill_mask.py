"""Fill-mask in the shape of the transformers pipeline: ``preprocess`` → ``_forward`` → ``postprocess``.

Each ``[MASK]`` (or ``<mask>``; either spelling is mapped to the checkpoint's own mask token) gets
its candidates from the same forward pass, as ``{score, token, token_str, sequence}``: ``score``
is the softmax probability over the whole vocabulary, ``token`` the id, ``token_str`` the piece
(WordPiece's ``##`` dropped), ``sequence`` the input text with that mask filled.

Korean writes particles onto the word (``[MASK]에``). Tokenized naively, ``에`` would become a
word-initial piece, which the model never saw after a masked word piece during training. For
WordPiece checkpoints the text glued to the right of a mask is therefore tokenized as a
continuation (``##에``), just as it would be if the word were written out; and a mask that
starts a word never proposes a ``##`` continuation piece.

Both shipped vocabularies hold Korean and English pieces, and a model that has read little of one
language may rank a word of the other first ("table" for ``나는 [MASK]에 가서 …``). By default a
mask is therefore filled only with pieces written in the scripts the rest of the text uses
(Hangul, Latin, other letters; pieces without letters, such as digits or punctuation, always
qualify). ``same_script=False`` shows the model's unfiltered ranking; scores are the model's
probabilities either way.
"""

from __future__ import annotations

import re
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmgen.errors import InputError
from lmgen.models.mlm.bert import LoadedBert, TruncationWarning, check_text, load_bert
from lmgen.models.mlm.tokenizer import display, is_hangul, raw_backend

MASK_SPELLINGS = re.compile(r"\[MASK\]|<mask>", re.IGNORECASE)
# both spellings work with every model, so the message does not depend on the tokenizer's own mask
NO_MASK = "no [MASK] in the text: put [MASK] (or <mask>) where a word is missing"
_PLACEHOLDERS = ("a", "x", "가", "이")
_METASPACE = "\u2581"
# per tokenizer: the ids of the pieces outside each set of scripts (a FillMasker is made per call)
_OFF_SCRIPT: weakref.WeakKeyDictionary[Any, dict[frozenset[str], Any]] = weakref.WeakKeyDictionary()


def scripts_of(text: str) -> frozenset[str]:
    """The scripts of the letters in ``text``: "hangul", "latin", "other" (digits, marks: none)."""
    found = set()
    for ch in text:
        if not ch.isalpha():
            continue
        if is_hangul(ch):
            found.add("hangul")
        elif ord(ch) < 0x250:
            found.add("latin")
        else:
            found.add("other")
    return frozenset(found)


@dataclass
class MaskedInput:
    """A tokenized text with its masks: what ``preprocess`` hands to ``_forward``."""

    text: str
    input_ids: list[int]
    mask_positions: list[int]
    mask_spans: list[tuple[int, int]]  # character spans of the masks in ``text``
    word_start: list[bool]  # whether each mask begins a word
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    scripts: frozenset[str] = frozenset()  # letter scripts of the text around the masks


class FillMasker:
    """Fill ``[MASK]`` tokens with a masked language model.

    Args:
        bert: A loaded checkpoint (:func:`lmgen.models.mlm.bert.load_bert`).
    """

    def __init__(self, bert: LoadedBert) -> None:
        self.bert = bert
        self.tokenizer = bert.tokenizer
        vocab = self.tokenizer.get_vocab()
        self._vocab = vocab
        model = getattr(getattr(self.tokenizer, "backend_tokenizer", None), "model", None)
        self.wordpiece = type(model).__name__ == "WordPiece"
        # SentencePiece vocabularies (XLM-R's, lmgen's e5-based BERT) mark a word's first piece
        # with "▁" instead of marking the rest with "##"
        self.metaspace = not self.wordpiece and any(t.startswith(_METASPACE) for t in vocab)
        self._special_ids = set(self.tokenizer.all_special_ids)
        if self.metaspace and _METASPACE in vocab:  # a bare word mark fills no mask with a word
            self._special_ids.add(vocab[_METASPACE])
        if self.wordpiece:
            self._continuation_ids = [i for t, i in vocab.items() if t.startswith("##")]
        elif self.metaspace:
            self._continuation_ids = [
                i for t, i in vocab.items() if not t.startswith(_METASPACE) and i not in self._special_ids
            ]
        else:
            self._continuation_ids = []
        # a mask glued to the text on its left continues that word: no "▁" piece fits there
        self._initial_ids = (
            [i for t, i in vocab.items() if t.startswith(_METASPACE)] if self.metaspace else []
        )
        try:
            self._off_script = _OFF_SCRIPT.setdefault(self.tokenizer, {})
        except TypeError:  # a tokenizer that cannot be weakly referenced: cache on this instance
            self._off_script = {}

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, device: str = "auto") -> FillMasker:
        return cls(load_bert(name_or_path, device))

    @property
    def mask_token(self) -> str:
        return self.bert.mask_token

    # ------------------------------------------------------------------ preprocess
    def _continuation(self, word: str) -> list[int] | None:
        """Ids of ``word`` written as the continuation of a preceding piece (``##…`` first), or None."""
        for placeholder in _PLACEHOLDERS:
            if placeholder not in self._vocab:
                continue
            enc = raw_backend(self.tokenizer).encode(placeholder + word, add_special_tokens=False)
            tokens = enc.tokens
            if not tokens:
                continue
            head = _METASPACE + placeholder if self.metaspace else placeholder
            if tokens[0] == head:
                return list(enc.ids[1:])
            # the placeholder merged with the following characters: keep the rest as a piece
            # that continues a word (## for WordPiece, no mark for SentencePiece)
            first = tokens[0]
            rest = ("" if self.metaspace else "##") + first[len(head) :]
            if first.startswith(head) and rest in self._vocab:
                return [self._vocab[rest], *enc.ids[1:]]
        return None

    def _encode_piece(self, piece: str) -> list[int]:
        return list(raw_backend(self.tokenizer).encode(piece, add_special_tokens=False).ids) if piece else []

    def preprocess(self, text: str) -> MaskedInput:
        """Tokenize ``text`` and find its masks.

        Raises:
            InputError: empty or too long text, or no mask in it.
        """
        check_text(text)
        spans = [m.span() for m in MASK_SPELLINGS.finditer(text)]
        if not spans:
            raise InputError(NO_MASK)
        pieces = MASK_SPELLINGS.split(text)
        ids: list[int] = []
        positions: list[int] = []
        word_start: list[bool] = []
        mask_id = self.tokenizer.mask_token_id
        for index, piece in enumerate(pieces):
            if index + 1 < len(pieces) and self.metaspace:
                # the space before a mask belongs to the masked word ("▁word"), not a lone "▁"
                piece = piece.rstrip()
            if index > 0:  # a mask precedes this piece
                if self.wordpiece:
                    glued = re.match(r"[^\s\W]+", piece)
                else:  # SentencePiece: all text up to the next space continues the masked word
                    glued = re.match(r"\S+", piece) if self.metaspace else None
                cont = self._continuation(glued.group(0)) if glued else None
                positions.append(len(ids))
                prev = pieces[index - 1]
                word_start.append(not prev or prev[-1].isspace() or not prev[-1].isalnum())
                ids.append(mask_id)
                if glued and cont is not None:
                    ids.extend(cont)
                    piece = piece[glued.end() :]
            ids.extend(self._encode_piece(piece))
        item = self._fit(text, ids, positions, spans, word_start)
        item.scripts = scripts_of(MASK_SPELLINGS.sub(" ", text))
        return item

    def _fit(
        self,
        text: str,
        ids: list[int],
        positions: list[int],
        spans: list[tuple[int, int]],
        word_start: list[bool],
    ) -> MaskedInput:
        """Add [CLS]/[SEP] (or <s>/</s>) and cut to the model's length around the masks."""
        room = self.bert.max_length - 2
        truncated = False
        notes: list[str] = []
        if len(ids) > room:
            first, last = positions[0], positions[-1]
            if last - first + 1 > room:
                raise InputError(
                    f"the masks are {last - first + 1} tokens apart; this model reads {self.bert.max_length} "
                    "tokens at once: split the text"
                )
            start = max(0, min(first - (room - (last - first + 1)) // 2, len(ids) - room))
            notes.append(
                f"text is {len(ids) + 2} tokens; the model reads {self.bert.max_length}: "
                f"kept tokens {start}–{start + room} around the masks"
            )
            ids = ids[start : start + room]
            positions = [p - start for p in positions]
            truncated = True
            warnings.warn(notes[-1], TruncationWarning, stacklevel=3)
        cls_id = self.tokenizer.cls_token_id
        sep_id = self.tokenizer.sep_token_id
        if cls_id is None:
            cls_id = self.tokenizer.bos_token_id
        if sep_id is None:
            sep_id = self.tokenizer.eos_token_id
        full = [cls_id, *ids, sep_id]
        return MaskedInput(text, full, [p + 1 for p in positions], spans, word_start, truncated, notes)

    # ------------------------------------------------------------------ forward
    def _forward(self, batch: list[MaskedInput]) -> list[Any]:
        """Probabilities over the vocabulary at every mask, one ``(masks, vocab)`` tensor per input."""
        import torch

        pad = self.tokenizer.pad_token_id or 0
        width = max(len(m.input_ids) for m in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            ids[row, : len(item.input_ids)] = torch.tensor(item.input_ids)
            attention[row, : len(item.input_ids)] = 1
        rows = torch.tensor([r for r, m in enumerate(batch) for _ in m.mask_positions], dtype=torch.long)
        cols = torch.tensor([p for m in batch for p in m.mask_positions], dtype=torch.long)
        dev = self.bert.device
        kwargs: dict[str, Any] = {"input_ids": ids.to(dev), "attention_mask": attention.to(dev)}
        if "token_type_ids" in self.tokenizer.model_input_names or self.bert.encoder_and_head():
            kwargs["token_type_ids"] = torch.zeros_like(kwargs["input_ids"])
        with self.bert.lock, torch.inference_mode():
            split = self.bert.encoder_and_head()
            if split is not None:
                encoder, head = split
                hidden = encoder(**kwargs).last_hidden_state
                logits = head(hidden[rows.to(dev), cols.to(dev)])
            else:
                logits = self.bert.model(**kwargs).logits[rows.to(dev), cols.to(dev)]
            probs = torch.softmax(logits.float(), dim=-1).cpu()
        out = []
        offset = 0
        for item in batch:
            out.append(probs[offset : offset + len(item.mask_positions)])
            offset += len(item.mask_positions)
        return out

    # ------------------------------------------------------------------ postprocess
    def target_ids(self, targets: list[str]) -> list[int]:
        """Vocabulary ids of ``targets`` (first piece of a multi-piece word, with a warning).

        Raises:
            InputError: an empty target or one the vocabulary does not know.
        """
        ids: list[int] = []
        unk = self.tokenizer.unk_token_id
        for target in targets:
            if not target.strip():
                raise InputError("empty target word")
            if target in self._vocab:
                ids.append(self._vocab[target])
                continue
            pieces = self.tokenizer.tokenize(target)
            piece_ids = self.tokenizer.convert_tokens_to_ids(pieces)
            if not piece_ids or piece_ids[0] == unk:
                raise InputError(f"target {target!r} is not in this model's vocabulary")
            if len(pieces) > 1:
                warnings.warn(
                    f"target {target!r} is {len(pieces)} pieces {pieces}; "
                    f"scoring its first piece {pieces[0]!r}",
                    UserWarning,
                    stacklevel=3,
                )
            ids.append(piece_ids[0])
        return list(dict.fromkeys(ids))

    def off_script_ids(self, scripts: frozenset[str]) -> Any:
        """Ids of the pieces with a letter outside ``scripts``, as a tensor (cached per tokenizer)."""
        import torch

        if scripts not in self._off_script:
            off = [
                token_id
                for piece, token_id in self._vocab.items()
                if not scripts_of(piece.removeprefix("##").replace(_METASPACE, "")) <= scripts
            ]
            self._off_script[scripts] = torch.tensor(off, dtype=torch.long)
        return self._off_script[scripts]

    def token_str(self, token_id: int) -> str:
        piece = str(self.tokenizer.convert_ids_to_tokens(int(token_id)))
        if piece.startswith("##"):
            return display(piece[2:])
        return display(self.tokenizer.decode([int(token_id)]).strip())

    def postprocess(
        self,
        item: MaskedInput,
        probs: Any,
        top_k: int = 5,
        targets: list[int] | None = None,
        same_script: bool = True,
    ) -> list[list[dict[str, Any]]]:
        import torch

        results: list[list[dict[str, Any]]] = []
        for index, row in enumerate(probs):
            if targets:
                cand = torch.tensor(targets, dtype=torch.long)
                order = torch.argsort(row[cand], descending=True)[:top_k]
                chosen = cand[order]
            else:
                ranking = row.clone()
                ranking[list(self._special_ids)] = -1.0
                if item.word_start[index] and self._continuation_ids:
                    ranking[self._continuation_ids] = -1.0
                elif not item.word_start[index] and self._initial_ids:
                    ranking[self._initial_ids] = -1.0
                if same_script and item.scripts:
                    ranking[self.off_script_ids(item.scripts)] = -1.0
                chosen = torch.topk(ranking, min(top_k, int((ranking >= 0).sum()))).indices
            start, end = item.mask_spans[index]
            candidates = []
            for token_id in chosen.tolist():
                word = self.token_str(token_id)
                candidates.append(
                    {
                        "score": float(row[token_id]),
                        "token": int(token_id),
                        "token_str": word,
                        "sequence": item.text[:start] + word + item.text[end:],
                    }
                )
            results.append(candidates)
        return results

    # ------------------------------------------------------------------ call
    def __call__(
        self,
        inputs: str | list[str],
        top_k: int = 5,
        targets: list[str] | None = None,
        batch_size: int = 32,
        same_script: bool = True,
    ) -> Any:
        """Candidates per mask: for one text a list (one per mask) of lists of candidates; for a list
        of texts, a list of those. Texts in a list are run through the model ``batch_size`` at a time.
        ``same_script`` keeps to pieces in the scripts of the text around the masks (``targets``
        are always scored as given).

        Raises:
            InputError: no mask, empty or too long text, ``top_k`` < 1, unknown target words.
        """
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, not {top_k}")
        if top_k > 100:
            raise InputError(f"top_k is at most 100, not {top_k}")
        texts: list[str] = [inputs] if isinstance(inputs, str) else list(inputs)
        single = isinstance(inputs, str)
        if not texts:
            raise InputError("no texts given")
        target_ids = self.target_ids(targets) if targets else None
        items = [self.preprocess(t) for t in texts]
        out: list[list[list[dict[str, Any]]]] = []
        for begin in range(0, len(items), max(1, batch_size)):
            chunk = items[begin : begin + batch_size]
            for item, probs in zip(chunk, self._forward(chunk), strict=True):
                out.append(self.postprocess(item, probs, top_k, target_ids, same_script))
        return out[0] if single else out
