"""The app's playground views (``ui/lab.py``) on the real engines, without a browser."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lmgen.errors import InputError
from lmgen.ui import lab


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMGEN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_heatmap_escapes_tokens_and_marks_oov_and_backoff() -> None:
    html = lab.heatmap_html(
        [
            {"token": "<b>", "log10_prob": -1.0, "order": 3, "backoff": False, "oov": False},
            {"token": "zzz", "log10_prob": -6.0, "order": 1, "backoff": True, "oov": True},
            {"token": "x", "log10_prob": float("-inf"), "order": 2, "backoff": True, "oov": False},
        ]
    )
    assert "&lt;b&gt;" in html and "<b><b></b>" not in html
    assert "OOV" in html and "line-through" in html
    assert "2-gram ↩" in html and "−∞" in html


def test_ngram_view_and_the_sparsity_lesson(home: Path) -> None:
    view = lab.ngram_view("To be or not to be, that is the question.")
    assert view["result"]["ppl"] > 1 and view["html"].count("lm-tok") == view["result"]["tokens"]
    rows = lab.order_curve("To be or not to be, that is the question.")
    by = {(r["smoothing"], r["order"]): r for r in rows}
    assert len(rows) == len(lab.SMOOTHINGS) * len(lab.ORDERS)
    assert not by[("mle", 1)]["infinite"]  # every word was seen
    assert by[("mle", 5)]["infinite"]  # …but not this 5-gram: MLE gives it probability 0
    assert all(not by[("kneser-ney", n)]["infinite"] for n in lab.ORDERS)  # smoothing keeps it finite
    assert math.isfinite(by[("kneser-ney", 5)]["ppl"])
    with pytest.raises(InputError):
        lab.order_curve("   ")
    with pytest.raises(InputError):
        lab.ngram_view("x" * (lab.MAX_TEXT + 1))


def test_safe_names_and_refused_uploads(home: Path, tmp_path: Path) -> None:
    assert lab.safe_name("my notes (v2).md") == "my notes _v2_.md"
    assert lab.safe_name("노트.md") == "노트.md"
    with pytest.raises(InputError):
        lab.safe_name("..")
    good = tmp_path / "a.md"
    good.write_text("# A\n\nalpha beta gamma.\n")
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (lab.MAX_UPLOAD_BYTES + 1))
    kept, refused = lab.store_uploads(
        [
            ("a.md", str(good)),
            ("../../etc/passwd.md", str(good)),
            ("..\\evil.md", str(good)),
            ("tool.exe", str(good)),
            ("big.txt", str(big)),
        ]
    )
    assert [p.name for p in kept] == ["a.md"]
    assert kept[0].parent == (home / "uploads").resolve()
    assert [r["file"] for r in refused] == ["../../etc/passwd.md", "..\\evil.md", "tool.exe", "big.txt"]
    assert not (tmp_path / "etc").exists() and sorted(p.name for p in (home / "uploads").iterdir()) == [
        "a.md"
    ]


def test_router_view_follows_the_share() -> None:
    low = lab.router_view("What is 17 times 23?", 0.0)
    high = lab.router_view("What is 17 times 23?", 1.0)
    assert low["decision"]["route"] == "expert" and high["decision"]["route"] == "generalist"
    assert {r["intent"] for r in low["intents"]} == {"chat", "ppl", "fill_mask", "nsp", "rag", "image"}
    curves = lab.quality_cost_rows()
    assert {r["router"] for r in curves} >= {"learned", "random", "keyword", "always-expert"}


def test_bert_views() -> None:
    rows = lab.mask_rows("The [MASK] sat on the [MASK].", top_k=3)
    assert [r["mask"] for r in rows] == ["#1"] * 3 + ["#2"] * 3
    assert all(0 <= r["probability"] <= 1 for r in rows)
    with pytest.raises(InputError):
        lab.mask_rows("no gap here")
    scored = lab.pll_rows("The cat sat on the mat.\nmat the on sat cat The.")
    assert len(scored) == 2 and all(r["pseudo_perplexity"] > 1 for r in scored)


def test_generator_views(home: Path) -> None:
    grids = lab.side_by_side(seed=3, count=4, steps=5)
    assert set(grids) == set(lab.FAMILIES)
    assert all(Path(g["grid"]).is_file() and g["seconds_per_image"] >= 0 for g in grids.values())
    assert Path(lab.draw_digit(7, seed=0, count=2, steps=5)).is_file()
    strips = lab.strips(seed=0)
    assert set(strips) == {"ae_interpolation", "vae_interpolation", "forward_noising", "reverse_trajectory"}
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in strips.values())
    rows = lab.sampler_table(seed=0, count=1, steps=(5,))
    assert [(r["sampler"], "autoguided" in r["model"]) for r in rows] == [
        ("ddim", True),
        ("ddim", False),  # the same steps without the guide model, to compare
        ("ddpm", True),
    ]
    assert all(Path(r["grid"]).is_file() for r in rows)
    assert Path(lab.faces(seed=0, count=2)).is_file()


def test_settings_rows_show_overrides_and_hide_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMGEN_GENERALIST_API_KEY", "sk-secret")
    rows = {r["setting"]: r["value"] for r in lab.settings_rows({"max_tokens": 64, "rag": False})}
    assert rows["max_tokens"] == "64" and rows["rag"] == "False"
    assert "backend" in rows and "model: expert" in rows
    assert not any("sk-secret" in v for v in rows.values()) and "generalist_api_key" not in rows
