"""Engines know nothing of the frameworks: importing lmgen.models loads none of them."""

import json
import subprocess
import sys

FRAMEWORKS = {"langchain", "langchain_core", "langgraph", "gradio", "mcp", "langchain_openai", "openai"}


def test_models_import_no_framework() -> None:
    code = (
        "import json, sys\n"
        "import lmgen, lmgen.models, lmgen.models.llm, lmgen.errors\n"
        "import lmgen.models.mlm.fill_mask, lmgen.models.mlm.scoring, lmgen.models.mlm.pretrain\n"
        "import lmgen.models.mlm.evaluate, lmgen.models.mlm.bias, lmgen.models.mlm.compare\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not (loaded & FRAMEWORKS), f"lmgen.models pulled in {sorted(loaded & FRAMEWORKS)}"
    assert "llama_cpp" not in loaded  # the runtime imports llama.cpp only when a model is loaded


def test_root_package_is_light() -> None:
    code = "import sys, lmgen; print(len([m for m in sys.modules if m.startswith(('torch', 'numpy'))]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
