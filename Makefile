# Two commands for a learner: `make lab` and `make test`. Each creates or refreshes .venv first,
# and does nothing more when requirements.txt and pyproject.toml have not changed since.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help setup lab test test-colab course doctor anatomy clean
.DEFAULT_GOAL := help

help:
	@echo "make lab     install (first time: ~2 min, 3 GB) and open JupyterLab on the course"
	@echo "make test    install, then run every test and execute every notebook"
	@echo "make course  execute every notebook headless (papermill), with a summary table"
	@echo "make doctor  what is installed and which devices each framework sees"
	@echo "make test-colab  the same tests on Colab's TensorFlow, Keras, NumPy and ipywidgets (.venv-colab)"
	@echo "make test-one-framework  the tests in a torch-only and a TensorFlow-only environment"
	@echo "make test-binder  Binder's environment, built from binder/ alone, and each lesson's memory there"

setup: $(STAMP)

$(STAMP): requirements.txt requirements/*.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; run: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@if $(BIN)/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
		echo "CUDA packages (nvidia-*) were installed: the torch pin must stay the CPU build"; exit 1; fi
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(ROOT_FLAG) notebooks/00_setup/00_setup_pytorch.ipynb

test: setup
	$(BIN)/python -m pytest

course: setup
	$(BIN)/coursekit run notebooks solutions exercises

doctor: setup
	$(BIN)/coursekit doctor

# Colab's versions: requirements-colab.txt replaces the lines of the pin list that name the same
# packages (pip cannot override a pin from a second file), the merged list is resolved as a whole
# into a second venv, and the whole suite runs there. Like $(STAMP): a second run installs nothing.
COLAB_VENV  := .venv-colab
COLAB_BIN   := $(COLAB_VENV)/bin
COLAB_STAMP := $(COLAB_VENV)/.installed
PIN_NAME    := function name(l) { l = tolower(l); sub(/[ \t]*[=<>~!;[].*/, "", l); gsub(/[-_.]+/, "-", l); return l }

$(COLAB_STAMP): requirements/*.txt requirements-colab.txt pyproject.toml
	test -x $(COLAB_BIN)/python || $(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_BIN)/python -m pip install --quiet --upgrade pip
	awk '$(PIN_NAME) NR == FNR { if (!/^[ \t]*(#|$$)/) colab[name($$0)] = 1; next } !(name($$0) in colab)' \
		requirements-colab.txt requirements/*.txt > $(COLAB_VENV)/requirements.txt
	cat requirements-colab.txt >> $(COLAB_VENV)/requirements.txt
	$(COLAB_BIN)/python -m pip install --quiet -r $(COLAB_VENV)/requirements.txt
	$(COLAB_BIN)/python -m pip install --quiet --no-deps -e .
	$(COLAB_BIN)/python -m pip check
	@if $(COLAB_BIN)/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
		echo "CUDA packages (nvidia-*) were installed: the torch pin must stay the CPU build"; exit 1; fi
	touch $(COLAB_STAMP)

# ipywidgets 7 accepts a keyword it does not know (one that only ipywidgets 8 has) with nothing but a
# DeprecationWarning from traitlets, and the control silently lacks it: in this run, tests and the
# notebooks' kernels (which inherit PYTHONWARNINGS) turn that warning into an error.
test-colab: $(COLAB_STAMP)
	@$(COLAB_BIN)/python -m pip list 2>/dev/null | grep -i -E '^(torch|tensorflow|tensorflow.cpu|keras|numpy|ipywidgets|jupyterlab.widgets|widgetsnbextension) '
	PYTHONWARNINGS="error:Passing unrecognized arguments:DeprecationWarning" $(COLAB_BIN)/python -m pytest

anatomy: setup
	$(BIN)/coursekit anatomy --write

clean:
	rm -rf build results

# One framework (README, "Other ways in"): .venv-torch and .venv-tensorflow hold the common pins plus
# one framework's, and coursekit. In each, `coursekit doctor` must name the missing framework and fail,
# and the whole suite must pass with the other framework's notebooks skipped.
ONE_FW := torch tensorflow
.PHONY: test-one-framework $(ONE_FW:%=test-%-only)

test-one-framework: $(ONE_FW:%=test-%-only)

$(ONE_FW:%=.venv-%/.installed): .venv-%/.installed: requirements/common.txt requirements/%.txt pyproject.toml
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -r requirements/common.txt -r requirements/$*.txt
	.venv-$*/bin/python -m pip install --quiet --no-deps -e .
	@if .venv-$*/bin/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
		echo "CUDA packages (nvidia-*) were installed into .venv-$*"; exit 1; fi
	touch $@

$(ONE_FW:%=test-%-only): test-%-only: .venv-%/.installed
	@if .venv-$*/bin/coursekit doctor >/dev/null 2>.venv-$*/doctor.err; then \
		echo "coursekit doctor passed in .venv-$*, which lacks a framework"; exit 1; fi
	@grep '^missing: ' .venv-$*/doctor.err
	.venv-$*/bin/python -m pytest -rs

# Binder: .venv-binder is built from binder/ alone, as repo2docker does (requirements.txt, then
# postBuild, which installs coursekit as a copy: a change under src/ reinstalls it), then its kernels must import coursekit and each framework and
# run every lesson within Binder's memory. Where PyTorch's CPU index is unreachable (offline CI), its
# line is left out and torch==2.13.0+cpu must come from a local wheel (pip's --find-links).
.PHONY: test-binder
test-binder: .venv-binder/.installed
	COURSEKIT_BINDER_ENV=1 .venv-binder/bin/python -m pytest -rsP tests/test_binder.py

.venv-binder/.installed: binder/requirements.txt binder/postBuild pyproject.toml $(wildcard src/coursekit/*.py src/coursekit/*/*.py src/coursekit/*.json)
	test -x .venv-binder/bin/python || $(PYTHON) -m venv .venv-binder
	.venv-binder/bin/python -m pip install --quiet --upgrade pip
	@if .venv-binder/bin/python -c 'import socket; socket.getaddrinfo("download.pytorch.org", 443)' 2>/dev/null; \
	then cp binder/requirements.txt .venv-binder/requirements.txt; \
	else echo "download.pytorch.org is unreachable: installing binder/requirements.txt without its index line"; \
		grep -v '^--extra-index-url' binder/requirements.txt > .venv-binder/requirements.txt; fi
	.venv-binder/bin/python -m pip install --quiet -r .venv-binder/requirements.txt
	PATH="$(CURDIR)/.venv-binder/bin:$$PATH" bash binder/postBuild
	@if .venv-binder/bin/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
		echo "CUDA packages (nvidia-*) were installed into .venv-binder"; exit 1; fi
	touch $@
