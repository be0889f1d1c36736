# The README's two commands: `make demo` and `make test`. Both work from a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# A CPU build of torch lies on this machine's disk; naming the version keeps pip from pulling a
# multi-GB CUDA build.
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install system-deps docker-ready test demo bench clean

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
	$(PY) -m pytest $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/assay demo

bench: install
	$(PY) bench/verify_math.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
