"""Shared by the device scripts: import lmgen from this checkout where it is not installed.

The GPU machine the device tool lends has torch, transformers, safetensors and tqdm but no
package registry, so lmgen cannot be pip-installed there. The checkout maps ``lmgen.<name>`` to
``./<name>`` (pyproject's package-dir); a temporary ``lmgen`` folder with links to those folders
gives the same imports.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "tools", "chains", "stores", "models", "ui")


def import_lmgen() -> None:
    try:
        import lmgen.models  # noqa: F401

        return
    except ImportError:
        pass
    shim = Path(tempfile.mkdtemp(prefix="lmgen-shim-"))
    pkg = shim / "lmgen"
    shutil.copytree(ROOT / "lmgen", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for name in PACKAGES:
        (pkg / name).symlink_to(ROOT / name, target_is_directory=True)
    sys.path.insert(0, str(shim))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])
