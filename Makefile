# Set-up and entry points. `make study` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

$(BIN)/snakemake: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

.PHONY: setup browser study test ui dry-run report
setup: $(BIN)/snakemake

browser:  ## headless Chromium (Debian package) for the tests of what a user sees: the MLflow UI, the HTML report
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

study: setup  ## the default offline study of config/config.yaml
	$(BIN)/snakemake --cores $(CORES)

report: setup  ## one self-contained HTML page with every table and figure of the finished study
	$(BIN)/snakemake --report results/report.html

dry-run: setup
	$(BIN)/snakemake -n

# Two pytest workers, one test file each at a time (a file's tiny study is built once): the end-to-end studies keep
# both cores busy, but most other tests run one process, which alone would leave a core idle. The slowest files
# start first (tests/conftest.py), so that the workers finish together.
TEST_WORKERS ?= 2
test: setup browser  ## unit tests and end-to-end runs of the real Snakefile on tiny inputs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

ui: setup  ## browse every run; bound to this machine only
	@echo "Open http://127.0.0.1:5000/#/experiments?workflowType=machine_learning (MLflow 3 opens on GenAI pages otherwise)"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000
