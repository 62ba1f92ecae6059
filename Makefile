# Two commands for a learner: `make lab` and `make test`. Each creates or refreshes .venv first,
# and does nothing more when requirements.txt and pyproject.toml have not changed since.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Jupyter refuses to run as root unless told; containers and CI often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help setup lab test course doctor anatomy clean
.DEFAULT_GOAL := help

help:
	@echo "make lab     install (first time: ~2 min, 3 GB) and open JupyterLab on the course"
	@echo "make test    install, then run every test and execute every notebook"
	@echo "make course  execute every notebook headless (papermill), with a summary table"
	@echo "make doctor  what is installed and which devices each framework sees"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
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

anatomy: setup
	$(BIN)/coursekit anatomy --write

clean:
	rm -rf build results
