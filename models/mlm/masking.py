"""BERT's masking rule, written out: choose 15% of the (non-special) tokens as prediction targets;
of those, 80% become ``[MASK]``, 10% a random token, 10% stay as they are (Devlin et al. 2019,
§3.1 and appendix C.2). Whole-word masking chooses words instead of pieces, so a word's ``##``
pieces are always masked together.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = -100


def choose_targets(
    word_ids: list[int | None], prob: float, rng: np.random.Generator, whole_word: bool
) -> np.ndarray:
    """Boolean array over positions: which tokens the model must predict.

    ``word_ids`` is ``None`` for special tokens (never chosen) and a word index otherwise. The
    number of targets is ``max(1, round(prob · candidates))`` (whole words: words are taken in
    random order until that many tokens are covered, never overshooting by more than one word).
    """
    n = len(word_ids)
    chosen = np.zeros(n, dtype=bool)
    positions = [i for i, w in enumerate(word_ids) if w is not None]
    if not positions:
        return chosen
    budget = max(1, round(prob * len(positions)))
    if not whole_word:
        chosen[rng.choice(positions, size=budget, replace=False)] = True
        return chosen
    words: dict[int, list[int]] = {}
    for i in positions:
        words.setdefault(int(word_ids[i]), []).append(i)  # type: ignore[arg-type]
    groups = list(words.values())
    covered = 0
    for index in rng.permutation(len(groups)):
        if covered >= budget:
            break
        group = groups[index]
        if covered and covered + len(group) > budget + 1:
            continue
        chosen[group] = True
        covered += len(group)
    return chosen


def mask_tokens(
    input_ids: np.ndarray,
    targets: np.ndarray,
    rng: np.random.Generator,
    mask_id: int,
    random_ids: np.ndarray,
    mask_rate: float = 0.8,
    random_rate: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply 80/10/10 to the chosen ``targets``; returns ``(masked_input_ids, labels)``.

    ``random_ids`` is the pool random replacements are drawn from (the vocabulary without
    special tokens). Labels hold the original id at targets and ``IGNORE_INDEX`` elsewhere.
    """
    ids = input_ids.copy()
    labels = np.full_like(ids, IGNORE_INDEX)
    labels[targets] = input_ids[targets]
    roll = rng.random(ids.shape)
    to_mask = targets & (roll < mask_rate)
    to_random = targets & (roll >= mask_rate) & (roll < mask_rate + random_rate)
    ids[to_mask] = mask_id
    ids[to_random] = rng.choice(random_ids, size=int(to_random.sum()))
    return ids, labels
