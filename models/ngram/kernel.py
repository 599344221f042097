"""ctypes binding to the optional C kernel (``_kernel.c``): word ids and n-gram key lookups.

The kernel is compiled when lmgen is installed (an optional extension: no compiler, no
kernel). Without it every caller falls back to the NumPy paths, which give identical results.
Set ``LMGEN_NGRAM_KERNEL=0`` in a test to force the fallback.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from functools import cache

import numpy as np

_I64P = ctypes.POINTER(ctypes.c_int64)


@cache
def _library() -> ctypes.CDLL | None:
    spec = importlib.util.find_spec("lmgen.models.ngram._kernel")
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    lib = ctypes.CDLL(spec.origin)
    lib.words_new.restype = ctypes.c_void_p
    lib.words_new.argtypes = [ctypes.c_int64]
    lib.words_free.argtypes = [ctypes.c_void_p]
    lib.words_encode.restype = ctypes.c_int64
    lib.words_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int64,
        ctypes.c_int,
        _I64P,
        ctypes.c_int64,
        _I64P,
        ctypes.c_int64,
    ]
    lib.words_count.restype = ctypes.c_int64
    lib.words_count.argtypes = [ctypes.c_void_p]
    lib.words_bytes.restype = ctypes.c_int64
    lib.words_bytes.argtypes = [ctypes.c_void_p]
    lib.words_export.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _I64P]
    lib.keys_new.restype = ctypes.c_void_p
    lib.keys_new.argtypes = [_I64P, ctypes.c_int64]
    lib.keys_free.argtypes = [ctypes.c_void_p]
    lib.keys_find.argtypes = [ctypes.c_void_p, _I64P, ctypes.c_int64, _I64P]
    return lib


def available() -> bool:
    """Whether the compiled kernel is installed and not disabled."""
    return os.environ.get("LMGEN_NGRAM_KERNEL", "1") != "0" and _library() is not None


def _ptr(a: np.ndarray) -> ctypes._Pointer:
    return a.ctypes.data_as(_I64P)


class WordTable:
    """Word → id hash table in C. Ids are positions in ``words`` (or first-occurrence order)."""

    def __init__(self, words: list[str] | None = None, expected: int = 1024) -> None:
        lib = _library()
        if lib is None:
            raise RuntimeError("the n-gram kernel is not built")
        self._lib = lib
        self._handle = lib.words_new(max(expected, len(words or [])))
        if not self._handle:
            raise MemoryError("n-gram kernel: out of memory")
        if words:
            ids, _ = self.encode("\n".join(words), add=True)
            if len(ids) != len(words) or not np.array_equal(ids, np.arange(len(words))):
                raise ValueError("vocabulary words must be distinct and free of whitespace")

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.words_free(self._handle)
            self._handle = None

    def encode(self, text: str, add: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the whitespace-separated words of ``text`` (-1 = unknown) and words per line."""
        data = text.encode("utf-8")
        lines = np.zeros(text.count("\n") + 1, dtype=np.int64)
        ids = np.empty(len(data) // 2 + 1, dtype=np.int64)  # a word takes ≥ 1 byte and ≥ 1 separator
        n = self._lib.words_encode(
            self._handle, data, len(data), int(add), _ptr(ids), len(ids), _ptr(lines), len(lines)
        )
        if n < 0:
            raise MemoryError("n-gram kernel: out of memory")
        return ids[:n], lines

    def words(self) -> list[str]:
        """The stored words in id order."""
        count = self._lib.words_count(self._handle)
        buf = ctypes.create_string_buffer(max(1, self._lib.words_bytes(self._handle)))
        offsets = np.empty(count + 1, dtype=np.int64)
        self._lib.words_export(self._handle, buf, _ptr(offsets))
        raw = buf.raw
        return [raw[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]


class KeyTable:
    """Distinct int64 keys → their index, as an open-addressing hash table in C."""

    def __init__(self, keys: np.ndarray) -> None:
        lib = _library()
        if lib is None:
            raise RuntimeError("the n-gram kernel is not built")
        self._lib = lib
        self._keys = np.ascontiguousarray(keys, dtype=np.int64)
        self._handle = lib.keys_new(_ptr(self._keys), len(self._keys))
        if not self._handle:
            raise MemoryError("n-gram kernel: out of memory")

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.keys_free(self._handle)
            self._handle = None

    def find(self, needles: np.ndarray) -> np.ndarray:
        needles = np.ascontiguousarray(needles, dtype=np.int64)
        out = np.empty(len(needles), dtype=np.int64)
        self._lib.keys_find(self._handle, _ptr(needles), len(needles), _ptr(out))
        return out
