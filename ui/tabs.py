"""The app's playground tabs: layout and wiring only. Every number, row and picture comes from
:mod:`lmgen.ui.lab`, which calls the same engines as the CLI, the tools and MCP."""

# No `from __future__ import annotations`: Gradio reads handler annotations at run time.
import math
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from lmgen.errors import LmgenError
from lmgen.ui import lab

_EN = {
    "chat": "Chat",
    "documents": "Documents",
    "ngram": "N-gram",
    "bert": "BERT",
    "generators": "Generators",
    "router": "Router",
    "settings": "Settings",
    "compression": "Compression",
    "sentence": "Sentence",
    "score": "Score",
    "request": "Request",
    "share": "Share of requests sent to the generalist",
    "seed": "Seed",
    "query": "Search query",
    "upload": "Add files to the knowledge base",
}
_KO = {
    "chat": "채팅",
    "documents": "문서",
    "ngram": "N-gram",
    "bert": "BERT",
    "generators": "생성 모델",
    "router": "라우터",
    "settings": "설정",
    "compression": "모델 압축",
    "sentence": "문장",
    "score": "점수 매기기",
    "request": "요청",
    "share": "제너럴리스트로 보내는 요청 비율",
    "seed": "시드",
    "query": "검색어",
    "upload": "지식 베이스에 파일 추가",
}
_KO_LABELS = {
    "MLE: infinite perplexity at": "MLE: 퍼플렉서티가 무한대가 되는 곳",
    "Korean model": "한국어 모델",
    "Generate": "생성",
    "Sampled sentences": "샘플 문장",
    "Text with [MASK]": "[MASK]가 있는 문장",
    "Fill": "채우기",
    "Sentence A": "문장 A",
    "Sentence B": "문장 B",
    "Next sentence?": "다음 문장일까?",
    "Sentences (one per line)": "문장 (한 줄에 하나)",
    "Pseudo-perplexity": "의사 퍼플렉서티",
    "Bias probe templates": "편향 탐침 템플릿",
    "Run the bias probe": "편향 탐침 실행",
    "Images per model": "모델별 이미지 수",
    "Sample all four": "네 모델 모두 샘플링",
    "Digit": "숫자",
    "Draw this digit (diffusion, class guidance)": "이 숫자 그리기 (확산 모델, 클래스 가이던스)",
    "Drawn": "그린 결과",
    "Show the ideas: latent interpolation, forward noising, reverse trajectory": (
        "아이디어 보기: 잠재 공간 보간, 순방향 노이즈, 역방향 궤적"
    ),
    "DDIM steps vs DDPM: time per image": "DDIM 스텝 대 DDPM: 이미지당 시간",
    "Evaluate the four (FID, coverage, sharpness; 200 samples each)": (
        "네 모델 평가 (FID, 커버리지, 선명도; 각 200개)"
    ),
    "Pretrained face GAN": "사전 학습된 얼굴 GAN",
    "Faces (64×64)": "얼굴 (64×64)",
    "Recent turns": "최근 대화 통계",
    "Ingestion": "수집 결과",
    "Sources": "출처",
    "Source to remove": "삭제할 출처",
    "Remove": "삭제",
    "Refresh the list": "목록 새로 고침",
    "Search": "검색",
    "Refresh": "새로 고침",
    "Route (model)": "경로 (모델)",
    "Longest reply (tokens)": "최대 답변 길이 (토큰)",
    "Temperature": "온도",
    "Ground answers in the documents": "문서에 근거해 답하기",
    "Expert judge for unsure requests": "애매한 요청은 전문가 모델이 판정",
    "Apply": "적용",
    "Model family": "모델 종류",
    "Re-measure now (quick run, minutes)": "지금 다시 측정 (빠른 실행, 몇 분)",
    "Plots": "그래프",
    "Dataset": "데이터셋",
}
_KO.update(_KO_LABELS)
_EN.update({k: k for k in _KO_LABELS})  # English labels are their own keys
# Labels follow the browser's language (Korean or English).
I18N = gr.I18n(en=_EN, ko=_KO)


def t(key: str) -> Any:
    return I18N(key)


def _safe(fn: Callable[..., Any], outputs: int) -> Callable[..., Any]:
    """A handler whose lmgen errors become a visible one-line message instead of a failed event."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except LmgenError as exc:
            gr.Warning(exc.one_line())
            return tuple(gr.skip() for _ in range(outputs)) if outputs > 1 else gr.skip()

    run.__name__ = getattr(fn, "__name__", "handler")
    return run


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------- n-gram
def ngram_tab() -> None:
    gr.Markdown(
        "Each token coloured by how surprising the n-gram model finds it (log10 p; deeper red = less "
        "likely), with the n-gram order it could use (↩ = backed off) and OOV struck through. The plot "
        "shows perplexity by order: plain counts (MLE) go to infinity as soon as one n-gram was never "
        "seen — sparsity — while smoothing keeps it finite."
    )
    with gr.Row():
        text = gr.Textbox(
            value="To be or not to be, that is the question.",
            label=t("sentence"),
            elem_id="ngram-text",
            scale=4,
        )
        go = gr.Button(t("score"), variant="primary", elem_id="ngram-score", scale=1)
    summary = gr.Markdown(elem_id="ngram-summary")
    heat = gr.HTML(elem_id="ngram-heatmap")
    with gr.Row():
        curve = gr.LinePlot(
            x="order", y="ppl", color="smoothing", title="Perplexity by n-gram order", height=300
        )
        infinite = gr.Dataframe(label=t("MLE: infinite perplexity at"), elem_id="ngram-infinite")
    neural = gr.Markdown(elem_id="ngram-neural")
    with gr.Row():
        korean = gr.Checkbox(label=t("Korean model"), value=False)
        seed = gr.Number(value=0, precision=0, label=t("seed"))
        sample = gr.Button(t("Generate"))
    samples = gr.Textbox(label=t("Sampled sentences"), lines=4, elem_id="ngram-samples")

    def score(sentence: str) -> tuple[Any, ...]:
        view = lab.ngram_view(sentence)
        rows = lab.order_curve(sentence)
        finite = _frame(
            [{**r, "log10_ppl": round(math.log10(r["ppl"]), 3)} for r in rows if not r["infinite"]],
            ["order", "smoothing", "ppl", "log10_ppl"],
        )
        inf = _frame(
            [{"smoothing": r["smoothing"], "order": r["order"]} for r in rows if r["infinite"]],
            ["smoothing", "order"],
        )
        return view["summary"], view["html"], finite, inf

    def gemma(sentence: str) -> str:
        from lmgen.agent.models import neural_perplexity

        out = neural_perplexity(lab._text(sentence, "sentence"))
        return (
            f"Neural LM ({out['model']}): perplexity **{out['ppl']:.2f}** over {out['tokens']} subword "
            f"tokens. {out['note']}."
        )

    go.click(_safe(score, 4), text, [summary, heat, curve, infinite]).then(_safe(gemma, 1), text, neural)
    sample.click(
        _safe(lambda k, s: "\n".join(lab.ngram_samples(k, 3, int(s or 0))), 1), [korean, seed], samples
    )


# --------------------------------------------------------------------------- BERT
def bert_tab() -> None:
    gr.Markdown(
        "BERT reads both sides of a gap; a GPT-style model sees only the words before it. Compare their "
        "candidates, test whether one sentence follows another (NSP), and score sentences by "
        "pseudo-perplexity."
    )
    with gr.Row():
        text = gr.Textbox(
            value="The capital of France is [MASK].",
            label=t("Text with [MASK]"),
            scale=4,
            elem_id="mask-text",
        )
        go = gr.Button(t("Fill"), variant="primary", scale=1, elem_id="mask-fill")
    with gr.Row():
        bert = gr.BarPlot(
            x="token", y="probability", color="mask", title="BERT (both sides)", sort="-y", height=300
        )
        gpt = gr.BarPlot(
            x="token", y="probability", title="GPT-style (left context only)", sort="-y", height=300
        )
    gpt_note = gr.Markdown()
    with gr.Row():
        a = gr.Textbox(value="I lost my keys.", label=t("Sentence A"))
        b = gr.Textbox(value="So I called a locksmith.", label=t("Sentence B"))
        nsp_go = gr.Button(t("Next sentence?"))
    nsp_out = gr.Markdown(elem_id="nsp-result")
    lines = gr.Textbox(
        value="The cat sat on the mat.\nMat the on sat cat the.", lines=3, label=t("Sentences (one per line)")
    )
    pll_go = gr.Button(t("Pseudo-perplexity"))
    pll_out = gr.Dataframe(elem_id="pll-table")
    bias_lang = gr.Radio(["en", "ko"], value="en", label=t("Bias probe templates"))
    bias_go = gr.Button(t("Run the bias probe"))
    bias_plot = gr.BarPlot(x="occupation", y="log_ratio", title="ln P(he)/P(she) per occupation", height=320)

    def fill(sentence: str) -> tuple[Any, ...]:
        rows = lab.mask_rows(sentence)
        return _frame(rows, ["mask", "token", "probability"])

    def left(sentence: str) -> tuple[Any, ...]:
        out = lab.gpt_rows(sentence)
        return _frame(out["rows"], ["token", "probability"]), f"{out['model']} saw only: *{out['prefix']}*"

    def nsp(first: str, second: str) -> str:
        from lmgen.models.mlm.scoring import BertScorer

        r = BertScorer.load().is_next(lab._text(first, "sentence A"), lab._text(second, "sentence B"))
        return f"**{r['label']}** — P(IsNext) = {r['is_next']:.3f}"

    go.click(_safe(fill, 1), text, bert).then(_safe(left, 2), text, [gpt, gpt_note])
    nsp_go.click(_safe(nsp, 1), [a, b], nsp_out)
    pll_go.click(
        _safe(lambda s: _frame(lab.pll_rows(s), ["sentence", "pseudo_perplexity", "pll"]), 1), lines, pll_out
    )
    bias_go.click(
        _safe(lambda lang: _frame(lab.bias_rows(lang), ["occupation", "log_ratio"]), 1), bias_lang, bias_plot
    )


# --------------------------------------------------------------------------- generators
def generators_tab() -> None:
    gr.Markdown(
        "The four families on MNIST (or Fashion-MNIST) with one seed: the autoencoder decodes random "
        "codes (it never learnt a distribution), the VAE is smooth but blurry, the GAN sharp, "
        "diffusion the best and slowest."
    )
    with gr.Row():
        dataset = gr.Radio(
            [("MNIST", "mnist"), ("Fashion-MNIST", "fashion")],
            value="mnist",
            label=t("Dataset"),
            elem_id="gen-dataset",
        )
        seed = gr.Number(value=0, precision=0, label=t("seed"))
        count = gr.Slider(4, 32, value=16, step=4, label=t("Images per model"))
        go = gr.Button(t("Sample all four"), variant="primary", elem_id="gen-sample")
    with gr.Row():
        grids = {
            kind: gr.Image(label=kind.upper(), type="filepath", elem_id=f"grid-{kind}", height=280)
            for kind in lab.FAMILIES
        }
    timing = gr.Markdown()
    with gr.Row():
        digit = gr.Slider(0, 9, value=7, step=1, label=t("Digit"))
        draw = gr.Button(t("Draw this digit (diffusion, class guidance)"))
        drawn = gr.Image(type="filepath", label=t("Drawn"), height=200)
    strips_go = gr.Button(t("Show the ideas: latent interpolation, forward noising, reverse trajectory"))
    strip_images = {
        name: gr.Image(type="filepath", label=name.replace("_", " "))
        for name in ("ae_interpolation", "vae_interpolation", "forward_noising", "reverse_trajectory")
    }
    samplers_go = gr.Button(t("DDIM steps vs DDPM: time per image"))
    samplers = gr.Dataframe()
    sampler_gallery = gr.Gallery(columns=4, height=200)
    eval_go = gr.Button(t("Evaluate the four (FID, coverage, sharpness; 200 samples each)"))
    eval_out = gr.Dataframe()
    faces_go = gr.Button(t("Pretrained face GAN"))
    faces = gr.Image(type="filepath", label=t("Faces (64×64)"))

    def sample(s: float, n: float, data: str) -> tuple[Any, ...]:
        out = lab.side_by_side(int(s or 0), int(n), dataset=data)
        speed = " · ".join(f"{k}: {v['seconds_per_image'] * 1000:.1f} ms/image" for k, v in out.items())
        return (*(out[k]["grid"] for k in lab.FAMILIES), speed)

    def sampler_rows(s: float) -> tuple[Any, ...]:
        rows = lab.sampler_table(int(s or 0))
        table = _frame(
            [{k: v for k, v in r.items() if k != "grid"} for r in rows],
            ["sampler", "steps", "model", "seconds_per_image"],
        )
        return table, [(r["grid"], f"{r['sampler']} {r['steps']}") for r in rows]

    go.click(_safe(sample, 5), [seed, count, dataset], [*grids.values(), timing])
    draw.click(
        _safe(lambda d, s, data: lab.draw_digit(int(d), int(s or 0), dataset=data), 1),
        [digit, seed, dataset],
        drawn,
    )
    strips_go.click(
        _safe(lambda s: tuple(lab.strips(int(s or 0))[k] for k in strip_images), 4),
        seed,
        list(strip_images.values()),
    )
    samplers_go.click(_safe(sampler_rows, 2), seed, [samplers, sampler_gallery])
    eval_go.click(
        _safe(lambda s, data: pd.DataFrame(lab.eval_table(seed=int(s or 0), dataset=data)), 1),
        [seed, dataset],
        eval_out,
    )
    faces_go.click(_safe(lambda s: lab.faces(int(s or 0)), 1), seed, faces)


# --------------------------------------------------------------------------- router
def router_tab() -> None:
    gr.Markdown(
        "Type a request and move the slider: the threshold is chosen so that this share of the labelled "
        "test requests would go to the generalist, and the decision follows it live."
    )
    text = gr.Textbox(value="What is 17 times 23?", label=t("request"), elem_id="router-text")
    share = gr.Slider(0, 1, value=0.35, step=0.05, label=t("share"), elem_id="router-share")
    decision = gr.Markdown(elem_id="router-decision")
    intents = gr.BarPlot(x="intent", y="probability", title="P(intent)", height=260)
    gr.LinePlot(
        value=_frame(lab.quality_cost_rows(), ["router", "generalist_share", "quality"]),
        x="generalist_share",
        y="quality",
        color="router",
        title="Quality vs share sent to the generalist (benchmarks/router.py)",
        height=320,
    )
    stats_go = gr.Button(t("Recent turns"))
    stats = gr.Dataframe()

    def decide(request: str, s: float) -> tuple[Any, ...]:
        view = lab.router_view(request, float(s))
        d = view["decision"]
        text_out = (
            f"**{d['route']}** · intent **{d['intent']}** — P(generalist) {d['p_generalist']:.3f} "
            f"vs threshold {view['threshold']:.3f} ({d['method']}). {d['why']}"
        )
        return text_out, _frame(view["intents"], ["intent", "probability"])

    handler = _safe(decide, 2)
    gr.on([text.change, share.change], handler, [text, share], [decision, intents], show_progress="hidden")
    stats_go.click(lambda: _frame(lab.route_stats(), ["route", "share", "turns", "median_ms"]), None, stats)


# --------------------------------------------------------------------------- documents
def documents_tab() -> None:
    gr.Markdown(
        f"Upload {', '.join(lab.UPLOAD_TYPES)} files (up to {lab.MAX_UPLOAD_BYTES // 2**20} MB each); "
        "they are "
        "copied into lmgen's own upload folder and indexed. Then ask about them in the chat."
    )
    files = gr.File(file_count="multiple", label=t("upload"), elem_id="doc-upload")
    report = gr.JSON(label=t("Ingestion"), elem_id="doc-report")
    sources = gr.Dataframe(
        value=lambda: _frame(lab.source_rows(), ["source", "chunks"]),
        label=t("Sources"),
        elem_id="doc-sources",
    )
    with gr.Row():
        chosen = gr.Dropdown(
            choices=[], label=t("Source to remove"), allow_custom_value=False, elem_id="doc-choice"
        )
        remove = gr.Button(t("Remove"), variant="stop", elem_id="doc-remove")
        refresh = gr.Button(t("Refresh the list"))
    with gr.Row():
        query = gr.Textbox(label=t("query"), value="What is NSP?", scale=4, elem_id="doc-query")
        search = gr.Button(t("Search"), scale=1, elem_id="doc-search")
    with gr.Row():
        results = {mode: gr.Dataframe(label=mode) for mode in ("dense", "bm25", "hybrid")}

    def listing() -> tuple[Any, ...]:
        rows = lab.source_rows()
        return _frame(rows, ["source", "chunks"]), gr.update(choices=[r["source"] for r in rows], value=None)

    def ingest(uploaded: list[Any] | None) -> tuple[Any, ...]:
        pairs = []
        for f in uploaded or []:
            path = getattr(f, "name", None) or str(f)
            original = getattr(f, "orig_name", None) or path.rsplit("/", 1)[-1]
            pairs.append((original, path))
        out = lab.ingest_uploads(pairs)
        for r in out["refused"]:
            gr.Warning(f"refused {r['file']}: {r['error']}")
        return (None, out, *listing())  # emptied, so the next upload brings only its own files

    def drop(source: str) -> tuple[Any, ...]:
        removed = lab.remove_source(source)
        gr.Info(f"removed {removed} chunks of {source}")
        return listing()

    def find(q: str) -> tuple[Any, ...]:
        hits = lab.search_modes(q)
        return tuple(_frame(hits[m], ["score", "source", "heading", "text"]) for m in results)

    files.upload(_safe(ingest, 4), files, [files, report, sources, chosen])
    remove.click(_safe(drop, 2), chosen, [sources, chosen])
    gr.on([search.click, query.submit], _safe(find, 3), query, list(results.values()))
    refresh.click(listing, None, [sources, chosen])


# --------------------------------------------------------------------------- settings
SAFE_SETTINGS = ("max_tokens", "temperature", "generalist_share", "rag", "router_judge")


def settings_tab(live: dict[str, Any]) -> None:
    """Roles, files and settings; the safe ones (reply length, temperature, the router's share, grounding,
    the judge) change the chat's next turns. Models, paths, servers and keys stay as configured."""
    from lmgen.agent.context import Context

    gr.Markdown(
        "What fills each role and how lmgen is configured (environment variables `LMGEN_*`; see the "
        "README's Settings table). Keys are never shown. The settings below apply to the chat's next turns."
    )
    base = Context()
    with gr.Row():
        max_tokens = gr.Slider(16, 1024, value=base.max_tokens, step=16, label=t("Longest reply (tokens)"))
        temperature = gr.Slider(0, 1.5, value=base.temperature, step=0.05, label=t("Temperature"))
        share = gr.Slider(
            0,
            1,
            value=max(base.generalist_share, 0.35),
            step=0.05,
            label=t("share"),
            elem_id="settings-share",
        )
    with gr.Row():
        rag = gr.Checkbox(value=base.rag, label=t("Ground answers in the documents"))
        judge = gr.Checkbox(value=base.router_judge, label=t("Expert judge for unsure requests"))
        apply = gr.Button(t("Apply"), variant="primary", elem_id="settings-apply")
    table = gr.Dataframe(
        value=lambda: _frame(lab.settings_rows(live), ["setting", "value"]), elem_id="settings-table"
    )
    refresh = gr.Button(t("Refresh"))

    def update(tokens: float, temp: float, s: float, grounded: bool, use_judge: bool) -> Any:
        live.update(
            max_tokens=int(tokens),
            temperature=float(temp),
            generalist_share=float(s),
            rag=bool(grounded),
            router_judge=bool(use_judge),
        )
        gr.Info("settings applied to the next chat turns")
        return _frame(lab.settings_rows(live), ["setting", "value"])

    apply.click(update, [max_tokens, temperature, share, rag, judge], table)
    refresh.click(lambda: _frame(lab.settings_rows(live), ["setting", "value"]), None, table)


# --------------------------------------------------------------------------- compression
def compression_tab() -> None:
    gr.Markdown(
        "From LLM to sLM: each row is a compressed variant next to its original — int8 quantization, "
        "magnitude pruning (weights, heads, neurons, channels), a distilled half-size BERT and GGUF "
        "types. Ratios are against the original (size < 1 saves, speed-up > 1 is faster). "
        "`lmgen compress report` re-measures everything; the button runs the quick version."
    )
    family = gr.Radio(
        ["all", "bert", "gan", "gguf"], value="all", label=t("Model family"), elem_id="compress-family"
    )

    def show(which: str, remeasure: bool = False) -> tuple[Any, ...]:
        from PIL import Image

        view = lab.compression_view(which, remeasure)
        images = [Image.open(p).copy() for p in view["plots"]]
        return f"*{view['origin']}*", view["markdown"], images

    # values are callables, so a page load shows the latest report
    origin = gr.Markdown(value=lambda: show("all")[0], elem_id="compress-origin")
    table = gr.Markdown(value=lambda: show("all")[1], elem_id="compress-table")
    plots = gr.Gallery(
        value=lambda: show("all")[2],
        label=t("Plots"),
        columns=3,
        height=320,
        preview=False,
        object_fit="contain",
        elem_id="compress-plots",
    )
    again = gr.Button(t("Re-measure now (quick run, minutes)"))

    handler = _safe(show, 3)
    family.change(handler, family, [origin, table, plots])
    again.click(_safe(lambda which: show(which, True), 3), family, [origin, table, plots])
