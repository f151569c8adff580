# callaudit: `make demo` scans the committed fixtures, `make test` runs the tests.
# Both install what they need first (idempotent): Debian's ffmpeg, a .venv, the model.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MODEL  := models/whisper-base/model.bin
OUT    ?= out/demo

.PHONY: install system-deps demo test bench bench-records bench-serve fixtures clean

install: system-deps $(VENV)/.installed $(MODEL)

# Debian packages the tool and its tests call: ffmpeg/ffprobe for decoding and clips;
# chromium and a CJK font to render report.html in the tests (headless screenshot) and to drive
# the review workbench's browser test (Playwright with executable_path, no browser download);
# libopencore-amrnb0 to encode AMR-NB test copies (Debian's ffmpeg only decodes AMR).
system-deps:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null && command -v chromium >/dev/null \
	  && fc-list :lang=zh 2>/dev/null | grep -q . && ldconfig -p | grep -q libopencore-amrnb || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    ffmpeg chromium fonts-noto-cjk libopencore-amrnb0 >/dev/null; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[model,test,bench]'
	touch $@

$(MODEL): $(VENV)/.installed
	$(PY) -m pipeline.core.models

demo: install
	$(PY) -m pipeline scan fixtures/audio --meta fixtures/meta.csv --out $(OUT)
	@echo "report: $(OUT)/report.jsonl"

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/bench.py
	$(PY) bench/records_bench.py
	$(PY) bench/serve_bench.py

# Only the call-detail record benchmark (5 million rows, next to a pandas baseline).
bench-records: install
	$(PY) bench/records_bench.py

# Only the review workbench's load test: 20 concurrent reviewers on loopback, p95 page time.
bench-serve: install
	$(PY) bench/serve_bench.py

# Regenerate the committed fixture audio (needs TensorFlow, kept out of the runtime venv, and sox
# for the customer voice's pitch shift).
fixtures:
	@command -v sox >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq sox >/dev/null; }
	$(PYTHON) -m venv .venv-fixtures
	.venv-fixtures/bin/pip install -q -r fixtures/requirements.txt
	.venv-fixtures/bin/python fixtures/generate.py
	.venv-fixtures/bin/python fixtures/paraphrase.py
	.venv-fixtures/bin/python fixtures/speakers.py
	.venv-fixtures/bin/python fixtures/prohibited.py

clean:
	rm -rf out bench/out .pytest_cache
