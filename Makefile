# humanparse_d2: `make demo` runs the main job, `make test` runs the tests; both install first.
PY      := .venv/bin/python
RUFF    := $(PY) -m ruff
STAMP   := .venv/.humanparse_d2_installed
# pytest workers are not used: the suite is sized for 2 cores run serially.
PYTEST_ARGS ?= -q -ra

.PHONY: install demo test test-fast lint format clean-venv bench constraints

install: $(STAMP)

$(STAMP): setup.py scripts/install.sh scripts/constraints.txt
	bash scripts/install.sh

demo: $(STAMP)
	$(PY) tools/run_demo.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS) tests

# Only the tests marked `unit`: pure functions on tiny arrays, milliseconds each (metric core and
# its reference equivalence, QAM, losses, affine/paste geometry, metadata, label and box-file
# readers); no model build, no dataset, no subprocess. The modules: tests/conftest.py:UNIT_MODULES.
test-fast: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS) -m unit tests

# Lint rules and formatter settings: pyproject.toml. Fails on any lint error or unformatted file.
lint: $(STAMP)
	$(RUFF) check .
	$(RUFF) format --check .

# Rewrites files: safe lint fixes (import order, modern type hints), then the formatter.
format: $(STAMP)
	$(RUFF) check --fix .
	$(RUFF) format .

# Rewrites scripts/constraints.txt (its comment header kept) from the versions now in .venv; torch,
# its CUDA wheels and detectron2 stay pinned by install.sh itself.
constraints: $(STAMP)
	{ grep '^#' scripts/constraints.txt; $(PY) -m pip freeze --exclude-editable \
	  | grep -viE '^(nvidia-|cuda-|triton|sal-detectron2|torch==|torchvision==)'; } > scripts/constraints.txt.new
	mv scripts/constraints.txt.new scripts/constraints.txt

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean-venv:
	rm -rf .venv
