SHELL := /bin/bash
# The course in two commands: `make lab` opens it, `make test` checks it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Tests run every notebook at the smallest size; two workers share the two cores.
TEST_ENV := SURVEY_PRESET=smoke MPLBACKEND=Agg OMP_NUM_THREADS=1 PYTHONHASHSEED=0 PYDEVD_DISABLE_FILE_VALIDATION=1
JOBS ?= 2

.PHONY: lab e2e test unit notebooks lint bench book venv clean strip checkpoints

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" ; test $${PIPESTATUS[0]:-0} -eq 0
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(BIN)/python -m survey_lib.tools.install_weights  # LPIPS/VGG16 trunks -> verified safetensors in the venv
	@touch $(STAMP)

venv: $(STAMP)

# Lab starts at the repository root (README.md and data/README.md are in its file browser)
# with the tour open; as root (containers, cloud machines) Jupyter needs --allow-root.
LAB_UID ?= $(shell id -u)
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. --ServerApp.ip=127.0.0.1 \
		$(if $(filter 0,$(LAB_UID)),--allow-root) notebooks/00_tour.ipynb

# A real browser: JupyterLab + headless Chromium run the tour's painter and the loss lab (tests_e2e/).
e2e: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -p no:cacheprovider tests_e2e -q

lint: $(STAMP)
	$(BIN)/ruff check survey_lib tests tests_e2e benchmarks notebooks

test: $(STAMP) lint
	@rc=0; $(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) --dist loadfile \
		--nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		tests notebooks || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): nothing to check"; exit 0; fi; \
	exit $$rc

unit: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) tests

notebooks: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks

# Train the shipped checkpoints into checkpoints/ (resumable: run again to continue).
# `make checkpoints PRESET=gpu` on a GPU; `METHODS="pconv gated"` for some of them.
checkpoints: $(STAMP)
	$(BIN)/python -m survey_lib pretrain $(if $(METHODS),--methods $(METHODS)) $(if $(PRESET),--preset $(PRESET))

# Execute every notebook (or NOTEBOOKS="00_tour 04_losses") at the current preset into build/book,
# timing each: prints and writes build/book/times.md (notebook, preset, wall s, ok/failed, machine, date).
book: $(STAMP)
	$(BIN)/python -m survey_lib.tools.book $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS)) $(if $(TIMEOUT),--timeout $(TIMEOUT))

# Remove outputs and execution counts from the notebooks before committing.
strip: $(STAMP)
	$(BIN)/python -m survey_lib.tools.strip_notebooks notebooks/*.ipynb

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
