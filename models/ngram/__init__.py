"""N-gram language models: counting, smoothing, perplexity, ARPA, generation (NumPy only).

>>> from lmgen.models.ngram import NgramModel
>>> lm = NgramModel(order=3, smoothing="kneser-ney").fit(["the cat sat .", "the dog sat ."])
>>> lm.perplexity(["the cat sat ."])["ppl"]
"""

from lmgen.models.ngram.arpa import read_arpa, write_arpa
from lmgen.models.ngram.counts import NgramCounts, Vocabulary
from lmgen.models.ngram.model import NgramModel, TokenScore
from lmgen.models.ngram.smoothing import (
    SMOOTHINGS,
    AddKSmoothing,
    KneserNeySmoothing,
    MLESmoothing,
    StupidBackoff,
    WittenBellSmoothing,
)
from lmgen.models.ngram.tokenize import TOKENIZERS, get_tokenizer, split_sentences

__all__ = [
    "SMOOTHINGS",
    "TOKENIZERS",
    "AddKSmoothing",
    "KneserNeySmoothing",
    "MLESmoothing",
    "NgramCounts",
    "NgramModel",
    "StupidBackoff",
    "TokenScore",
    "Vocabulary",
    "WittenBellSmoothing",
    "get_tokenizer",
    "read_arpa",
    "split_sentences",
    "write_arpa",
]
