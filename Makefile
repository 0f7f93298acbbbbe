# humanparse_d2: `make demo` runs the main job, `make test` runs the tests; both install first.
PY      := .venv/bin/python
STAMP   := .venv/.humanparse_d2_installed
# pytest workers are not used: the suite is sized for 2 cores run serially.
PYTEST_ARGS ?= -q -ra

.PHONY: install demo test test-fast clean-venv bench

install: $(STAMP)

$(STAMP): setup.py scripts/install.sh
	bash scripts/install.sh

demo: $(STAMP)
	$(PY) tools/run_demo.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS) tests

# Only the pure, millisecond tests (metrics, QAM, losses).
test-fast: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS) -m "not slow" tests

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean-venv:
	rm -rf .venv
